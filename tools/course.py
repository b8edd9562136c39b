#!/usr/bin/env python
"""Delivery commands of the course: one source, three audiences.

    python tools/course.py repoint [--url URL] [--release vX.Y.Z]   # Colab badges + install cells
    python tools/course.py student [--no-book] [--no-notebooks]     # the student edition
    python tools/course.py slides  [--write-metadata]               # one reveal.js deck per chapter
    python tools/course.py gpu-report [--smoke] [--jobs N] [--out F] # every chapter's full profile

Sources of truth
  * the repository: ``repository.url`` in ``_config.yml``;
  * the release: the package version, ``__version__`` in ``mbdl_teach/__init__.py`` (the
    wheel's version is read from there, see ``pyproject.toml``); its git tag is ``vVERSION``.

``repoint`` rewrites from these two every notebook's Colab badge (first cell), its install
cell (second cell) and the README's badges; with ``--url``/``--release`` it first writes the
new values into ``_config.yml``/``mbdl_teach/__init__.py``. ``--check`` writes nothing and
exits 1 if anything disagrees (``tests/test_delivery.py`` runs it).

``student`` builds the book from its sources with the student notebooks in place of the
chapters (and sphinx-exercise's ``hide_solutions``) into ``_build/student/html`` and writes the student notebooks into
``_build/student/notebooks`` (generated, never edited by hand: the gated solution blocks are
cut, the exercise cells keep their starter code). Their badges open them on the branch
``student`` of the repository; ``--commit-branch`` records them as a commit on that local
branch (without touching the work tree) for ``git push origin student``.

``slides`` builds ``_build/slides/NN_topic.slides.html`` (reveal.js, readable offline: reveal.js
and MathJax are copied beside the decks from the npm registry's ``reveal.js`` and
``mathjax@2`` packages, cached in ``_build/vendor``) and an index page; if the book was built
it copies them into ``_build/html/slides`` too. Which cells become slides: a notebook whose
cells carry ``metadata.slideshow.slide_type`` uses that metadata as it is; a notebook without
any uses the rule in :func:`slide_type_by_rule` (headings start a slide, display maths and
figures are sub-slides, a claim cell, code with an ``assert`` that prints its number, is a
fragment; the set-up, exercises and solutions are skipped). ``--write-metadata`` writes the
rule's metadata into notebooks that have none, so authors can edit it from there.

``gpu-report`` executes every chapter top to bottom with ``MBDL_PROFILE=full`` in a fresh
kernel (a copy; the notebooks are not touched) on the device there is: CUDA when present,
else the CPU, where it runs at smoke scale (``MBDL_SMOKE=1``, also asked for by
``--smoke``): the full profile's code at tiny sizes, a check that it runs, whose numbers
are not the papers'. It writes one markdown report (default ``_build/gpu_report.md``, also
printed): per chapter the wall time, the peak GPU memory (``n/a on CPU``) and the headline
numbers, those a chapter prints with ``config.headline(...)`` in a hidden cell, beside the
stored quick-profile ones. It exits 1 when a chapter fails (the failing cell is named). At
smoke scale the kernels run with ``PYTHONOPTIMIZE=1``: the chapters' claims (their
``assert`` lines) need the real sizes, so a smoke run checks that the code runs, not them.
"""
from __future__ import annotations

import argparse
import copy
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
INIT = ROOT / "mbdl_teach" / "__init__.py"
CONFIG = ROOT / "_config.yml"
README = ROOT / "README.md"
DIST = "mbdl-teach"  # the distribution name on the install line
STUDENT_REF = "student"  # the branch that holds the student notebooks
REVEAL_NPM = "reveal.js@4.6.1"
MATHJAX_NPM = "mathjax@2.7.7"  # nbconvert's slides template speaks the MathJax 2 API
REQUIRE_NPM = "requirejs@2.3.7"  # the template loads reveal.js with require.js ...
JQUERY_NPM = "jquery@3.7.1"  # ... and sizes scrolling slides with jQuery

BADGE_RE = re.compile(
    r"https://colab\.research\.google\.com/github/(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+)"
    r"/blob/(?P<ref>[^/\s)]+)/notebooks/(?P<name>[\w.-]+\.ipynb)"
)
SETUP_TAIL = "from mbdl_teach import config"


# --------------------------------------------------------------------------- sources
def notebooks() -> list[Path]:
    """The chapters' notebooks, in order."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def load_nb(path: Path) -> dict:
    """A notebook as JSON."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def dump_nb(nb: dict) -> str:
    """A notebook as the text the repository stores (indent 1, UTF-8, final newline)."""
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def source(cell: dict) -> str:
    """A cell's source as one string (stored as a string or a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def set_source(cell: dict, text: str) -> None:
    """Replace a cell's source, in the form (string or lines) it was stored in."""
    lines = text.splitlines(keepends=True)
    cell["source"] = lines if isinstance(cell.get("source"), list) else text


