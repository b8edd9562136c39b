"""Lecturer slides (issue 13, section 4): one reveal.js deck per chapter, readable offline.

``python tools/course.py slides`` builds the decks from the notebooks' own cells (their
slide metadata, or the rule of ``tools/course.py`` when a notebook has none) with reveal.js,
MathJax, require.js and jQuery copied beside them. Headless Chromium opens each deck from
disk with every network request sent to a dead proxy, and checks the slide count, that the
images loaded, that the maths rendered and that nothing was fetched from the network.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
_spec = importlib.util.spec_from_file_location("course_tool", ROOT / "tools" / "course.py")
course = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(course)
MIN_SLIDES = 6


def _cell(kind, text, outputs=()):
    cell = {"cell_type": kind, "metadata": {}, "source": text}
    if kind == "code":
        cell.update(outputs=list(outputs), execution_count=1)
    return cell


def test_the_rule_picks_the_lecture():
    png = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo="}, "metadata": {}}
    printed = {"output_type": "stream", "name": "stdout", "text": "PSNR 28.1 dB\n"}
    cells = [
        _cell("markdown", "# 00 · Title\n\nsummary"),
        _cell("code", 'import sys\nif "google.colab" in sys.modules:\n    pass\nfrom mbdl_teach import config'),
        _cell("markdown", "## 1. A question\n\ntext"),
        _cell("markdown", "plain prose"),
        _cell("markdown", "maths $$y = Hx + n$$"),
        _cell("code", "plot()", [png]),
        _cell("code", "x = 1\nassert x > 0\nprint(x)", [printed]),
        _cell("code", "helper = 2"),
        _cell("markdown", "## Exercises\n\n```{exercise} E\n:label: ex-e\nWrite f.\n```"),
        _cell("code", "def f():\n    raise NotImplementedError"),
        _cell("code", "check(f)", [printed]),
        _cell("markdown", "```{solution-start} ex-e\n:class: dropdown\n```"),
        _cell("code", "def f():\n    return 1", [png]),
        _cell("markdown", "```{solution-end}\n```"),
        _cell("markdown", "## Summary\n\n* done"),
    ]
    assert course.slide_type_by_rule(cells) == [
        "slide", "skip", "slide", "skip", "subslide", "subslide", "fragment", "skip",
        "skip", "skip", "skip", "skip", "skip", "skip", "slide"]


def test_metadata_in_the_notebook_wins():
    nb = {"cells": [_cell("markdown", "# T"), _cell("markdown", "## H"), _cell("markdown", "x")], "metadata": {}}
    nb["cells"][2]["metadata"]["slideshow"] = {"slide_type": "slide"}
    got = [c["metadata"].get("slideshow", {}).get("slide_type") for c in course.with_slides(nb)["cells"]]
    assert got == [None, None, "slide"], "a notebook with slide metadata is used as it is"
    plain = {"cells": [_cell("markdown", "# T"), _cell("markdown", "## H")], "metadata": {}}
    assert [c["metadata"]["slideshow"]["slide_type"] for c in course.with_slides(plain)["cells"]] == ["slide", "slide"]


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    if not (ROOT / "_build" / "vendor" / course.REVEAL_NPM).exists() and not shutil.which("npm"):
        msg = "npm is needed once to fetch reveal.js and MathJax (apt-get install npm)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    out = tmp_path_factory.mktemp("slides")
    t = time.time()
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "course.py"), "slides", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(f"decks built in {time.time() - t:.0f} s")
    return out


def test_every_chapter_has_a_deck_and_nothing_remote(decks):
    for nb in NOTEBOOKS:
        html = (decks / f"{nb.stem}.slides.html").read_text()
        for remote in ("unpkg.com", "cdnjs", "cdn.jsdelivr", "mathjax.org", "googleapis"):
            assert remote not in html, f"{nb.stem}: loads something from {remote}"
        assert 'src="lib/require.js"' in html and 'href="reveal.js/dist/reveal.css"' in html
    assert (decks / "reveal.js" / "dist" / "reveal.js").exists() and (decks / "mathjax" / "MathJax.js").exists()
    index = (decks / "index.html").read_text()
    assert all(f"{nb.stem}.slides.html" in index for nb in NOTEBOOKS)


@pytest.fixture(scope="module")
def offline_driver(start_chromium):
    # the network is unreachable: every http(s) request goes to a dead proxy
    drv = start_chromium(("--allow-file-access-from-files", "--proxy-server=http://127.0.0.1:9",
                          "--proxy-bypass-list=<-loopback>"), timeout=120)
    drv.set_window_size(1280, 900)
    yield drv
    drv.quit()


STATE = """
const imgs = Array.from(document.querySelectorAll('.reveal img'));
return {
  ready: !!document.querySelector('.reveal.ready'),
  slides: Array.from(document.querySelectorAll('.reveal .slides section'))
            .filter(s => !s.querySelector('section')).length,
  mathjax: !!(window.MathJax && MathJax.Hub),
  mathjax_busy: !!(window.MathJax && MathJax.Hub && MathJax.Hub.queue && MathJax.Hub.queue.pending),
  maths: document.querySelectorAll('.MathJax_CHTML, .mjx-chtml, .MathJax').length,
  math_errors: document.querySelectorAll('.MathJax_Error, .mjx-merror, merror').length,
  raw_tex: (() => {  // TeX left as text (outside MathJax's own script elements and code)
    const w = document.createTreeWalker(document.querySelector('.reveal .slides'), NodeFilter.SHOW_TEXT);
    let n = 0;
    while (w.nextNode()) {
      const p = w.currentNode.parentElement;
      if (p && !p.closest('script, style, pre, code') && /\$\$|\\begin\{/.test(w.currentNode.nodeValue)) n++;
    }
    return n;
  })(),
  images: imgs.length,
  broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 60)),
  remote: performance.getEntriesByType('resource').map(r => r.name)
            .filter(n => !n.startsWith('file:') && !n.startsWith('data:')),
};
"""


@pytest.mark.browser
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_deck_in_an_offline_browser(decks, offline_driver, nb):
    deck = decks / f"{nb.stem}.slides.html"
    offline_driver.get(deck.as_uri())
    state, t0 = {}, time.time()
    while time.time() - t0 < 90:
        state = offline_driver.execute_script(STATE)
        if state["ready"] and state["mathjax"] and not state["mathjax_busy"] and state["maths"]:
            break
        time.sleep(0.5)
    assert state.get("ready"), f"reveal.js did not start: {state}"
    assert state["slides"] >= MIN_SLIDES, f"only {state['slides']} slides"
    figures = sum("image/png" in o.get("data", {}) for c in course.with_slides(course.load_nb(nb))["cells"]
                  if c["cell_type"] == "code" and c["metadata"]["slideshow"]["slide_type"] != "skip"
                  for o in c.get("outputs", []))
    assert state["images"] >= figures > 0, f"{state['images']} images in the deck, {figures} figures on its slides"
    assert not state["broken"], f"images that did not load: {state['broken']}"
    assert state["mathjax"], "MathJax did not load"
    assert state["maths"] > 0 and not state["math_errors"], f"maths not rendered: {state}"
    assert state["raw_tex"] == 0, "TeX left unrendered on a slide"
    assert not state["remote"], f"requests to the network: {state['remote']}"
