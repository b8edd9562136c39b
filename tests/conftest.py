"""Shared fixtures for the unit tests."""
import matplotlib
import torch

matplotlib.use("Agg")

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """Build the book once per session into a temporary folder, warnings as errors."""
    if shutil.which("jupyter-book") is None:
        pytest.skip("jupyter-book is not installed (pip install -e '.[test]')")
    out = tmp_path_factory.mktemp("book")
    proc = subprocess.run(
        ["jupyter-book", "build", str(ROOT), "--path-output", str(out), "--warningiserror", "--keep-going"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"book build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    html = out / "_build" / "html"
    assert (html / "index.html").exists()
    return html


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The unit tests use small tensors: one torch thread is fastest for them, and does not
    stall when another job holds the second core of a shared machine (restored after)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