def package_version() -> str:
    """The package version, read from ``mbdl_teach/__init__.py``."""
    m = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', INIT.read_text(), re.M)
    if not m:
        raise SystemExit(f"no __version__ = '...' line in {INIT}")
    return m.group(1)


def repository_url() -> str:
    """The repository URL of ``_config.yml`` (``repository.url``)."""
    import yaml

    cfg = yaml.safe_load(CONFIG.read_text())
    url = (cfg.get("repository") or {}).get("url")
    if not url:
        raise SystemExit(f"{CONFIG.name} has no repository.url")
    return normalise_url(url)


def normalise_url(url: str) -> str:
    """A repository URL without a trailing slash or ``.git``."""
    url = url.strip().rstrip("/")
    return url[:-4] if url.endswith(".git") else url


def github_slug(url: str) -> str:
    """``owner/name`` of a GitHub URL (Colab opens notebooks from GitHub only)."""
    m = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+)", url)
    if not m:
        raise SystemExit(f"Colab opens notebooks from GitHub: expected https://github.com/OWNER/REPO, got {url}")
    return f"{m.group(1)}/{m.group(2)}"


def badge_url(url: str, ref: str, name: str) -> str:
    """The Colab link of notebook ``name`` at git ref ``ref`` of the repository."""
    return f"https://colab.research.google.com/github/{github_slug(url)}/blob/{ref}/notebooks/{name}"


def notebook_extras(nb: dict) -> list[str]:
    """The package extras a chapter needs on Colab (``metadata.mbdl.extras``, e.g. ``["xrf"]``).

    Heavy optional dependencies (PyMca, which compiles ``fisx`` from source where no wheel
    exists) are installed only by the chapters that use them."""
    extras = nb.get("metadata", {}).get("mbdl", {}).get("extras", [])
    if not all(isinstance(e, str) and re.fullmatch(r"[a-z0-9_-]+", e) for e in extras):
        raise SystemExit(f"metadata.mbdl.extras must be a list of extra names, got {extras!r}")
    return list(extras)


def requirement(url: str, version: str, extras: list[str] | tuple = ()) -> str:
    """``mbdl-teach[extras] @ git+URL@vVERSION``."""
    extra = f"[{','.join(extras)}]" if extras else ""
    return f"{DIST}{extra} @ git+{url}@v{version}"


def install_cell(url: str, version: str, tail: str, extras: list[str] | tuple = ()) -> str:
    """The set-up cell: on Colab install the tagged release, check it, stop clearly if not.

    ``%pip`` reports a failed install but does not stop the cell, so the import and the
    version are checked afterwards. Nothing but this package is pinned. The ``%pip`` line is
    continued with a backslash (IPython joins it), so that no line is over 88 characters."""
    head = f'''# Set-up. On Colab: install this book's release of the course package
# (nothing else is pinned).
import sys
if "google.colab" in sys.modules:
    %pip install -q \\
        "{requirement(url, version, extras)}"
    try:
        import mbdl_teach
        found = mbdl_teach.__version__
    except ImportError as err:
        found = f"no package ({{err}})"
    if found != "{version}":
        raise SystemExit(f"mbdl-teach {version} is needed, found: {{found}}. Read "
                         "pip's message above, then Runtime > Restart session and "
                         "run this cell again.")
'''
    return head + tail


def setup_tail(cell_source: str, where: str) -> str:
    """The set-up cell's text from its ``config.setup`` line on (kept on re-pointing)."""
    i = cell_source.find(SETUP_TAIL)
    if i < 0:
        raise SystemExit(f"{where}: the set-up cell has no '{SETUP_TAIL}' line")
    return cell_source[i:]


# --------------------------------------------------------------------------- repoint
def repoint_notebook(nb: dict, url: str, version: str, ref: str, name: str, where: str) -> dict:
    """A copy of ``nb`` whose badge and install cell point at ``url`` and ``ref``."""
    nb = copy.deepcopy(nb)
    first, second = nb["cells"][0], nb["cells"][1]
    if first["cell_type"] != "markdown" or not BADGE_RE.search(source(first)):
        raise SystemExit(f"{where}: the first cell has no Colab badge")
    set_source(first, BADGE_RE.sub(lambda m: badge_url(url, ref, name), source(first)))
    if second["cell_type"] != "code" or '"google.colab" in sys.modules' not in source(second):
        raise SystemExit(f"{where}: the second cell is not the Colab set-up cell")
    set_source(second, install_cell(url, version, setup_tail(source(second), where),
                                    notebook_extras(nb)))
    return nb


