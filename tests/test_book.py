"""The book builds with warnings as errors; every chapter page has its figures and a Colab
launch link; the references page says where each entry is cited; nothing on any page comes
from another host, and a real browser (headless Chromium) with no network reachable opens
every page and finds its maths typeset by MathJax and its images, the Colab badge
included, loaded."""
import html as htmllib
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
# the chapters in the book (a notebook in preparation is not, until _toc.yml lists it)
NOTEBOOKS = sorted(ROOT / f"{c['file']}.ipynb" for part in TOC.get("parts", [])
                   for c in part.get("chapters", []) if c["file"].startswith("notebooks/"))
CODE_WIDTH = 88  # characters of a code line that fit the page without scrolling
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


def _toc_files():
    files = [TOC["root"]]
    for part in TOC.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    return files


def _source_text(docname):
    """The prose of a page: a Markdown file, or a notebook's Markdown cells."""
    md, nb = ROOT / f"{docname}.md", ROOT / f"{docname}.ipynb"
    if md.exists():
        return md.read_text()
    cells = json.loads(nb.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def _png_count(nb_path):
    nb = json.loads(nb_path.read_text())
    return sum("image/png" in o.get("data", {}) for c in nb["cells"] if c["cell_type"] == "code"
               for o in c.get("outputs", []))


def test_every_toc_page_is_built(built_book):
    for f in _toc_files():
        assert (built_book / f"{f}.html").exists(), f"{f}.html missing"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_page_has_figures_and_colab_link(built_book, nb):
    page = built_book / "notebooks" / f"{nb.stem}.html"
    html = page.read_text()
    images = re.findall(r'<img[^>]+src="(\.\./_images/[^"]+)"', html)
    assert len(images) >= _png_count(nb), f"{len(images)} images on the page, {_png_count(nb)} in the notebook"
    for src in images:
        assert (page.parent / src).resolve().exists(), src
    colab = f"colab.research.google.com/github/mbdl-course/mbdl-teach/blob/main/notebooks/{nb.name}"
    assert colab in html, "no Colab launch link"
    assert "NBVAL" not in re.sub(r"<pre.*?</pre>", "", html, flags=re.S)  # markers only in code
    # the notebook's badge points at colab.research.google.com; the book shows a local copy
    badge = re.search(r'<img alt="Open In Colab" src="([^"]+)"', html)
    assert badge, "no Colab badge on the page"
    assert badge.group(1) == "../_static/colab-badge.svg", badge.group(1)
    assert (page.parent / badge.group(1)).resolve().is_file()


def test_references_page_lists_the_bibliography(built_book):
    html = (built_book / "book" / "references.html").read_text()
    for title in ("WINNet", "Learning fast approximations of sparse coding", "light field microscope"):
        assert title in html


def test_references_page_says_which_pages_cite_each_entry(built_book):
    """Each entry lists exactly the pages whose {cite} roles name it, linked; an entry that
    no page cites is under "Further reading" with no such list."""
    citing = {}
    for doc in _toc_files():
        for keys in CITE.findall(_source_text(doc)):
            for key in keys.split(","):
                citing.setdefault(key.strip(), set()).add(doc)
    bib_keys = re.findall(r"^@\w+\{([^,\s]+),", (ROOT / "book" / "references.bib").read_text(), re.M)
    html = (built_book / "book" / "references.html").read_text()
    further = html.index('id="further-reading"')
    entries = {m.group(1): (m.start(), m.group(2)) for m in re.finditer(
        r'<div class="citation[^"]*\bcite-key-([\w-]+)[^"]*"[^>]*>(.*?)</div>', html, re.S)}
    assert set(entries) == set(bib_keys), "entries on the page differ from references.bib"
    for key in bib_keys:
        where, body = entries[key]
        links = re.findall(r'class="cited-in">(.*?)</p>', body, re.S)
        if key not in citing:
            assert where > further and not links, f"{key}: cited nowhere, not in Further reading"
            continue
        assert where < further, f"{key} is cited in {sorted(citing[key])} but under Further reading"
        assert len(links) == 1, f"{key}: no 'Cited in' list"
        hrefs = re.findall(r'href="([^"#]+)', links[0])
        shown = {str((built_book / "book" / h).resolve().relative_to(built_book))[:-len(".html")]
                 for h in hrefs}
        assert shown == citing[key], f"{key}: page {sorted(shown)}, sources {sorted(citing[key])}"
    assert "Cited in:" in html


def test_intro_links_only_to_chapters_that_exist(built_book):
    """The chapter table links every chapter in the table of contents and says "in
    preparation" for the others (no dead links)."""
    toc = set(_toc_files())
    rows = re.findall(r"^\| *(\[?(\d\d)\]?[^|]*)\|", (ROOT / "book" / "intro.md").read_text(), re.M)
    assert len(rows) >= 7
    for cell, number in rows:
        chapter = [d for d in toc if re.fullmatch(rf"notebooks/{number}_\w+", d)]
        if chapter:
            assert f"(../{chapter[0]}.ipynb)" in cell, f"chapter {number} is not linked: {cell}"
        else:
            assert "in preparation" in cell and "](" not in cell, f"chapter {number}: {cell}"
    page = built_book / "book" / "intro.html"
    for href in re.findall(r'<a class="reference internal" href="([^"#]+)', page.read_text()):
        assert (page.parent / href).resolve().is_file(), f"dead link {href} on the intro page"


def test_notation_page_agrees_with_chapter_06():
    """The Notation page says a sparse code is alpha in the maths, chapter 06 included (its
    code calls the code x, as mbdl_teach.sparse does): chapter 06's maths must not write
    the code as x (y = D x)."""
    notation = (ROOT / "book" / "notation.md").read_text()
    assert r"x \approx D\alpha" in notation and "chapter 06\nincluded" in notation
    prose = _source_text("notebooks/06_lista")
    maths = re.findall(r"\$\$(.+?)\$\$|\$([^$]+)\$", prose, re.S)
    as_x = [a or b for a, b in maths if re.search(r"D\s*x(?![a-z])", a or b)]
    assert not as_x, f"chapter 06 writes the sparse code as x in its maths: {as_x[:3]}"


# ------------------------------------------------------------------ nothing from the network
_REMOTE_IN_HTML = re.compile(
    r"<(?:script|img|iframe|source|audio|video|embed)\b[^>]*\bsrc=[\"']((?:https?:)?//[^\"']+)"
    r"|<link\b(?=[^>]*\brel=[\"'](?:stylesheet|preload|modulepreload|icon|shortcut icon)[\"'])"
    r"[^>]*\bhref=[\"']((?:https?:)?//[^\"']+)",
    re.I,
)
_REMOTE_IN_CSS = re.compile(r"(?:url\(\s*[\"']?|@import\s+[\"'])((?:https?:)?//[^\"')]+)", re.I)


def test_no_page_loads_anything_from_another_host(built_book):
    """Scripts, styles, fonts, images: all from the build (ordinary hyperlinks are fine)."""
    remote = []
    for page in built_book.rglob("*.html"):
        html = page.read_text(errors="replace")
        remote += [f"{page.relative_to(built_book)}: {a or b}"
                   for a, b in _REMOTE_IN_HTML.findall(html)]
    for css in built_book.rglob("*.css"):
        remote += [f"{css.relative_to(built_book)}: {url}"
                   for url in _REMOTE_IN_CSS.findall(css.read_text(errors="replace"))]
    assert not remote, "loaded from another host:\n" + "\n".join(remote)


def test_mathjax_and_its_fonts_are_in_the_build(built_book):
    mathjax = built_book / "_static" / "mathjax"
    fonts = list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert len(fonts) > 10, "MathJax's CHTML fonts are missing from _static/mathjax"
    for f in _toc_files():
        page = built_book / f"{f}.html"
        html = page.read_text()
        if 'class="math' not in html:
            continue
        src = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', html)
        assert src == ["../_static/mathjax/tex-chtml.js"], (f, src)
        assert (page.parent / src[0]).resolve().is_file()


BOOK_PAGES = [f for f in _toc_files() if f.startswith("book/")]


@pytest.mark.parametrize("page", BOOK_PAGES)
def test_code_blocks_in_book_pages_fit_the_page(built_book, page):
    html = (built_book / f"{page}.html").read_text()
    for pre in re.findall(r"<pre[^>]*>(.*?)</pre>", html, re.S):
        for line in htmllib.unescape(re.sub(r"<[^>]+>", "", pre)).splitlines():
            assert len(line) <= CODE_WIDTH, f"{len(line)} characters: {line}"


# ------------------------------------------------------------------ real browser, offline
# Every host name resolves to nothing and every connection goes to a closed local port:
# no fetch from another host can succeed, whatever network the test machine has.
NO_NETWORK = ("--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
              "--proxy-bypass-list=<-loopback>")


@pytest.fixture(scope="module")
def driver(start_chromium):
    # a laptop's window: 88 characters of code must fit the content column at 1280 px
    drv = start_chromium(("--disable-quic", "--window-size=1280,900", *NO_NETWORK), timeout=60,
                         logs=True)
    drv.set_script_timeout(60)
    yield drv
    drv.quit()


@pytest.mark.browser
def test_the_browser_has_no_network(driver, built_book):
    """The premise of the tests below: nothing outside the build can be fetched."""
    driver.get((built_book / "book" / "intro.html").as_uri())
    for url in ("https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js",
                "https://colab.research.google.com/assets/colab-badge.svg", "http://example.com/"):
        result = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0], {mode: 'no-cors', cache: 'no-store'})"
            ".then(() => done('fetched'), e => done('failed: ' + e));", url)
        assert result.startswith("failed"), f"{url} could be fetched: the test is not offline"


