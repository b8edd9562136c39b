"""Recipes (how each shipped model is trained) and their command line."""
import math

import numpy as np
import pytest
import torch

from mbdl_teach import recipes, training, weights


@pytest.fixture
def tiny_recipe():
    recipes.DENOISER_SIZES["_tiny"] = {"quick": dict(
        model="dncnn", config=dict(channels=1, depth=3, features=4), patch=16, batch=4,
        n_steps=6, lr=1e-3, sigma=(0, 25))}
    yield "_tiny"
    del recipes.DENOISER_SIZES["_tiny"]


def test_recipes_registered():
    for name in ("dncnn", "winnet", "dncnn50", "winnet50", "lista"):
        assert callable(recipes.get_recipe(name))
    assert recipes.DENOISER_SIZES["winnet50"]["quick"]["config"]["sigma_train_max"] == 50 / 255
    with pytest.raises(ValueError, match="known recipes: .*lista"):
        recipes.get_recipe("no-such-model")


def test_recipe_runs_resumes_and_exports(tmp_path, tiny_recipe):
    out, ckpt = tmp_path / "d.pt", tmp_path / "ck" / "d.resume.pt"
    recipes.train_denoiser(tiny_recipe, "quick", out=out, progress=False, checkpoint=ckpt)
    assert training.load_checkpoint(ckpt)["step"] == 6
    res = recipes.train_denoiser(tiny_recipe, "quick", out=out, n_steps=9, progress=False,
                                 checkpoint=ckpt)
    assert res["history"].steps == 9
    assert set(torch.load(out, weights_only=True)) == {"state_dict", "config", "model"}
    entry = recipes.export_denoiser(tiny_recipe, "quick", checkpoint=ckpt, directory=tmp_path)
    assert entry["profile"] == "quick" and entry["steps"] == 9
    assert entry["config"] == recipes.DENOISER_SIZES[tiny_recipe]["quick"]["config"]
    assert entry["command"] == f"python -m mbdl_teach.recipes {tiny_recipe} --profile quick --steps 9"
    assert "x0.3 at steps [7] of 9" in entry["optimizer"]
    model, info = weights.load(tiny_recipe, directory=tmp_path)
    assert info["module"] == "mbdl_teach.denoisers" and not model.training


def test_recipe_decay_steps_are_checked_and_used(tmp_path, tiny_recipe):
    for bad in ([], [0], [7], [2.5]):
        with pytest.raises(ValueError, match="milestones"):
            recipes.train_denoiser(tiny_recipe, "quick", out=tmp_path / "x.pt", progress=False,
                                   milestones=bad, checkpoint=tmp_path / "x.resume.pt")
    res = recipes.train_denoiser(tiny_recipe, "quick", out=tmp_path / "d.pt", progress=False,
                                 milestones=[2, 4], checkpoint=tmp_path / "d.resume.pt")
    assert np.allclose(res["history"].lrs, [1e-3] * 2 + [3e-4] * 2 + [9e-5] * 2)


def test_command_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        recipes.main(["no-such-model"])
    assert "lista" in capsys.readouterr().err
    seen = {}
    recipes.register_recipe("dummy", lambda profile, **kw: seen.update(kw, profile=profile))
    try:
        recipes.main(["dummy", "--profile", "full", "--decay-at", "30", "40"])
        assert seen["profile"] == "full" and seen["milestones"] == [30, 40]
        with pytest.raises(SystemExit):
            recipes.main(["dummy", "--export"])  # only the denoisers are shipped
    finally:
        recipes.RECIPES.pop("dummy")
    out = tmp_path / "lista.pt"
    res = recipes.main(["lista", "--steps", "2", "--no-progress", "--out", str(out)])
    assert len(res["nmse_lista"]) == 17 and math.isfinite(res["nmse_lista"][-1])
    state = torch.load(out, weights_only=True)
    assert state["sizes"]["layers"] == 16 and "theta" in state["state_dict"]


def test_no_module_imports_one_that_imports_it():
    """The layers of CONVENTIONS: recipes is at the top, nothing below imports it."""
    import ast
    from pathlib import Path

    pkg = Path(recipes.__file__).parents[1]
    for path in pkg.rglob("*.py"):
        if path.parent.name in ("recipes", "exercises") or path.stem == "widgets":
            continue
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                 for a in n.names} | {n.module or "" for n in ast.walk(tree)
                                      if isinstance(n, ast.ImportFrom)}
        assert "recipes" not in names and "mbdl_teach.recipes" not in names, path.name


def test_one_registry_rebuilds_every_shipped_model(capsys):
    """Every manifest entry has a recipe that trains and ships it, and --list names it."""
    shipped = set(weights.read_manifest())
    assert shipped <= set(recipes.shipped())
    for name in shipped:
        recipe = recipes.get_recipe(name)
        assert callable(recipe.train) and callable(recipe.export)
    assert recipes.main(["--list"]) is None
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()
              if line.split()[1:] == ["ships"]}
    assert listed == set(recipes.shipped()) and shipped <= listed


def test_rebuilding_a_shipped_network_passes_its_check(tmp_path):
    """The recipe of a shipped X-ray network re-creates it: the rebuilt file passes the
    check of its kind, and scores what the shipped one does (within the check's 0.05 dB)."""
    name = "xray_ascent_method"
    recipe = recipes.get_recipe(name)
    recipe.train("quick", checkpoint=tmp_path / "ck.pt", progress=False)
    entry = recipe.export("quick", tmp_path / "ck.pt", None, directory=tmp_path)
    weights.check(name, directory=tmp_path)
    assert abs(entry["psnr_x2"] - weights.read_manifest()[name]["psnr_x2"]) < 0.05
    assert entry["command"] == weights.read_manifest()[name]["command"]

