"""The student edition (issue 13, section 3): the same book and notebooks, no solutions.

``python tools/course.py student`` writes the student notebooks (gated solution blocks cut,
exercise cells with their starter code) and builds the student book from them. These tests
grep both for every solution's label and code, and check that each student notebook still
runs to its first exercise, whose checker says NOT YET to the starter code.
"""
import html as htmllib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
_spec = importlib.util.spec_from_file_location("course_tool", ROOT / "tools" / "course.py")
course = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(course)
URL = course.repository_url()
MARKERS = ("solution-start", "solution-end", "{solution}")


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _norm(text):
    return "\n".join(line.strip() for line in text.splitlines())


def solutions(nb):
    """[(label, needles)] of every gated solution of a notebook: its distinctive lines and
    its whole code (lines stripped of indentation, as one block).

    A line is distinctive when it is at least 12 characters long and occurs in no cell or
    output outside the solution blocks (so the starter code, the checkers and a printed
    package source that the chapter shows anyway do not count)."""
    blocks = course.solution_blocks(nb)
    inside = {i for a, b in blocks for i in range(a, b + 1)}
    outside = "\n".join(course.source(c) + json.dumps(c.get("outputs", []), ensure_ascii=False)
                        for i, c in enumerate(nb["cells"]) if i not in inside)
    found = []
    for a, b in blocks:
        label = re.search(r"\{solution-start\}\s*(\S+)", course.source(nb["cells"][a])).group(1)
        lines = [line.strip() for i in range(a + 1, b) if nb["cells"][i]["cell_type"] == "code"
                 for line in course.source(nb["cells"][i]).splitlines()]
        block = "\n".join(ln for ln in lines if ln)
        found.append((label, [ln for ln in lines if len(ln) >= 12 and ln not in outside] + [block]))
    return found


def exercise_labels(nb):
    return [m.group(1) for c in nb["cells"] if c["cell_type"] == "markdown"
            for m in re.finditer(r"\{exercise(?:-start)?\}[^\n]*\n:label:\s*(\S+)", course.source(c))]


@pytest.fixture(scope="module")
def student_notebooks():
    return {p.name: course.student_notebook(_load(p), p.name, URL) for p in NOTEBOOKS}


def test_every_chapter_with_exercises_has_gated_solutions():
    for path in NOTEBOOKS:
        nb = _load(path)
        sols = solutions(nb)
        assert len(sols) == len(exercise_labels(nb)), f"{path.name}: one gated solution per exercise"
        for label, needles in sols:
            assert needles[-1].count("\n") >= 1, f"{path.name}: the solution to {label} has no code to look for"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_notebook_has_no_solution(path, student_notebooks):
    nb = student_notebooks[path.name]
    text = _norm("\n".join(course.source(c) for c in nb["cells"]))
    for marker in MARKERS:
        assert marker not in text, f"{marker} left in the student notebook"
    for label, lines in solutions(_load(path)):
        for line in lines:
            assert line not in text, f"solution to {label} leaked: {line}"
        assert f"solution-start}} {label}" not in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_notebook_keeps_exercises_and_starter_code(path, student_notebooks):
    full, student = _load(path), student_notebooks[path.name]
    assert exercise_labels(student) == exercise_labels(full)
    starters = [c for c in full["cells"] if c["cell_type"] == "code" and "NotImplementedError" in course.source(c)]
    kept = [course.source(c) for c in student["cells"]]
    assert starters and all(course.source(c) in kept for c in starters)
    m = course.BADGE_RE.search(course.source(student["cells"][0]))
    assert m and m["ref"] == course.STUDENT_REF and m["name"] == path.name
    assert student["metadata"]["mbdl_edition"]["edition"] == "student"
    # nothing but whole solution blocks (and repeated checkers) is removed
    assert len(student["cells"]) >= len(full["cells"]) - sum(b - a + 2 for a, b in course.solution_blocks(full))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_notebook_equals_the_chapter_up_to_its_first_solution(path, student_notebooks):
    """Up to the first solution the student notebook is the chapter (its title cell aside),
    whose execution nbval replays in every `pytest`: so it runs to its first exercise, and
    the stored output of the first checker says NOT YET."""
    full, student = _load(path), student_notebooks[path.name]
    first = course.solution_blocks(full)[0][0]
    assert [course.source(c) for c in student["cells"][1:first]] == [course.source(c) for c in full["cells"][1:first]]
    checker = student["cells"][first - 1]
    assert checker["cell_type"] == "code" and "exercises.check_" in course.source(checker)
    out = "".join(course.source({"source": o.get("text", "")}) for o in checker.get("outputs", []))
    assert out.startswith("NOT YET"), out


