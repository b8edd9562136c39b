"""Shared fixtures for the unit tests."""
import matplotlib
import torch

matplotlib.use("Agg")

import os
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


#: Flags every headless Chromium of the tests starts with.
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync")


@pytest.fixture(scope="session")
def start_chromium():
    """``start_chromium(flags, timeout, logs=False)`` -> a Selenium driver of headless
    Chromium with :data:`CHROMIUM_FLAGS` plus ``flags`` (the caller quits it). Skips, or
    fails under CI, when Chromium or its driver is missing."""
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                    if shutil.which(n)), None)
    chromedriver = shutil.which("chromedriver")
    if not browser or not chromedriver:
        msg = "headless Chromium not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(msg + ": CI must install it")
        pytest.skip(msg)
    webdriver = pytest.importorskip("selenium.webdriver")

    def start(flags, timeout: int, logs: bool = False):
        opts = webdriver.ChromeOptions()
        opts.binary_location = browser
        for flag in (*CHROMIUM_FLAGS, *flags):
            opts.add_argument(flag)
        if logs:
            opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = webdriver.ChromeService(executable_path=chromedriver)
        drv = webdriver.Chrome(options=opts, service=service)
        drv.set_page_load_timeout(timeout)
        return drv

    return start