def repoint_readme(text: str, url: str, ref: str, old_urls: set[str]) -> str:
    """The README with every Colab badge and repository link pointing at ``url``/``ref``."""
    text = BADGE_RE.sub(lambda m: badge_url(url, ref, m.group("name")), text)
    for old in old_urls - {url}:
        text = re.sub(re.escape(old) + r"(?![\w-]|\.\w)", url, text)
    return text


def _write_if_changed(path: Path, text: str, check: bool, changed: list[str]) -> None:
    """Write ``text`` to ``path`` when it differs (only list it with ``check``)."""
    if path.read_text(encoding="utf-8") != text:
        changed.append(str(path.relative_to(ROOT)))
        if not check:
            path.write_text(text, encoding="utf-8")


def cmd_repoint(args) -> int:
    """``repoint``: point every badge, install cell and the README at a URL and release."""
    changed: list[str] = []
    old_url = repository_url()
    url = normalise_url(args.url) if args.url else old_url
    github_slug(url)
    version = package_version()
    if args.release:
        m = re.fullmatch(r"v(\d+\.\d+\.\d+(?:[.-]?\w+)*)", args.release)
        if not m:
            raise SystemExit(f"--release must look like v1.2.3, got {args.release}")
        version = m.group(1)
    if version != package_version():
        text = re.sub(r'^(__version__\s*=\s*)["\'][^"\']+["\']', rf'\g<1>"{version}"', INIT.read_text(), flags=re.M)
        _write_if_changed(INIT, text, args.check, changed)
    if url != old_url:
        cfg_text = CONFIG.read_text()
        new_cfg = re.sub(r"(?m)^(repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+url:[ \t]*).*$", rf"\g<1>{url}", cfg_text)
        _write_if_changed(CONFIG, new_cfg, args.check, changed)
    ref = args.ref or f"v{version}"
    for path in notebooks():
        nb = load_nb(path)
        new = repoint_notebook(nb, url, version, ref, path.name, path.name)
        if new != nb:
            changed.append(str(path.relative_to(ROOT)))
            if not args.check:
                path.write_text(dump_nb(new), encoding="utf-8")
    old_urls = {old_url, *(f"https://github.com/{m.group('owner')}/{m.group('repo')}"
                           for m in BADGE_RE.finditer(README.read_text()))}
    _write_if_changed(README, repoint_readme(README.read_text(), url, ref, old_urls), args.check, changed)
    what = f"{url} at v{version} (badges open {ref})"
    if args.check:
        if changed:
            print(f"out of date with {what}: {', '.join(changed)}\n"
                  f"run: python tools/course.py repoint")
            return 1
        print(f"all badges and install cells agree: {what}")
        return 0
    print(f"re-pointed to {what}: {', '.join(changed) or 'nothing to change'}")
    return 0


# --------------------------------------------------------------------------- student edition
DIRECTIVE = r"^[ \t]*(?:`{3,}|:{3,})[ \t]*\{%s\}"
SOL_START = re.compile(DIRECTIVE % "solution-start", re.M)
SOL_END = re.compile(DIRECTIVE % "solution-end", re.M)
EXERCISE = re.compile(DIRECTIVE % "exercise(?:-start)?", re.M)
# a whole ```{solution} ... ``` (or :::) block inside a markdown cell
SOL_BLOCK = re.compile(r"^([ \t]*)(`{3,}|:{3,})[ \t]*\{solution\}.*?^\1\2[ \t]*$\n?", re.M | re.S)


def solution_blocks(nb: dict) -> list[tuple[int, int]]:
    """(start, end) cell indices, both included, of every gated solution block."""
    blocks, start = [], None
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = source(cell)
        if SOL_START.search(text):
            if start is not None:
                raise SystemExit(f"cell {i}: solution-start inside another solution")
            start = i
        if SOL_END.search(text):
            if start is None:
                raise SystemExit(f"cell {i}: solution-end without solution-start")
            blocks.append((start, i))
            start = None
    if start is not None:
        raise SystemExit(f"cell {start}: solution-start without solution-end")
    return blocks


