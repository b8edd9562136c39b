"""A learner's fresh install (issue 13, section 2): the wheel in a bare venv, away from the repo.

Builds the wheel, installs it into a new virtual environment that holds only Python,
PyTorch (the same version as here, from the configured index) and ipykernel, as Colab has,
with the package's other dependencies from the registry; copies two chapters (00, and 04,
which loads the shipped weights) into temporary folders and runs them top to bottom, at the
same time, with nbclient in that environment's kernels (quick profile, static widgets). An audit hook in the
kernel records every file the notebook opens or lists inside the repository: there must be
none, so nothing is read from a clone that a learner would not have.

Slow (a few minutes: the venv, the dependencies, two notebooks); part of the default
``pytest`` and so of ``.ci/run``. The timings go to ``_build/fresh_install.json``.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# chapter 00, and 04, which loads the shipped weights (MBDL_FRESH_INSTALL_CHAPTERS overrides)
CHAPTERS = os.environ.get("MBDL_FRESH_INSTALL_CHAPTERS", "00_inverse_problems.ipynb 04_winnet.ipynb").split()
pytestmark = pytest.mark.slow
TIMES: dict[str, float] = {}


def _run(cmd, timeout=900, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "CONDA"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _tracked(where):
    """Tracked files under ``where`` (work-tree versions), or [] outside a git checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", where], cwd=ROOT, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return []
    return [f for f in out.stdout.split("\0") if f and (ROOT / f).exists()] if out.returncode == 0 else []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    t = time.time()
    # build from a copy of the tracked files (as a release would), so that nothing untracked
    # or left in build/ by an earlier build slips into the wheel
    src = tmp_path_factory.mktemp("src")
    for rel in _tracked(".") or ["pyproject.toml", "README.md", "LICENSE", "mbdl_teach"]:
        path = ROOT / rel
        if path.is_dir():
            shutil.copytree(path, src / rel, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.exists():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / rel)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(src)], env=_clean_env())
    (whl,) = dist.glob("mbdl_teach-*.whl")
    TIMES["wheel_build_s"] = round(time.time() - t, 1)
    return whl


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel):
    """A venv with only Python, torch and ipykernel, then the wheel; returns its python."""
    import torch

    t = time.time()
    root = tmp_path_factory.mktemp("venv") / "env"
    _run([sys.executable, "-m", "venv", str(root)])
    py = root / "bin" / "python"
    torch_version = torch.__version__.split("+")[0]
    _run([str(py), "-m", "pip", "install", "-q", "--no-compile", f"torch=={torch_version}", "ipykernel"], env=_clean_env())
    TIMES["venv_torch_s"] = round(time.time() - t, 1)
    before = json.loads(_run([str(py), "-m", "pip", "list", "--format=json"], env=_clean_env()))
    before = {p["name"].lower(): p["version"] for p in before}
    assert "numpy" not in before and "mbdl-teach" not in before, "the venv is not bare"
    t = time.time()
    out = _run([str(py), "-m", "pip", "install", "--no-compile", str(wheel)], env=_clean_env())
    TIMES["wheel_install_s"] = round(time.time() - t, 1)
    after = json.loads(_run([str(py), "-m", "pip", "list", "--format=json"], env=_clean_env()))
    after = {p["name"].lower(): p["version"] for p in after}
    # installing the package must not replace what the environment (Colab) already has
    changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
    assert not changed, f"installing mbdl-teach changed the environment's packages: {changed}\n{out[-2000:]}"
    return py


def test_wheel_carries_the_package_and_its_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = _tracked("mbdl_teach")
    if not tracked:  # not a git checkout: take the folder
        tracked = [str(p.relative_to(ROOT)) for p in (ROOT / "mbdl_teach").rglob("*") if p.is_file()
                   and "__pycache__" not in p.parts]
    wanted = {f for f in tracked if not f.endswith(".resume.pt")}
    missing = sorted(wanted - names)
    assert not missing, f"tracked files missing from the wheel (package-data in pyproject.toml): {missing}"
    assert not [n for n in names if n.endswith(".resume.pt")], "resume checkpoints belong to the repository"
    assert any(n.endswith("weights/manifest.json") for n in names)
    assert wheel.stat().st_size < 5 * 1024 * 1024, f"the wheel is {wheel.stat().st_size / 1e6:.1f} MB"
    TIMES["wheel_bytes"] = wheel.stat().st_size