# Waits for MathJax's first typesetting and the fonts, then reports what a reader sees.
_INSPECT = """
const done = arguments[arguments.length - 1], t0 = Date.now();
function report(mathjax) {
  const maths = [...document.querySelectorAll('.math')];
  const raw = [], walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const skip = 'pre, code, script, style, textarea, mjx-container';
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    // TeX left as text: \\( \\) \\[ \\] $$ \\begin{, a single $ or a command such as \\frac
    const m = n.textContent.match(/\\\\\\(|\\\\\\)|\\\\\\[|\\\\\\]|\\$|\\\\begin\\{|\\\\[a-zA-Z]{2,}/);
    if (m && !n.parentElement.closest(skip)) raw.push(n.textContent.trim().slice(0, 80));
  }
  done({
    mathjax: mathjax,
    maths: maths.length,
    untypeset: maths.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80)),
    containers: document.querySelectorAll('mjx-container').length,
    errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 80)),
    raw: raw,
    inner: window.innerWidth,
    // blocks of code or output that scroll sideways, display formulas wider than the column
    wide_code: [...document.querySelectorAll('pre')].filter(p => p.scrollWidth > p.clientWidth + 1)
      .map(p => p.textContent.split('\\n').reduce((a, b) => b.length > a.length ? b : a, '').slice(0, 100)),
    wide_maths: [...document.querySelectorAll('mjx-container[display="true"]')]
      .filter(e => e.scrollWidth > e.parentElement.clientWidth + 1)
      .map(e => (e.querySelector('mjx-assistive-mml, math') || e).textContent.slice(0, 80)),
    fonts: [...document.fonts].filter(f => f.family.startsWith('MJX')).map(f => [f.family, f.status]),
    images: [...document.images].map(i => [i.getAttribute('src'), i.src, i.complete, i.naturalWidth]),
  });
}
(function wait() {
  if (!document.querySelector('script[src*="mathjax"]')) {
    report('not on this page');  // Sphinx adds MathJax only to pages with maths
  } else if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => document.fonts.ready)
      .then(() => report('typeset'), e => report('failed: ' + e));
  } else if (Date.now() - t0 > 20000) {
    report('not loaded');
  } else {
    setTimeout(wait, 50);
  }
})();
"""

