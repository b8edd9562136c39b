"""Shipped weights: manifest, sha256 check, the registry of model kinds, clear errors."""
import json

import pytest
import torch

from mbdl_teach import denoisers, inn, training, weights  # noqa: F401  (both register kinds)
from mbdl_teach.denoisers import DnCNN

SHIPPED = weights.read_manifest()
TINY = dict(channels=1, depth=3, features=4)


def _export_tiny(tmp_path, name="dncnn"):
    """A fresh (untrained) small DnCNN exported to tmp_path like a real checkpoint."""
    torch.manual_seed(0)
    model = DnCNN(**TINY)
    ckpt = tmp_path / "run" / f"{name}.resume.pt"
    training.save_checkpoint(ckpt, model, step=3,
                             history=training.History(losses=[1.0, 0.5, 0.2], seconds=2.0))
    entry = weights.export(name, ckpt, kind="dncnn", config=TINY, profile="quick",
                           command=f"python -m mbdl_teach.recipes {name} --steps 3",
                           schedule="Adam lr 0.001", data={"images": ["aero"]},
                           directory=tmp_path)
    return model, entry


def test_export_then_load_roundtrip(tmp_path):
    model, entry = _export_tiny(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["dncnn"]["sha256"] == entry["sha256"] and entry["steps"] == 3
    assert entry["parameters"] == model.num_parameters()
    assert entry["profile"] == "quick" and entry["config"] == TINY
    assert entry["module"] == "mbdl_teach.denoisers"
    loaded, info = weights.load("dncnn", directory=tmp_path)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)
    # the weights file loads with weights_only=True (no pickled code)
    torch.load(tmp_path / entry["file"], weights_only=True)


def test_export_takes_the_ema_weights_when_there_are_some(tmp_path):
    torch.manual_seed(0)
    model, avg = DnCNN(**TINY), DnCNN(**TINY)
    ckpt = tmp_path / "e.resume.pt"
    training.save_checkpoint(ckpt, model, step=1, ema=avg)
    entry = weights.export("e", ckpt, kind="dncnn", config=TINY, profile="quick", command="c",
                           schedule="s", data={}, directory=tmp_path)
    loaded, _ = weights.load("e", directory=tmp_path)
    assert entry["ema"]
    for k, v in avg.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)


def test_load_puts_the_model_on_the_device_asked_for(tmp_path):
    _export_tiny(tmp_path)
    model, _ = weights.load("dncnn", device="cpu", directory=tmp_path)
    assert all(p.device.type == "cpu" for p in model.parameters())
    den = denoisers.load("dncnn", device=torch.device("cpu"))
    assert next(den.parameters()).device.type == "cpu"


def test_corrupted_file_is_refused_with_rebuild_command(tmp_path):
    _, entry = _export_tiny(tmp_path)
    path = tmp_path / entry["file"]
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"corrupted.*python -m mbdl_teach.recipes dncnn"):
        weights.load("dncnn", directory=tmp_path)


def test_missing_file_names_the_command(tmp_path):
    _, entry = _export_tiny(tmp_path)
    (tmp_path / entry["file"]).unlink()
    with pytest.raises(FileNotFoundError, match=r"missing.*python -m mbdl_teach.recipes dncnn"):
        weights.load("dncnn", directory=tmp_path)


def test_unknown_name_lists_the_manifest(tmp_path):
    _export_tiny(tmp_path)
    with pytest.raises(ValueError, match="lists: dncnn"):
        weights.load("winnet", directory=tmp_path)


def test_unknown_kind_says_how_to_register_it(tmp_path):
    _, entry = _export_tiny(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["dncnn"]["model"], manifest["dncnn"]["module"] = "unet", None
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"unknown model kind 'unet'.*register_model"):
        weights.load("dncnn", directory=tmp_path)
    manifest["dncnn"]["module"] = "mbdl_teach.no_such_module"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="does not import"):
        weights.load("dncnn", directory=tmp_path)


def test_register_model_checks_its_arguments():
    with pytest.raises(ValueError, match="non-empty"):
        weights.register_model("", DnCNN)
    with pytest.raises(TypeError, match="builder"):
        weights.register_model("x", 3)
    with pytest.raises(TypeError, match="check"):
        weights.register_model("x", DnCNN, check=3)
    assert {"dncnn", "winnet"} <= set(weights.kinds())


def test_the_package_ships_only_what_the_notebooks_load():
    files = {p.name for p in weights.WEIGHTS_DIR.iterdir()}
    assert files == {"manifest.json"} | {e["file"] for e in SHIPPED.values()}
    assert not any(name.endswith(".resume.pt") for name in files)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_weights_listed_and_intact(name):
    assert name in SHIPPED, f"{name} is not in the weights manifest"
    info = SHIPPED[name]
    for key in ("sha256", "config", "command", "steps", "wall_seconds", "data", "module",
                "profile", "resume"):
        assert key in info, key
    assert info["command"].startswith(f"python -m mbdl_teach.recipes {name} ")
    assert (weights.WEIGHTS_DIR / info["file"]).stat().st_size == info["bytes"] < 3_000_000
    assert weights.sha256(weights.WEIGHTS_DIR / info["file"]) == info["sha256"]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_model_passes_the_check_its_kind_declares(name):
    weights.check(name)  # a denoiser: gains > 4 dB on a training crop


def test_shipped_models_count_their_parameters():
    for name, info in SHIPPED.items():
        model = weights.load(name)[0]
        assert sum(p.numel() for p in model.parameters()) == info["parameters"], name
    for name in ("dncnn", "winnet"):  # one face: the shipped network is the denoiser
        den = denoisers.load(name)
        assert isinstance(den, denoisers.Denoiser) and type(den) is type(weights.load(name)[0])
        assert den.num_parameters() == SHIPPED[name]["parameters"] and den.info == SHIPPED[name]
    with pytest.raises(ValueError, match="not a denoiser"):
        denoisers.load("diffusion")


def test_shipped_dncnn_rejects_colour():
    with pytest.raises(ValueError, match="1 channel"):
        denoisers.load("dncnn")(torch.rand(1, 3, 16, 16), 0.1)