def test_venv_has_the_wheel_not_the_repository(venv):
    out = _run([str(venv), "-c", "import mbdl_teach, torch; print(mbdl_teach.__file__); print(torch.__version__)"],
               cwd=venv.parent, env=_clean_env())
    path = out.splitlines()[0]
    assert str(ROOT) not in path and "site-packages" in path, path


HOOK = """\
import os as _os, sys as _sys
_REPO = {root!r}
_touched = []
def _audit(event, args, _repo=_REPO, _touched=_touched):
    if event in ("open", "os.listdir", "os.scandir") and args and args[0] is not None:
        try:
            p = _os.path.abspath(_os.fsdecode(args[0]))
        except (TypeError, ValueError):
            return
        if p == _repo or p.startswith(_repo + _os.sep):
            _touched.append(p)
_sys.addaudithook(_audit)
"""
REPORT = """\
import json as _json, mbdl_teach as _m
print("FRESH-INSTALL " + _json.dumps({"touched": sorted(set(_touched)), "file": _m.__file__,
      "version": _m.__version__, "cwd": _os.getcwd()}))
"""


RUNNER = """\
import sys, nbformat, nbclient
path, work, kernel = sys.argv[1:4]
nb = nbformat.read(path, as_version=4)
client = nbclient.NotebookClient(nb, kernel_name=kernel, timeout=1200, resources={"metadata": {"path": work}})
try:
    client.execute()
finally:
    nbformat.write(nb, path)
"""


@pytest.fixture(scope="module")
def runs(venv, tmp_path_factory):
    """Run the chapters at the same time (one kernel each), each in its own learner folder."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    tmp = tmp_path_factory.mktemp("learners")
    # a kernel of the fresh venv: quick profile, static widgets, nothing of this process's paths
    spec_dir = tmp / "jupyter" / "kernels" / "mbdl-fresh"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(venv), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fresh venv", "language": "python",
        "env": {"MBDL_PROFILE": "quick", "MBDL_STATIC_WIDGETS": "1", "PYTHONPATH": "", "PYTHONNOUSERSITE": "1",
                "MPLBACKEND": "module://matplotlib_inline.backend_inline"},
    }))
    env = {**os.environ, "JUPYTER_PATH": str(tmp / "jupyter")}
    env.pop("PYTHONPATH", None)
    procs = {}
    for chapter in CHAPTERS:
        work = tmp / chapter.split("_")[0]
        work.mkdir()
        nb = nbformat.read(ROOT / "notebooks" / chapter, as_version=4)
        nb.cells.insert(0, nbformat.v4.new_code_cell(HOOK.format(root=str(ROOT))))
        nb.cells.append(nbformat.v4.new_code_cell(REPORT))
        nbformat.write(nb, work / chapter)
        procs[chapter] = (work, time.time(), subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(work / chapter), str(work), "mbdl-fresh"],
            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = {}
    for chapter, (work, t, proc) in procs.items():
        try:
            out, err = proc.communicate(timeout=1800)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        TIMES[f"run_{chapter}_s"] = round(time.time() - t, 1)
        results[chapter] = (proc.returncode, err, nbformat.read(work / chapter, as_version=4), work)
    return results


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_from_the_wheel_away_from_the_repository(runs, chapter):
    code, err, nb, work = runs[chapter]
    assert code == 0, f"{chapter} failed in the fresh install:\n{err[-4000:]}"
    report = [line for o in nb.cells[-1].outputs for line in o.get("text", "").splitlines()
              if line.startswith("FRESH-INSTALL ")]
    assert report, "the report cell printed nothing"
    info = json.loads(report[0][len("FRESH-INSTALL "):])
    assert info["touched"] == [], f"{chapter} read files of the repository: {info['touched'][:10]}"
    assert str(ROOT) not in info["file"], info["file"]
    assert Path(info["cwd"]).resolve() == work.resolve()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def test_zz_record_times(wheel):
    """Not a check: writes the measured times of this module to _build/fresh_install.json."""
    out = ROOT / "_build"
    out.mkdir(exist_ok=True)
    (out / "fresh_install.json").write_text(json.dumps(TIMES, indent=1) + "\n")
    print("fresh install:", TIMES)