def student_notebook(nb: dict, name: str, url: str, ref: str = STUDENT_REF) -> dict:
    """The notebook without its solutions: gated blocks cut, ``{solution}`` blocks removed.

    A code cell right after a solution block that repeats a cell of its exercise (the
    checker, run again to show PASS) is dropped; other cells there keep their code but lose
    the outputs the solution produced."""
    nb = copy.deepcopy(nb)
    cells = nb["cells"]
    blocks = solution_blocks(nb)
    drop: set[int] = set()
    clear: set[int] = set()
    for start, end in blocks:
        drop.update(range(start, end + 1))
        ex = max((i for i in range(start) if cells[i]["cell_type"] == "markdown" and EXERCISE.search(source(cells[i]))), default=0)
        exercise_code = {source(cells[i]).strip() for i in range(ex, start) if cells[i]["cell_type"] == "code"}
        j = end + 1
        if j < len(cells) and cells[j]["cell_type"] == "code":
            (drop if source(cells[j]).strip() in exercise_code else clear).add(j)
    out = []
    for i, cell in enumerate(cells):
        if i in drop:
            continue
        if cell["cell_type"] == "markdown" and "{solution}" in source(cell):
            set_source(cell, SOL_BLOCK.sub("", source(cell)))
        if i in clear:
            cell["outputs"], cell["execution_count"] = [], None
        out.append(cell)
    nb["cells"] = out
    first = out[0]
    text = BADGE_RE.sub(lambda m: badge_url(url, ref, name), source(first))
    set_source(first, text + "\n\n*Student edition: the exercises without their solutions.*")
    nb["metadata"]["mbdl_edition"] = {"edition": "student", "generated_from": f"notebooks/{name}",
                                      "note": "generated by tools/course.py student; do not edit"}
    return nb


def student_config() -> dict:
    """The book's _config.yml with hide_solutions on, launch buttons on the student branch."""
    import yaml

    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["title"] = f"{cfg.get('title', '')} (student edition)"
    cfg.setdefault("repository", {})["branch"] = STUDENT_REF
    cfg.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    return cfg


# what the book is built from: everything but the package, tests, tools and outputs
_NOT_BOOK = shutil.ignore_patterns(".git", "_build", "mbdl_teach", "tests", "tools", "benchmarks", ".ci",
                                   "*.egg-info", "__pycache__", ".pytest_cache", ".ipynb_checkpoints",
                                   ".jupyter_cache", "runs", "student", "dist", "build")


def build_student_book(out: Path, url: str) -> Path:
    """Build the book from a copy of its sources in which the notebooks are the student ones.

    sphinx-exercise's ``hide_solutions`` alone is not enough: it drops ``{solution}`` blocks
    but (1.2.1) fails on gated ``solution-start``/``solution-end`` pairs, and the code cells
    between them are notebook cells, not directive content. So the student book is built
    from the student notebooks, with ``hide_solutions: true`` for any plain ``{solution}``.
    """
    import yaml

    src = out / "src"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(ROOT, src, ignore=_NOT_BOOK)
    (src / "_config.yml").write_text(yaml.safe_dump(student_config(), sort_keys=False, allow_unicode=True))
    for path in notebooks():
        target = src / "notebooks" / path.name
        target.write_text(dump_nb(student_notebook(load_nb(path), path.name, url)), encoding="utf-8")
    proc = subprocess.run(["jupyter-book", "build", str(src), "--warningiserror", "--keep-going"],
                          capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stdout[-6000:] + proc.stderr[-6000:])
        raise SystemExit("the student book did not build")
    html_dir = out / "html"
    shutil.rmtree(html_dir, ignore_errors=True)
    shutil.move(str(src / "_build" / "html"), str(html_dir))
    shutil.rmtree(src, ignore_errors=True)
    return html_dir


def write_student_notebooks(out: Path, url: str) -> list[Path]:
    """The notebooks without solutions, into ``out/notebooks``."""
    nb_dir = out / "notebooks"
    shutil.rmtree(nb_dir, ignore_errors=True)
    nb_dir.mkdir(parents=True)
    written = []
    for path in notebooks():
        target = nb_dir / path.name
        target.write_text(dump_nb(student_notebook(load_nb(path), path.name, url)), encoding="utf-8")
        written.append(target)
    (nb_dir.parent / "README.md").write_text(
        "# Student notebooks\n\nGenerated by `python tools/course.py student` from `notebooks/` "
        f"(mbdl-teach {package_version()}): the exercises without their solutions. Do not edit; "
        "edit the chapter notebooks and regenerate.\n")
    return written


def commit_student_branch(nb_paths: list[Path], readme: Path) -> str:
    """Record the student notebooks as a commit on the local branch ``student`` (plumbing
    only: the work tree and the index stay as they are). Publish with git push."""
    def git(*a, inp=None, env=None):
        """Run git in the repository and return its output (raises on failure)."""
        return subprocess.run(["git", *a], cwd=ROOT, input=inp, capture_output=True, text=True,
                              check=True, env=env).stdout.strip()

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        for p, dest in [(readme, "README.md")] + [(p, f"notebooks/{p.name}") for p in nb_paths]:
            blob = git("hash-object", "-w", str(p))
            git("update-index", "--add", "--cacheinfo", f"100644,{blob},{dest}", env=env)
        tree = git("write-tree", env=env)
    parent = subprocess.run(["git", "rev-parse", "-q", "--verify", f"refs/heads/{STUDENT_REF}"],
                            cwd=ROOT, capture_output=True, text=True).stdout.strip()
    if parent and git("rev-parse", f"{parent}^{{tree}}") == tree:
        return parent  # nothing changed since the last student commit
    head = git("rev-parse", "--short", "HEAD")
    msg = f"Student notebooks of mbdl-teach {package_version()} (generated from {head})"
    commit = git("commit-tree", tree, *(["-p", parent] if parent else []), "-m", msg)
    git("update-ref", f"refs/heads/{STUDENT_REF}", commit)
    return commit


