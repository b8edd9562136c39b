"""The full profile's code runs: every chapter executed top to bottom with
``MBDL_PROFILE=full`` at smoke scale (``MBDL_SMOKE=1``) on the CPU, and the GPU report built
from those runs (``python tools/course.py gpu-report``, which CI runs this way).

Outputs are not compared, and at smoke scale the chapters' claims (their asserts) are
skipped: the sizes are too small for them. What fails here is a full-profile path that no
longer runs: a cell that raises. The report's table is printed to the terminal.
"""
import importlib.util
import json
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("course_tool", ROOT / "tools" / "course.py")
course = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(course)
NOTEBOOKS = course.notebooks()
#: Chapters whose notebook prints its headline numbers (``config.headline``).
WITH_HEADLINES = [p.stem for p in NOTEBOOKS
                  if "config.headline(" in json.dumps(course.load_nb(p)["cells"])]


@pytest.fixture(scope="module")
def smoke_runs():
    pytest.importorskip("nbclient")
    t0 = time.perf_counter()
    results, device, smoke = course.gpu_report(NOTEBOOKS, smoke=True, jobs=2, timeout=600)
    text = course.report_markdown(results, device, smoke)
    out = ROOT / "_build" / "gpu_report.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    return results, text, time.perf_counter() - t0


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.stem for p in NOTEBOOKS])
def test_the_full_profile_runs_at_smoke_scale(smoke_runs, name):
    r = smoke_runs[0][name]
    assert r["error"] is None, f"{name}, full profile at smoke scale: {r['error']}"


@pytest.mark.slow
def test_the_gpu_report_has_every_chapter_and_its_headlines(smoke_runs, capsys):
    results, text, seconds = smoke_runs
    with capsys.disabled():  # the table in CI's log
        print(f"\n{text}\n(smoke runs: {seconds:.0f} s of wall time, 2 at once)")
    assert "smoke scale" in text and "n/a on CPU" in text
    for p in NOTEBOOKS:
        assert f"| {p.stem} | ok |" in text
    assert WITH_HEADLINES, "no chapter prints headline numbers"
    for name in WITH_HEADLINES:
        r = results[name]
        # the stored quick run and this full run print the same names
        assert r["quick"] and set(r["quick"]) <= set(r["headlines"]), (name, r)
        assert f"## {name}\n\n| number | quick (stored) | full (smoke scale) |" in text


def _tiny_notebook(path, cells):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    return path


def test_a_failing_cell_is_reported_with_its_index_and_headlines_are_read(tmp_path):
    pytest.importorskip("nbclient")
    good = _tiny_notebook(tmp_path / "good.ipynb", [
        "import os\nfrom mbdl_teach import config\ncfg = config.setup(verbose=False)",
        "config.headline(profile=cfg.profile, smoke=int(cfg.smoke), big=1e12)",
        "assert False, 'a claim that tiny sizes cannot carry'"])
    r = course.run_full_profile(good, smoke=True, timeout=120)
    assert r["error"] is None and r["peak_bytes"] is None
    assert r["headlines"] == {"profile": "full", "smoke": 1, "big": 1e12}
    bad = _tiny_notebook(tmp_path / "bad.ipynb", ["x = 1", "raise RuntimeError('broken path')"])
    r = course.run_full_profile(bad, smoke=True, timeout=120)
    assert r["error"] == "cell 1: RuntimeError: broken path"
    text = course.report_markdown({"bad": r}, "the CPU", True)
    assert "| bad | FAILED (cell 1: RuntimeError: broken path) |" in text
    assert "No headline numbers" in text
