"""Colab delivery (issue 13, section 1): one repository URL and one release everywhere.

The sources of truth are ``_config.yml``'s ``repository.url`` and the package version
(``mbdl_teach.__version__``, which the wheel's metadata reads). Every notebook's badge opens
the release tag ``vVERSION`` (so the stored outputs match the code), its install cell
installs that tag and nothing else, then checks the import and the version; the README's
badges agree. ``python tools/course.py repoint`` rewrites them all.
"""
import importlib.util
import json
import re
import shlex
import sys
import types
from pathlib import Path

import pytest
import yaml

import mbdl_teach

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FIX = "run `python tools/course.py repoint` (see the README, 'Releases and forks')"

_spec = importlib.util.spec_from_file_location("course_tool", ROOT / "tools" / "course.py")
course = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(course)


def _src(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _nb(path):
    return json.loads(path.read_text(encoding="utf-8"))


URL = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")
VERSION = course.package_version()
TAG = f"v{VERSION}"


def test_one_version():
    assert mbdl_teach.__version__ == VERSION
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^dynamic\s*=\s*\[[^\]]*"version"', pyproject, re.M), "version must be dynamic"
    assert 'version = { attr = "mbdl_teach.__version__" }' in pyproject
    assert not re.search(r'^version\s*=\s*"', pyproject, re.M), "a second version in pyproject.toml"
    from importlib.metadata import version

    assert version("mbdl-teach") == VERSION, "installed metadata is stale: pip install -e ."


def test_licence_is_spdx():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^license\s*=\s*"MIT"', pyproject, re.M)
    assert re.search(r'^license-files\s*=', pyproject, re.M) and (ROOT / "LICENSE").exists()
    assert re.search(r'setuptools>=(7[7-9]|[89]\d|\d{3})', pyproject)


def test_ipywidgets_range_fits_colab():
    deps = re.search(r"^dependencies = \[(.*?)^\]", (ROOT / "pyproject.toml").read_text(), re.M | re.S).group(1)
    spec = re.search(r'"ipywidgets([^"]*)"', deps).group(1)
    from packaging.specifiers import SpecifierSet

    allowed = SpecifierSet(spec)
    assert "7.7.1" in allowed, f"Colab's ipywidgets 7.7.1 is outside {spec}: a runtime restart"
    assert "8.1.5" in allowed


def test_repoint_check_passes():
    """Badges, install cells and README agree with _config.yml and the version."""
    import subprocess

    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "course.py"), "repoint", "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_badge_opens_the_release(path):
    badges = list(course.BADGE_RE.finditer(_src(_nb(path)["cells"][0])))
    assert len(badges) == 1, "one Colab badge in the first cell"
    m = badges[0]
    assert f"https://github.com/{m['owner']}/{m['repo']}" == URL, f"badge repository != _config.yml: {FIX}"
    assert m["ref"] == TAG, f"badge opens {m['ref']}, the release is {TAG}: {FIX}"
    assert m["name"] == path.name


def _pip_lines(cell_source):
    joined = re.sub(r"\\\n\s*", " ", cell_source)  # IPython joins a line ending in "\\"
    return [line.strip() for line in joined.splitlines() if re.match(r"\s*[%!]\s*pip\b", line)]


def _requirements(pip_line):
    """The requirement strings of a `%pip install ...` line (options dropped)."""
    words = shlex.split(pip_line.lstrip("%!"))
    assert words[:2] == ["pip", "install"], pip_line
    reqs, skip = [], False
    for w in words[2:]:
        if skip:
            skip = False
        elif w.startswith("-"):
            skip = w in ("-r", "-c", "-e", "--index-url", "-i", "--extra-index-url", "-f", "--find-links")
            assert w not in ("-r", "-c", "-e"), f"no requirement or constraint files: {pip_line}"
        else:
            reqs.append(w)
    return reqs


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_install_cell_pins_only_this_package_at_the_release(path):
    cells = _nb(path)["cells"]
    setup = _src(cells[1])
    assert '"google.colab" in sys.modules' in setup
    assert "from mbdl_teach import config" in setup and "cfg = config.setup(seed=0" in setup
    pips = [line for c in cells if c["cell_type"] == "code" for line in _pip_lines(_src(c))]
    assert pips == _pip_lines(setup), "only the set-up cell installs anything"
    reqs = [r for line in pips for r in _requirements(line)]
    extras = _nb(path).get("metadata", {}).get("mbdl", {}).get("extras", [])
    dist = "mbdl-teach" + (f"[{','.join(extras)}]" if extras else "")
    assert reqs == [f"{dist} @ git+{URL}@{TAG}"], f"{reqs}: {FIX}"
    for word in ("torch", "numpy", "=="):
        assert word not in " ".join(reqs), f"the install cell pins {word}"
    assert f'!= "{VERSION}"' in setup, "the install cell checks the version"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_install_cell_is_what_repoint_writes(path):
    nb = _nb(path)
    setup = _src(nb["cells"][1])
    want = course.install_cell(URL, VERSION, course.setup_tail(setup, path.name),
                               course.notebook_extras(nb))
    assert setup == want, FIX