def cmd_student(args) -> int:
    """``student``: the student edition (book and notebooks without the solutions)."""
    out = Path(args.out).resolve() if args.out else ROOT / "_build" / "student"
    out.mkdir(parents=True, exist_ok=True)
    url = repository_url()
    if not args.no_notebooks:
        t = time.time()
        paths = write_student_notebooks(out, url)
        print(f"student notebooks: {len(paths)} in {out / 'notebooks'} ({time.time() - t:.1f} s); "
              f"badges open branch '{STUDENT_REF}' of {url}")
        if args.commit_branch:
            commit = commit_student_branch(paths, out / "README.md")
            print(f"committed as {commit[:10]} on local branch '{STUDENT_REF}': publish with "
                  f"git push origin {STUDENT_REF}")
    if not args.no_book:
        t = time.time()
        html_dir = build_student_book(out, url)
        print(f"student book: {html_dir / 'index.html'} ({time.time() - t:.0f} s)")
    return 0


# --------------------------------------------------------------------------- slides
def _is_setup(cell: dict) -> bool:
    """Whether a cell is the Colab set-up cell."""
    return cell["cell_type"] == "code" and '"google.colab" in sys.modules' in source(cell)


def slide_type_by_rule(cells: list[dict]) -> list[str]:
    """The rule that turns a notebook's own cells into a lecture deck.

    * the title cell and every ``##`` heading start a slide (``slide``);
    * a markdown cell with display maths and a code cell with a figure are sub-slides;
    * a claim, a code cell with an ``assert`` that prints its number, is a ``fragment``
      of the slide before it;
    * the set-up cell, exercises, their checkers and solutions, and everything else:
      ``skip``.
    """
    types = ["skip"] * len(cells)
    in_solution = False
    in_exercise = False
    for i, cell in enumerate(cells):
        text = source(cell)
        if cell["cell_type"] == "markdown":
            if SOL_START.search(text):
                in_solution = True
            if in_solution:
                in_solution = not SOL_END.search(text)
                continue
            if EXERCISE.search(text):
                in_exercise = True
                continue
            heading = re.match(r"#{1,2}\s", text.lstrip())
            if heading:
                in_exercise = "exercise" in text.splitlines()[0].lower()
                if not in_exercise:
                    types[i] = "slide"
            elif in_exercise:
                continue
            elif "$$" in text or "\\begin{" in text:
                types[i] = "subslide"
        elif cell["cell_type"] == "code" and not in_solution and not in_exercise and not _is_setup(cell):
            outputs = cell.get("outputs", [])
            if any("image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {}) for o in outputs):
                types[i] = "subslide"
            elif re.search(r"^\s*assert\b", text, re.M) and any(o.get("output_type") == "stream" for o in outputs):
                types[i] = "fragment"
    if cells:
        types[0] = "slide"
    return types


def has_slide_metadata(nb: dict) -> bool:
    """Whether any cell of ``nb`` says which slide it goes on."""
    return any("slide_type" in c.get("metadata", {}).get("slideshow", {}) for c in nb["cells"])


def with_slides(nb: dict) -> dict:
    """The notebook as the deck sees it: its own slide metadata, else the rule's."""
    nb = copy.deepcopy(nb)
    if not has_slide_metadata(nb):
        for cell, kind in zip(nb["cells"], slide_type_by_rule(nb["cells"])):
            cell.setdefault("metadata", {})["slideshow"] = {"slide_type": kind}
    return nb


def _npm_unpack(spec: str, vendor: Path) -> Path:
    """Fetch an npm package's tarball once (cached in vendor/) and unpack it."""
    name = spec.rsplit("@", 1)[0]
    dest = vendor / spec.replace("/", "_")
    if (dest / "package.json").exists():
        return dest
    if not shutil.which("npm"):
        raise SystemExit(f"npm is needed once to fetch {spec} (apt-get install npm)")
    vendor.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["npm", "pack", spec, "--silent", "--pack-destination", str(vendor)],
                          capture_output=True, text=True, cwd=vendor)
    if proc.returncode:
        raise SystemExit(f"npm pack {spec} failed:\n{proc.stderr[-2000:]}")
    tgz = vendor / proc.stdout.strip().splitlines()[-1]
    tmp = vendor / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(tgz) as tar:
        tar.extractall(tmp, filter="data")
    shutil.rmtree(dest, ignore_errors=True)
    (tmp / "package").rename(dest)
    shutil.rmtree(tmp, ignore_errors=True)
    tgz.unlink()
    return dest


