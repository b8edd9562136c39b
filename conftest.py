"""Root pytest configuration: notebook kernels inherit these variables.

nbval starts a kernel per notebook from this process's environment, so the quick
profile and the static widgets are forced here for every run of ``pytest``.
"""
import os

os.environ["MBDL_PROFILE"] = "quick"
os.environ["MBDL_STATIC_WIDGETS"] = "1"
