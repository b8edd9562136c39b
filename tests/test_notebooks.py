"""Notebook hygiene: every chapter is in the book, executed top to bottom, error-free, small.

(`pytest` also replays every notebook with nbval; this file checks how they were stored.)
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_BYTES = 3 * 1024 * 1024


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell):
    return "".join(cell.get("source", ""))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_in_the_toc(path):
    toc = (ROOT / "_toc.yml").read_text()
    assert re.search(rf"file:\s*notebooks/{re.escape(path.stem)}\s*$", toc, re.M), f"{path.name} not in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_was_run_top_to_bottom_without_errors(path):
    nb = _load(path)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), f"execution counts {counts}: restart and run all"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"error outputs: {[e.get('ename') for e in errors]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_starts_with_title_badge_and_setup(path):
    nb = _load(path)
    first, second = nb["cells"][0], nb["cells"][1]
    assert first["cell_type"] == "markdown" and _source(first).startswith("# ")
    assert "colab.research.google.com/github/" in _source(first) and path.name in _source(first)
    assert second["cell_type"] == "code"
    src = _source(second)
    assert '"google.colab" in sys.modules' in src and "config.setup(" in src


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_small_and_has_figures(path):
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size / 1e6:.1f} MB"
    nb = _load(path)
    pngs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})]
    assert pngs, "a chapter without a single figure"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_stored_quick_profile(path):
    nb = _load(path)
    setup_out = "".join(
        "".join(o.get("text", "")) for o in nb["cells"][1].get("outputs", [])
    )
    assert "profile=quick" in setup_out, "commit notebooks executed with MBDL_PROFILE=quick"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_lines_fit_the_page(path):
    """Every code line a reader can see (hidden inputs unfold) fits 88 characters: the
    code column of a 1280 px window (the browser test measures the page itself)."""
    long = [(i, line) for i, cell in enumerate(_load(path)["cells"])
            if cell["cell_type"] == "code"
            and "remove-cell" not in cell.get("metadata", {}).get("tags", [])
            for line in _source(cell).splitlines() if len(line) > 88]
    assert not long, f"code lines over 88 characters: {long}"
