"""The book builds with warnings as errors and every chapter page has its figures and a
Colab launch link; a real browser (headless Chromium) opens every page."""
import functools
import http.server
import json
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    return files


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


def test_references_page_lists_the_bibliography(built_book):
    html = (built_book / "book" / "references.html").read_text()
    for title in ("WINNet", "Learning fast approximations of sparse coding", "light field microscope"):
        assert title in html


# ------------------------------------------------------------------ real browser
def _browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def driver():
    browser, chromedriver = _browser(), shutil.which("chromedriver")
    if not browser or not chromedriver:
        msg = "headless Chromium not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(msg + ": CI must install it")
        pytest.skip(msg)
    webdriver = pytest.importorskip("selenium.webdriver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync", "--disable-quic"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=chromedriver))
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


@pytest.fixture(scope="module")
def server(built_book):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _is_offline_fetch(message, base):
    """A failed load of a resource from outside this machine (CDN fonts, MathJax, badges).

    The test machine has no internet; such failures are not JavaScript errors."""
    urls = re.findall(r"https?://[^\s\"']+", message)
    return bool(urls) and all(not u.startswith(base) for u in urls) and (
        "net::ERR_" in message or "Failed to load resource" in message
    )


PAGES = ["index", "book/intro", "book/setup", "book/references"] + [f"notebooks/{nb.stem}" for nb in NOTEBOOKS]


@pytest.mark.browser
@pytest.mark.parametrize("page", PAGES)
def test_page_in_a_real_browser(driver, server, page):
    driver.get_log("browser")  # drop anything left from the previous page
    driver.get(f"{server}/{page}.html")
    title = driver.title
    assert "Model-Based Deep Learning" in title, title
    if page.startswith("notebooks/"):
        nb = page.split("/")[1]
        heading = json.loads((ROOT / "notebooks" / f"{nb}.ipynb").read_text())["cells"][0]["source"]
        chapter = "".join(heading).splitlines()[0].lstrip("# ").split("·")[-1].strip()
        assert chapter.split()[0] in title, (chapter, title)
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth]);"
    )
    local = [im for im in images if im[0].startswith(server)]
    broken = [im[0] for im in local if not (im[1] and im[2] > 0)]
    assert not broken, f"images that did not load: {broken}"
    if page.startswith("notebooks/"):
        assert len(local) >= 1
    errors = [
        e["message"] for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and not _is_offline_fetch(e["message"], server)
    ]
    assert not errors, f"JavaScript console errors: {errors}"
