"""Shipped weights: manifest, sha256 check, clear errors, and that they denoise."""
import json

import pytest
import torch

from mbdl_teach import data, denoisers, metrics, training
from mbdl_teach.denoisers import DnCNN

SHIPPED = denoisers.read_manifest()



def _export_tiny(tmp_path):
    """A fresh (untrained) recipe-sized DnCNN exported to tmp_path like a real checkpoint."""
    torch.manual_seed(0)
    cfg = denoisers.RECIPE_SIZES["dncnn"]["quick"]["config"]
    model = DnCNN(**cfg)
    ckpt = tmp_path / "run" / "dncnn.resume.pt"
    training.save_checkpoint(ckpt, model, step=3, history=training.History(losses=[1.0, 0.5, 0.2], seconds=2.0))
    entry = denoisers.export_weights("dncnn", ckpt, "python -m mbdl_teach.training dncnn", directory=tmp_path)
    return model, entry


def test_export_then_load_roundtrip(tmp_path):
    model, entry = _export_tiny(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["dncnn"]["sha256"] == entry["sha256"] and entry["steps"] == 3
    assert entry["parameters"] == model.num_parameters()
    loaded, info = denoisers.load_weights("dncnn", directory=tmp_path)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)
    # the weights file loads with weights_only=True (no pickled code)
    torch.load(tmp_path / entry["file"], weights_only=True)


def test_corrupted_file_is_refused_with_rebuild_command(tmp_path):
    _, entry = _export_tiny(tmp_path)
    path = tmp_path / entry["file"]
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"corrupted.*python -m mbdl_teach.training dncnn"):
        denoisers.load_weights("dncnn", directory=tmp_path)


def test_missing_file_names_the_command(tmp_path):
    _, entry = _export_tiny(tmp_path)
    (tmp_path / entry["file"]).unlink()
    with pytest.raises(FileNotFoundError, match=r"missing.*python -m mbdl_teach.training dncnn"):
        denoisers.load_weights("dncnn", directory=tmp_path)


def test_unknown_name_lists_the_manifest(tmp_path):
    _export_tiny(tmp_path)
    with pytest.raises(ValueError, match="lists: dncnn"):
        denoisers.load_weights("winnet", directory=tmp_path)


@pytest.mark.parametrize("name", ["dncnn", "winnet"])
def test_shipped_weights_listed_and_intact(name):
    assert name in SHIPPED, f"{name} is not in the weights manifest"
    info = SHIPPED[name]
    for key in ("sha256", "config", "command", "steps", "wall_seconds", "data"):
        assert key in info
    assert (denoisers.WEIGHTS_DIR / info["file"]).stat().st_size == info["bytes"] < 3_000_000
    if "resume_file" in info:  # the resumable checkpoint is intact too
        assert denoisers._sha256(denoisers.WEIGHTS_DIR / info["resume_file"]) == info["resume_sha256"]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_weights_denoise_a_training_image(name):
    den = denoisers.load(name)
    assert den.num_parameters() == SHIPPED[name]["parameters"]
    sigma = SHIPPED[name]["data"]["sigma_range_255"][1] / 255
    x = data.load_image("aero", 64)[None]
    y = data.add_gaussian_noise(x, sigma, generator=torch.Generator().manual_seed(0))
    gain = float(metrics.psnr(den(y, sigma).clamp(0, 1), x) - metrics.psnr(y, x))
    assert gain > 4.0, (name, gain)


def test_shipped_dncnn_rejects_colour():
    if "dncnn" not in SHIPPED:
        pytest.skip("dncnn not shipped")
    with pytest.raises(ValueError, match="1 channel"):
        denoisers.load("dncnn")(torch.rand(1, 3, 16, 16), 0.1)
