"""Root pytest configuration: notebook kernels inherit these variables.

nbval starts a kernel per notebook from this process's environment, so the quick
profile and the static widgets are forced here for every run of ``pytest``.

Replaying with another thread count: every notebook is executed with one torch thread
(``config.setup(seed=0, threads=1)``), and nbval replays it with ``REPLAY_THREADS`` (torch
through ``$MBDL_THREADS``, which ``config.setup`` obeys, and BLAS/OpenMP through their own
variables). Reductions then sum in another order, so a printed number that sits on a knife
edge fails the replay on this machine instead of on a learner's.
"""
import os

REPLAY_THREADS = "2"

os.environ["MBDL_PROFILE"] = "quick"
os.environ["MBDL_STATIC_WIDGETS"] = "1"
for _var in ("MBDL_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, REPLAY_THREADS)