def test_readme_badges_agree():
    readme = (ROOT / "README.md").read_text()
    badges = list(course.BADGE_RE.finditer(readme))
    assert {m["name"] for m in badges} == {p.name for p in NOTEBOOKS}, "one README badge per chapter"
    for m in badges:
        assert f"https://github.com/{m['owner']}/{m['repo']}" == URL and m["ref"] == TAG, FIX
    for cmd in ("tools/course.py repoint", "tools/course.py student", "tools/course.py slides"):
        assert cmd in readme, f"the README names `{cmd}`"


# ----------------------------------------------------------- the install cell on "Colab"
def _run_setup_head(monkeypatch, cell_source, version=None, importable=True):
    """Run the Colab branch of the install cell with a fake Colab and a fake %pip."""
    from IPython.core.inputtransformer2 import TransformerManager

    head = cell_source[: cell_source.index(course.SETUP_TAIL)]
    code = TransformerManager().transform_cell(head)
    pip_calls = []

    class Shell:
        def run_line_magic(self, name, line):
            pip_calls.append((name, line))

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    if not importable:
        monkeypatch.setitem(sys.modules, "mbdl_teach", None)
    if version is not None:
        monkeypatch.setattr(mbdl_teach, "__version__", version)
    exec(compile(code, "<install cell>", "exec"), {"get_ipython": lambda: Shell()})
    return pip_calls


def _cell():
    return course.install_cell(URL, VERSION, "from mbdl_teach import config\ncfg = config.setup(seed=0)\n")


def test_install_cell_installs_the_tag_then_goes_on(monkeypatch):
    calls = _run_setup_head(monkeypatch, _cell())
    assert [(n, " ".join(line.split())) for n, line in calls] == [
        ("pip", f'install -q "mbdl-teach @ git+{URL}@{TAG}"')]


def test_install_cell_stops_when_the_import_fails(monkeypatch):
    with pytest.raises(SystemExit) as err:
        _run_setup_head(monkeypatch, _cell(), importable=False)
    msg = str(err.value)
    assert f"mbdl-teach {VERSION} is needed" in msg and "no package" in msg and "run this cell again" in msg


def test_install_cell_stops_on_the_wrong_version(monkeypatch):
    with pytest.raises(SystemExit) as err:
        _run_setup_head(monkeypatch, _cell(), version="0.0.1")
    assert "found: 0.0.1" in str(err.value) and "Restart session" in str(err.value)


def test_install_cell_keeps_the_setup_arguments():
    tail = "from mbdl_teach import config\ncfg = config.setup(seed=0, threads=1)\nprint(cfg)"
    cell = course.install_cell(URL, VERSION, tail)
    assert cell.endswith(tail) and course.setup_tail(cell, "x") == tail
    assert max(len(line) for line in cell.splitlines()) <= 88  # fits the page


def test_repoint_rewrites_a_fork_and_a_release():
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": [
            "# 00 · x\n", "\n",
            "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            "(https://colab.research.google.com/github/a/b/blob/main/notebooks/00_x.ipynb)"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": 1, "source": [
            "import sys\n", 'if "google.colab" in sys.modules:\n',
            '    %pip install -q "mbdl-teach @ git+https://github.com/a/b"\n',
            "from mbdl_teach import config\n", "cfg = config.setup(seed=0, threads=1)"]},
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    new = course.repoint_notebook(nb, "https://github.com/me/fork", "1.2.3", "v1.2.3", "00_x.ipynb", "t")
    assert "github/me/fork/blob/v1.2.3/notebooks/00_x.ipynb" in _src(new["cells"][0])
    setup = _src(new["cells"][1])
    assert '"mbdl-teach @ git+https://github.com/me/fork@v1.2.3"' in setup
    assert setup.endswith("cfg = config.setup(seed=0, threads=1)")
    assert new["cells"][1]["execution_count"] == 1 and isinstance(new["cells"][1]["source"], list)
    assert course.repoint_notebook(new, "https://github.com/me/fork", "1.2.3", "v1.2.3", "00_x.ipynb", "t") == new
    readme = "[b](https://colab.research.google.com/github/a/b/blob/main/notebooks/00_x.ipynb) https://github.com/a/b."
    out = course.repoint_readme(readme, "https://github.com/me/fork", "v1.2.3", {"https://github.com/a/b"})
    assert out == "[b](https://colab.research.google.com/github/me/fork/blob/v1.2.3/notebooks/00_x.ipynb) https://github.com/me/fork."