def vendor_assets(out: Path) -> dict[str, str]:
    """reveal.js, MathJax, require.js and jQuery beside the decks; returns their URLs."""
    vendor = ROOT / "_build" / "vendor"
    lib = out / "lib"
    lib.mkdir(exist_ok=True)
    shutil.copy(_npm_unpack(REQUIRE_NPM, vendor) / "require.js", lib / "require.js")
    shutil.copy(_npm_unpack(JQUERY_NPM, vendor) / "dist" / "jquery.min.js", lib / "jquery.min.js")
    reveal_src = _npm_unpack(REVEAL_NPM, vendor)
    mathjax_src = _npm_unpack(MATHJAX_NPM, vendor)
    reveal = out / "reveal.js"
    if not (reveal / "dist" / "reveal.js").exists():
        shutil.rmtree(reveal, ignore_errors=True)
        shutil.copytree(reveal_src / "dist", reveal / "dist")
        shutil.copytree(reveal_src / "plugin", reveal / "plugin")
        shutil.copy(reveal_src / "LICENSE", reveal / "LICENSE")
    mathjax = out / "mathjax"
    if not (mathjax / "MathJax.js").exists():
        shutil.rmtree(mathjax, ignore_errors=True)
        mathjax.mkdir()
        # what TeX-AMS_CHTML-full needs: the loader, its config, the TeX input, the CommonHTML
        # output with its TeX web fonts, and the extensions it pulls in
        for f in ("MathJax.js", "LICENSE", "config/TeX-AMS_CHTML-full.js", "config/Safe.js"):
            if (mathjax_src / f).exists():
                (mathjax / f).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(mathjax_src / f, mathjax / f)
        for d in ("jax/input/TeX", "jax/output/CommonHTML", "jax/element", "extensions",
                  "fonts/HTML-CSS/TeX/woff", "localization/en"):
            if (mathjax_src / d).exists():
                shutil.copytree(mathjax_src / d, mathjax / d)
    return {"reveal_url_prefix": "reveal.js", "mathjax_url": "mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
            "require_js_url": "lib/require.js", "jquery_url": "lib/jquery.min.js"}


MERMAID = re.compile(r"<script type=\"module\">\s*import mermaid from[^<]*</script>\s*")


def build_deck(nb_path: Path, out: Path, urls: dict[str, str]) -> tuple[Path, int]:
    """One reveal.js deck from a notebook's cells (nbconvert's slides exporter)."""
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    nb = with_slides(load_nb(nb_path))
    # stored widget state would load the widget manager from a CDN; the decks are static
    nb["metadata"].pop("widgets", None)
    # the badge image lives on the web: a plain link reads offline
    first = nb["cells"][0]
    set_source(first, re.sub(r"\[!\[Open In Colab\]\([^)]*\)\]\(([^)]*)\)", r"[Open in Colab](\1)", source(first)))
    c = Config()
    for key, value in urls.items():
        setattr(c.SlidesExporter, key, value)
    c.SlidesExporter.reveal_scroll = True
    c.SlidesExporter.reveal_theme = "white"  # its fonts ship with reveal.js (simple's come from the web)
    c.SlidesExporter.exclude_input = True  # the lecture shows figures and numbers; code is in the notebook
    c.SlidesExporter.exclude_input_prompt = True
    c.SlidesExporter.exclude_output_prompt = True
    import nbformat

    body, _ = SlidesExporter(config=c).from_notebook_node(nbformat.reads(json.dumps(nb), as_version=4))
    body = MERMAID.sub("", body)  # no diagrams in the decks: no module import from a CDN
    target = out / f"{nb_path.stem}.slides.html"
    target.write_text(body, encoding="utf-8")
    n = sum(c.get("metadata", {}).get("slideshow", {}).get("slide_type") in ("slide", "subslide") for c in nb["cells"])
    return target, n


