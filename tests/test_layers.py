"""The package's layers: every import points down (or stays in its layer).

The layers and the arrows between them are the house plan's (CONVENTIONS.md, "The helper
package"): core knows no method; transforms stand on the core; priors on transforms; solvers
take their prior as an argument, so they import no prior and no prior imports a solver;
the science cases stand on all of those; the top (recipes, exercises, widgets) on
everything, and nothing imports the top. Imports inside functions count too.
"""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "mbdl_teach"

LAYERS = {
    "core": ["config", "data", "datasets", "metrics", "plotting", "checks", "operators", "progress",
             "weights", "training", "unfolding"],
    "transforms": ["wavelets", "lifting", "inn"],
    "priors": ["denoisers", "diffusion"],
    "solvers": ["solvers", "pnp"],
    "science": ["xray", "xrf", "lfm"],
    "top": ["recipes", "exercises", "widgets"],
}
ALLOWED = {  # layer -> the layers it may import (its own included)
    "core": {"core"},
    "transforms": {"transforms", "core"},
    "priors": {"priors", "transforms", "core"},
    "solvers": {"solvers", "transforms", "core"},
    "science": {"science", "solvers", "priors", "transforms", "core"},
    "top": {"top", "science", "solvers", "priors", "transforms", "core"},
}
LAYER_OF = {name: layer for layer, names in LAYERS.items() for name in names}


def _part(path: Path, root: Path = PKG) -> str:
    """The top-level module or sub-package of the package that ``path`` belongs to."""
    return path.relative_to(root).parts[0].removesuffix(".py")


def _imported_parts(path: Path, root: Path = PKG) -> set[str]:
    """The package's top-level parts that the module at ``path`` imports, anywhere in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = path.relative_to(root).parts[:-1]  # the sub-package the module sits in
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                mod = node.module or ""
                if mod == "mbdl_teach" or mod.startswith("mbdl_teach."):
                    parts = mod.split(".")[1:]
                else:
                    continue
            else:
                base = list(here[: len(here) - (node.level - 1)])
                parts = base + (node.module.split(".") if node.module else [])
            if parts:
                found.add(parts[0])
            else:  # from . import a, b (at the package's top)
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mbdl_teach."):
                    found.add(alias.name.split(".")[1])
    return found


MODULES = sorted(p for p in PKG.rglob("*.py") if _part(p) not in ("__init__", "__main__"))


def test_every_part_of_the_package_has_a_layer():
    parts = {_part(p) for p in MODULES}
    assert parts <= set(LAYER_OF), f"parts with no layer: {sorted(parts - set(LAYER_OF))}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_point_down(path):
    layer = LAYER_OF[_part(path)]
    wrong = {p: LAYER_OF.get(p) for p in _imported_parts(path) - {_part(path)}
             if p in LAYER_OF and LAYER_OF[p] not in ALLOWED[layer]}
    assert not wrong, f"{path.relative_to(PKG)} ({layer}) imports upwards: {wrong}"


def test_the_checker_sees_every_kind_of_import(tmp_path):
    """The test above can fail: relative, absolute and function-level imports are seen."""
    (tmp_path / "xrf").mkdir()
    mod = tmp_path / "xrf" / "m.py"
    mod.write_text("import torch\nfrom ..operators import Blur\nimport mbdl_teach.lfm\n"
                   "def f():\n    from .. import recipes, data\n    from .fri import g\n")
    assert _imported_parts(mod, tmp_path) == {"operators", "lfm", "recipes", "data", "xrf"}
    assert "top" not in ALLOWED[LAYER_OF["xrf"]]  # so xrf importing recipes would fail
