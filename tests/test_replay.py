"""Every printed number must replay on any CPU, not only on the machine that executed it.

Notebooks are executed with one torch thread and replayed by ``pytest --nbval`` with
another count (the root ``conftest.py`` sets ``$MBDL_THREADS`` and the BLAS/OpenMP
variables to ``REPLAY_THREADS`` for the kernels), so torch's parallel reductions and BLAS
kernels sum in another order: a number on a knife edge (an ill-conditioned result printed
to too many digits, an iteration count at a threshold) fails the replay here. That is how
the two failures met on another x86 machine (AVX-512) would have been caught on this one.
This file checks that the arrangement holds.
"""
import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _root_conftest():
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def executed_threads(path: Path) -> int | None:
    """The thread count the notebook asks config.setup for (None: torch's default)."""
    setup = "".join(json.loads(path.read_text())["cells"][1]["source"])
    m = re.search(r"config\.setup\([^)]*threads\s*=\s*(\d+)", setup)
    return int(m.group(1)) if m else None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_executed_with_one_thread(path):
    assert executed_threads(path) == 1, (
        f"{path.name}: call config.setup(seed=0, threads=1) in the set-up cell, so that the "
        "replay with another thread count means something")


def test_nbval_replays_with_another_thread_count():
    replay = _root_conftest().REPLAY_THREADS
    assert int(replay) != 1
    import os

    for var in ("MBDL_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        assert os.environ.get(var) == replay, f"{var} is {os.environ.get(var)!r}, not {replay}"