def cmd_slides(args) -> int:
    """``slides``: the lecturer decks, one per chapter, readable offline."""
    if args.write_metadata:
        for path in notebooks():
            nb = load_nb(path)
            if has_slide_metadata(nb):
                print(f"{path.name}: has slide metadata, left as it is")
                continue
            path.write_text(dump_nb(with_slides(nb)), encoding="utf-8")
            print(f"{path.name}: slide metadata written by the rule")
        return 0
    out = Path(args.out).resolve() if args.out else ROOT / "_build" / "slides"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    urls = vendor_assets(out)
    rows = []
    for path in notebooks():
        t = time.time()
        deck, n = build_deck(path, out, urls)
        title = source(load_nb(path)["cells"][0]).splitlines()[0].lstrip("# ").strip()
        rows.append((deck.name, title, n))
        print(f"{deck}: {n} slides ({time.time() - t:.1f} s)")
    items = "\n".join(f'<li><a href="{html.escape(d)}">{html.escape(t)}</a> ({n} slides)</li>' for d, t, n in rows)
    (out / "index.html").write_text(
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Lecture slides</title></head><body>\n"
        f"<h1>Lecture slides</h1>\n<p>One reveal.js deck per chapter (mbdl-teach {package_version()}), "
        "made from the notebooks' own cells; they work offline. Keys: arrows, Esc for the overview, "
        "S for speaker notes.</p>\n"
        f"<ul>\n{items}\n</ul>\n</body></html>\n", encoding="utf-8")
    book = ROOT / "_build" / "html"
    if not args.out and (book / "index.html").exists():
        shutil.rmtree(book / "slides", ignore_errors=True)
        shutil.copytree(out, book / "slides")
        print(f"copied into {book / 'slides'} (the book's set-up page links there)")
    print(f"{len(rows)} decks in {out} ({time.time() - t0:.0f} s); index: {out / 'index.html'}")
    return 0


# --------------------------------------------------------------------------- gpu-report
HEADLINE_PREFIX = "headline: "  # mbdl_teach.config.HEADLINE_PREFIX (tools import no package)
_PEAK_CELL = ("import json as _j, torch as _t\n"
              "print('peak: ' + _j.dumps(_t.cuda.max_memory_allocated() "
              "if _t.cuda.is_available() else None))")


def headlines(nb: dict) -> dict:
    """The numbers the notebook printed with ``config.headline`` (merged, in order)."""
    found: dict = {}
    for cell in nb["cells"]:
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            for line in ("".join(text) if isinstance(text, list) else text).splitlines():
                if line.startswith(HEADLINE_PREFIX):
                    found.update(json.loads(line[len(HEADLINE_PREFIX):]))
    return found


