"""The diffusion prior's recipe (chapter 07)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from .. import data, weights
from ..training import fit
from .common import checkpoint_path, machine, profile_sizes


#: Sizes of the diffusion prior (chapter 07): 32x32 (quick) or 64x64 (full) grey patches.
DIFFUSION_SIZES = {
    "quick": dict(config=dict(in_channels=1, channels=[32, 64, 64], tdim=128,
                              schedule="linear", T=1000),
                  patch=32, batch=32, n_steps=6000, lr=3e-4, ema=0.999),
    "full": dict(config=dict(in_channels=1, channels=[64, 128, 128], tdim=256,
                             schedule="linear", T=1000),
                 patch=64, batch=64, n_steps=100000, lr=2e-4, ema=0.9999),
}
DIFFUSION_DATA = ("patches of data.TRAIN_IMAGES (gray, native size), random 90-degree rotations "
                  "and flips; t uniform in 0..T-1, standard normal noise")


def _diffusion_validation(model, patch: int) -> float:
    """Epsilon MSE on 64 fixed training patches at fixed steps and noise (lower is better)."""
    from ..diffusion import diffusion_batches, epsilon_loss

    g = torch.Generator().manual_seed(123)
    images = [data.load_image(n) for n in ("aero", "clock")]
    x0, t, noise = diffusion_batches(images, patch, 64, model.T)(0, g)
    p = next(model.parameters())
    return float(epsilon_loss(model, (x0.to(p.device), t.to(p.device), noise.to(p.device))))


def train_diffusion(profile: str = "quick", out: str | Path | None = None,
                    n_steps: int | None = None, progress: bool = True,
                    milestones: Sequence[int] | None = None,
                    checkpoint: str | Path | None = None) -> dict:
    """Recipe ``diffusion``: the epsilon-UNet of :mod:`mbdl_teach.diffusion` (AdamW, EMA).

    Trains on augmented patches of the training images, every random draw (patches, steps,
    noise) from the loop's generator, resumable from ``checkpoint`` (default
    ``checkpoints/diffusion.resume.pt``). ``milestones``: learning-rate decays (x0.3; default
    none). The validation value is the epsilon MSE on 64 fixed training patches.
    """
    from ..diffusion import DiffusionModel, diffusion_batches, epsilon_loss

    s = profile_sizes(DIFFUSION_SIZES, profile, n_steps)
    ckpt = checkpoint_path("diffusion", checkpoint)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = DiffusionModel(**s["config"])
    batches = diffusion_batches([data.load_image(n) for n in data.TRAIN_IMAGES], s["patch"],
                                s["batch"], model.T)
    opt = torch.optim.AdamW(model.parameters(), lr=s["lr"])
    hist = fit(model.to(device), epsilon_loss, batches, s["n_steps"], optimizer=opt,
               milestones=milestones or [], gamma=0.3,
               val_fn=lambda m: _diffusion_validation(m, s["patch"]), val_every=500, checkpoint=ckpt, checkpoint_every=100, log_every=100,
               progress=progress, seed=0, grad_clip=1.0, desc="diffusion", ema=s["ema"])
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": hist.ema or model.state_dict(), "config": s["config"],
                    "model": "diffusion"}, out)
    print(f"diffusion: {hist.steps} steps, {hist.seconds:.0f} s, validation eps-MSE "
          f"{hist.val_values[-1] if hist.val_values else float('nan'):.4f}")
    return {"history": hist, "sizes": s, "checkpoint": ckpt}


def export_diffusion(profile: str, checkpoint: str | Path | None = None,
                     milestones: Sequence[int] | None = None, note: str | None = None,
                     directory: str | Path | None = None) -> dict:
    """Ship the diffusion prior (EMA weights, float16) with its manifest entry."""
    from .. import diffusion  # noqa: F401  (registers the model kind)
    from ..training import load_checkpoint

    ckpt = checkpoint_path("diffusion", checkpoint)
    steps = int(load_checkpoint(ckpt)["step"])
    s = DIFFUSION_SIZES[profile]
    decay = "" if not milestones else " --decay-at " + " ".join(map(str, milestones))
    return weights.export(
        "diffusion", ckpt, kind="diffusion", config=s["config"],
        command=f"python -m mbdl_teach.recipes diffusion --profile {profile} --steps {steps}{decay}",
        profile=profile,
        schedule=(f"AdamW lr {s['lr']:g}, EMA {s['ema']:g}, grad-norm clip 1"
                  + (f", x0.3 at steps {list(milestones)}" if milestones else "")),
        data={"images": list(data.TRAIN_IMAGES), "patch": s["patch"], "batch": s["batch"],
              "patches_seen": steps * s["batch"], "description": DIFFUSION_DATA},
        directory=directory, note=note, extra={"machine": machine()}, half=True)