PAGES = ["index", "book/intro", "book/setup", "book/notation", "book/references"] + [
    f"notebooks/{nb.stem}" for nb in NOTEBOOKS]


@pytest.mark.browser
@pytest.mark.parametrize("page", PAGES)
def test_page_offline_in_a_real_browser(driver, built_book, page):
    """Opened from the files (a downloaded copy of the book) with no network, in a 1280 px
    window: every formula typeset by MathJax, its fonts loaded, no raw TeX left in the text
    (not even a single ``$``), no code or output block that scrolls sideways and no display
    formula wider than the column, every image loaded (the Colab badge included), no error
    in the console."""
    driver.get_log("browser")  # drop anything left from the previous page
    driver.get((built_book / f"{page}.html").as_uri())
    if page == "index":  # a redirect to the introduction: wait until it has been followed
        from selenium.webdriver.support.ui import WebDriverWait
        WebDriverWait(driver, 30).until(lambda d: d.current_url.endswith("/book/intro.html")
                                        and d.execute_script("return document.readyState") == "complete")
    title = driver.title
    assert "Model-Based Deep Learning" in title, title
    if page.startswith("notebooks/"):
        nb = page.split("/")[1]
        heading = json.loads((ROOT / "notebooks" / f"{nb}.ipynb").read_text())["cells"][0]["source"]
        chapter = "".join(heading).splitlines()[0].lstrip("# ").split("·")[-1].strip()
        assert chapter.split()[0] in title, (chapter, title)
    seen = driver.execute_async_script(_INSPECT)

    shown = "book/intro" if page == "index" else page
    has_maths = 'class="math' in (built_book / f"{shown}.html").read_text()
    if has_maths or shown in ("book/intro", "book/notation") or page.startswith("notebooks/"):
        assert seen["mathjax"] == "typeset", f"MathJax {seen['mathjax']}"
        assert seen["maths"] > 0 and seen["containers"] >= seen["maths"], seen
        assert not seen["untypeset"], f"formulas MathJax did not typeset: {seen['untypeset']}"
        assert not seen["errors"], f"TeX errors: {seen['errors']}"
        status = dict(seen["fonts"])
        assert "loaded" in status.values(), f"no MathJax font loaded: {seen['fonts']}"
        assert "error" not in status.values(), f"MathJax fonts that failed: {seen['fonts']}"
    if page == "book/notation":
        assert seen["maths"] >= 20, seen["maths"]
    assert not seen["raw"], f"raw TeX in the text: {seen['raw']}"
    assert seen["inner"] <= 1280, seen["inner"]  # measured in a laptop's window
    assert not seen["wide_code"], f"code or output that scrolls sideways at 1280 px: {seen['wide_code']}"
    assert not seen["wide_maths"], f"display formulas wider than the column: {seen['wide_maths']}"

    broken = [src for src, url, complete, width in seen["images"] if not (complete and width > 0)]
    assert not broken, f"images that did not load: {broken}"
    assert all(url.startswith("file://") for _, url, _, _ in seen["images"])
    if page.startswith("notebooks/"):
        badges = [im for im in seen["images"] if im[0].endswith("colab-badge.svg")]
        assert len(badges) == 1 and badges[0][3] > 0, f"Colab badge: {badges}"
        assert len(seen["images"]) >= 2

    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"console errors (a failed fetch included): {errors}"