def run_full_profile(path: Path, smoke: bool, timeout: int = 1800,
                     executed: Path | None = None) -> dict:
    """Execute a copy of notebook ``path`` in the full profile in a fresh kernel.

    Returns a dict: ``seconds`` (wall time of the cells), ``peak_bytes`` (peak CUDA memory
    or None), ``error`` (None, or the failing cell's index and the error's last line),
    ``headlines`` (this run's) and ``quick`` (the stored notebook's). With ``executed``
    (a folder), the executed copy is written there, under the notebook's name.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    stored = load_nb(path)
    nb = nbformat.reads(dump_nb(stored), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(_PEAK_CELL))
    env = dict(os.environ, MBDL_PROFILE="full", MBDL_SMOKE="1" if smoke else "0",
               MBDL_STATIC_WIDGETS="1")
    if smoke:  # tiny sizes cannot carry the chapters' claims: their asserts are skipped
        env["PYTHONOPTIMIZE"] = "1"
        for var in ("MBDL_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = "1"  # small tensors, and several kernels may share the CPU
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    error, t0 = None, time.perf_counter()
    try:
        client.execute(env=env)  # the kernel's environment; this process's is untouched
    except (CellExecutionError, CellTimeoutError) as err:
        index = next((i for i, c in enumerate(nb.cells) if any(
            o.get("output_type") == "error" for o in c.get("outputs", []))), None)
        plain = re.sub(r"\x1b\[[0-9;]*m", "", str(err))  # no terminal colours
        last = [ln for ln in plain.strip().splitlines() if ln.strip()]
        error = f"cell {index}: {last[-1] if last else type(err).__name__}"
    seconds = time.perf_counter() - t0
    if executed is not None:
        Path(executed).mkdir(parents=True, exist_ok=True)
        (Path(executed) / path.name).write_text(nbformat.writes(nb), encoding="utf-8")
    peak = None
    for out in nb.cells[-1].get("outputs", []):
        if out.get("output_type") == "stream" and out["text"].startswith("peak: "):
            peak = json.loads(out["text"][len("peak: "):])
    return {"seconds": seconds, "peak_bytes": peak, "error": error,
            "headlines": headlines(nb), "quick": headlines(stored)}


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def report_markdown(results: dict[str, dict], device: str, smoke: bool) -> str:
    """The report: a summary table, then one table per chapter (its headline numbers)."""
    scale = ("smoke scale (MBDL_SMOKE=1: the full profile's code at tiny sizes; its numbers "
             "check that the code runs and are not the papers')" if smoke else
             "paper scale")
    lines = [f"# Full profile on {device}, {scale}", "",
             "| chapter | status | wall time (s) | peak GPU memory |", "|---|---|---|---|"]
    for name, r in results.items():
        mem = ("n/a on CPU" if r["peak_bytes"] is None
               else f"{r['peak_bytes'] / 2**30:.2f} GiB")
        error = r["error"] if r["error"] is None or len(r["error"]) < 160 else (
            r["error"][:157] + "...")
        status = "ok" if error is None else f"FAILED ({error})"
        lines.append(f"| {name} | {status} | {r['seconds']:.1f} | {mem} |")
    total = sum(r["seconds"] for r in results.values())
    lines += ["", f"Total: {total:.1f} s of notebook execution.", ""]
    for name, r in results.items():
        lines += [f"## {name}", ""]
        keys = list(dict.fromkeys([*r["quick"], *r["headlines"]]))
        if not keys:
            lines += ["No headline numbers (the chapter has no `config.headline(...)` cell).",
                      ""]
            continue
        col = "full (smoke scale)" if smoke else "full"
        lines += [f"| number | quick (stored) | {col} |", "|---|---|---|"]
        lines += [f"| {k} | {_fmt(r['quick'].get(k, '-'))} | {_fmt(r['headlines'].get(k, '-'))} |"
                  for k in keys]
        lines.append("")
    return "\n".join(lines)


def gpu_report(paths: list[Path], smoke: bool | None = None, jobs: int = 1,
               timeout: int = 1800, executed: Path | None = None
               ) -> tuple[dict[str, dict], str, bool]:
    """Run :func:`run_full_profile` on ``paths``; ``(results, device, smoke)``.

    ``smoke`` None: smoke scale unless CUDA is available (or ``$MBDL_SMOKE=1``).
    """
    from concurrent.futures import ThreadPoolExecutor

    import torch

    cuda = torch.cuda.is_available()
    if smoke is None:
        smoke = (not cuda) or os.environ.get("MBDL_SMOKE", "") in ("1", "true", "yes")
    device = torch.cuda.get_device_name() if cuda else "the CPU (no CUDA device)"
    if jobs > 1:  # each kernel is its own process
        with ThreadPoolExecutor(jobs) as pool:
            done = list(pool.map(lambda p: run_full_profile(p, smoke, timeout, executed),
                                 paths))
    else:
        done = [run_full_profile(p, smoke, timeout, executed) for p in paths]
    return {p.stem: r for p, r in zip(paths, done)}, device, smoke


def cmd_gpu_report(args) -> int:
    """Execute every chapter in the full profile; write and print the markdown report."""
    paths = notebooks()
    if args.only:
        paths = [p for p in paths if any(p.name.startswith(k) for k in args.only)]
    results, device, smoke = gpu_report(paths, smoke=True if args.smoke else None,
                                        jobs=args.jobs, timeout=args.timeout,
                                        executed=args.executed)
    text = report_markdown(results, device, smoke)
    out = Path(args.out) if args.out else ROOT / "_build" / "gpu_report.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\nwritten to {out}")
    return 0 if all(r["error"] is None for r in results.values()) else 1


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    """The command line: ``python tools/course.py {repoint,student,slides} ...``."""
    ap = argparse.ArgumentParser(prog="python tools/course.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("repoint", help="re-point Colab badges and install cells to the repository and release")
    p.add_argument("--url", help="repository URL (default: _config.yml's repository.url; written there)")
    p.add_argument("--release", help="release tag vX.Y.Z (default: v + the package version; written there)")
    p.add_argument("--ref", help="git ref the badges open (default: the release tag)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything disagrees")
    p.set_defaults(fn=cmd_repoint)
    p = sub.add_parser("student", help="the student edition: book without solutions, student notebooks")
    p.add_argument("--no-book", action="store_true", help="only the notebooks")
    p.add_argument("--out", help="output folder (default: _build/student)")
    p.add_argument("--no-notebooks", action="store_true", help="only the book")
    p.add_argument("--commit-branch", action="store_true",
                   help=f"also commit the notebooks on the local branch '{STUDENT_REF}' (work tree untouched)")
    p.set_defaults(fn=cmd_student)
    p = sub.add_parser("slides", help="one reveal.js deck per chapter, readable offline")
    p.add_argument("--write-metadata", action="store_true",
                   help="write the rule's slide metadata into notebooks that have none, build nothing")
    p.add_argument("--out", help="output folder (default: _build/slides, also copied into _build/html/slides)")
    p.set_defaults(fn=cmd_slides)
    p = sub.add_parser("gpu-report", help="every chapter's full profile on this device: time, memory, headline numbers")
    p.add_argument("--smoke", action="store_true", help="smoke scale even on a GPU (always on the CPU)")
    p.add_argument("--jobs", type=int, default=1, help="notebooks at once (CPU smoke runs; default 1)")
    p.add_argument("--only", nargs="*", help="chapter numbers or names to run, e.g. 04 09")
    p.add_argument("--timeout", type=int, default=3600, help="seconds per cell (default 3600)")
    p.add_argument("--out", help="markdown file (default: _build/gpu_report.md)")
    p.add_argument("--executed", help="also write the executed copies of the notebooks here")
    p.set_defaults(fn=cmd_gpu_report)
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