CHEAP = ["00_inverse_problems.ipynb"]  # exercise early in the chapter: executed for real


@pytest.mark.slow
@pytest.mark.parametrize("name", CHEAP)
def test_student_notebook_runs_to_its_first_exercise(name, student_notebooks, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = student_notebooks[name]
    first_checker = next(i for i, c in enumerate(nb["cells"]) if "exercises.check_" in course.source(c))
    nb = dict(nb, cells=nb["cells"][: first_checker + 1])
    node = nbformat.reads(json.dumps(nb), as_version=4)
    nbclient.NotebookClient(node, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = "".join(o.get("text", "") for o in node.cells[-1].outputs)
    print(f"{name}: ran {first_checker + 1} cells; the checker says: {out.strip()}")
    assert out.startswith("NOT YET") and "NotImplementedError" in out, out


# ------------------------------------------------------------------ the student book
@pytest.fixture(scope="module")
def student_html(tmp_path_factory):
    if not course.shutil.which("jupyter-book"):
        pytest.skip("jupyter-book is not installed (pip install -e '.[test]')")
    out = tmp_path_factory.mktemp("student")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "course.py"), "student", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out / "html" / "index.html").exists() and len(list((out / "notebooks").glob("*.ipynb"))) == len(NOTEBOOKS)
    return out


def _page_text(page):
    raw = page.read_text(encoding="utf-8")
    return raw, _norm(htmllib.unescape(re.sub(r"<[^>]+>", "", raw)))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_book_page_has_no_solution(student_html, path):
    raw, text = _page_text(student_html / "html" / "notebooks" / f"{path.stem}.html")
    assert 'class="solution' not in raw and "Solution to" not in text
    for label, lines in solutions(_load(path)):
        for line in lines:
            assert line not in text, f"solution to {label} in the student book: {line}"
    for label in exercise_labels(_load(path)):
        assert f'id="{label}"' in raw, f"exercise {label} missing from the student book"
    assert f"blob/{course.STUDENT_REF}/notebooks/{path.name}" in raw, "launch buttons open the student notebooks"
    for f in (student_html / "notebooks").glob("*.ipynb"):
        assert not any(m in f.read_text() for m in MARKERS)


@pytest.mark.slow
def test_the_grep_would_find_solutions_in_the_full_book(built_book):
    """The same grep on the full book finds every solution: the test above can fail."""
    for path in NOTEBOOKS:
        raw, text = _page_text(built_book / "notebooks" / f"{path.stem}.html")
        for label, lines in solutions(_load(path)):
            assert any(line in text for line in lines), f"{path.name}: {label} not found in the full book"


def test_student_transform_on_a_small_notebook():
    def md(text):
        return {"cell_type": "markdown", "metadata": {}, "source": text}

    def code(text, out="PASS\n"):
        return {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": text,
                "outputs": [{"output_type": "stream", "name": "stdout", "text": out}]}

    badge = "[![Open In Colab](b.svg)](https://colab.research.google.com/github/o/r/blob/v1/notebooks/x.ipynb)"
    nb = {"metadata": {}, "cells": [
        md(f"# T\n\n{badge}"),
        md("```{exercise} A\n:label: ex-a\nWrite f.\n```"),
        code("def f():\n    raise NotImplementedError", out=""),
        code("check(f)", out="NOT YET\n"),
        md("```{solution-start} ex-a\n:class: dropdown\n```\nA hint in the solution."),
        code("def f():\n    return 42"),
        md("```{solution-end}\n```"),
        code("check(f)"),
        md("```{exercise} B\n:label: ex-b\nWrite g.\n```"),
        code("def g():\n    raise NotImplementedError", out=""),
        md("```{solution-start} ex-b\n```"),
        code("def g():\n    return 7"),
        md("```{solution-end}\n```"),
        code("print(g())", out="7\n"),
        md("Text.\n\n:::{solution} ex-b\nProse answer 7.\n:::\n\nMore text."),
    ]}
    out = course.student_notebook(nb, "x.ipynb", "https://github.com/o/r")
    texts = [course.source(c) for c in out["cells"]]
    assert texts[1:5] == [course.source(c) for c in nb["cells"][1:4]] + [course.source(nb["cells"][8])]
    assert "return 42" not in "".join(texts) and "return 7" not in "".join(texts)
    assert "A hint" not in "".join(texts) and "Prose answer" not in "".join(texts)
    assert texts.count("check(f)") == 1, "the repeated checker is dropped"
    kept = out["cells"][texts.index("print(g())")]
    assert kept["outputs"] == [] and kept["execution_count"] is None, "outputs of the solution are cleared"
    assert texts[-1] == "Text.\n\n\nMore text."
    assert "github/o/r/blob/student/notebooks/x.ipynb" in texts[0]
