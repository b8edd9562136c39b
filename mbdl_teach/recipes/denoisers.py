"""Recipes of the shipped denoisers (chapter 04): DnCNN and WINNet, blind on sigma in
[0, 25]/255 and fine-tuned at 50."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from .. import data, weights
from ..denoisers import DnCNN, WINNet, denoising_loss
from ..training import fit
from .common import check_milestones, checkpoint_path, machine, profile_sizes


#: Sizes of the denoiser recipes (patches of ``data.TRAIN_IMAGES``, 8 flips/rotations).
DENOISER_SIZES: dict[str, dict[str, dict]] = {
    "dncnn": dict(
        quick=dict(model="dncnn", config=dict(channels=1, depth=15, features=32), patch=40,
                   batch=32, n_steps=7000, lr=1e-3, sigma=(0.0, 25.0)),
        full=dict(model="dncnn", config=dict(channels=1, depth=17, features=64), patch=40,
                  batch=64, n_steps=100000, lr=1e-3, sigma=(0.0, 25.0)),
    ),
    "winnet": dict(
        quick=dict(model="winnet",
                   config=dict(in_channels=1, levels=1, steps=2, hidden=16, blocks=1,
                               lista_iters=4, lista_channels=32, sigma_train_max=25 / 255),
                   patch=32, batch=16, n_steps=4000, lr=1e-3, sigma=(0.0, 25.0)),
        full=dict(model="winnet",
                  config=dict(in_channels=1, levels=1, steps=4, hidden=32, blocks=4,
                              lista_iters=4, lista_channels=64, sigma_train_max=25 / 255),
                  patch=40, batch=32, n_steps=100000, lr=1e-3, sigma=(0.0, 25.0)),
    ),
}
# The sigma-50 models (the non-blind optimum at 50, for the generalisation gap of chapter
# 04) start from the shipped sigma-[0, 25] weights ("init") and are fine-tuned at 50 only:
# on this CPU there is no time to train them from scratch.
_FINETUNE_STEPS = {"dncnn": dict(quick=500, full=20000), "winnet": dict(quick=1000, full=20000)}
for _base in ("dncnn", "winnet"):
    DENOISER_SIZES[_base + "50"] = {
        p: dict(s, sigma=(50.0, 50.0), init=_base, n_steps=_FINETUNE_STEPS[_base][p], lr=5e-4,
                config=dict(s["config"], **({"sigma_train_max": 50 / 255}
                                            if _base == "winnet" else {})))
        for p, s in DENOISER_SIZES[_base].items()
    }

_BUILDERS: dict[str, Callable[..., nn.Module]] = {"dncnn": DnCNN, "winnet": WINNet}
DATA_DESCRIPTION = ("patches of data.TRAIN_IMAGES (gray, native size), random 90-degree "
                    "rotations and flips, noise sigma uniform in [lo, hi]/255 drawn per patch")


def validation_psnr(model: nn.Module, sigma: float = 25.0) -> float:
    """Mean PSNR (dB) of ``model`` on two fixed training crops at ``sigma`` (/255).

    The crops come from ``aero`` and ``clock`` (training images: tuning never sees the
    held-out ones), with fixed noise.
    """
    from ..metrics import psnr

    p = next(model.parameters())
    x = torch.stack([data.load_image(n)[:, 64:192, 64:192] for n in ("aero", "clock")])
    y = data.add_gaussian_noise(x, sigma / 255, generator=torch.Generator().manual_seed(7))
    x, y = x.to(p.device), y.to(p.device)
    s = torch.full((x.shape[0],), sigma / 255, device=p.device)
    out = model(y, s)  # DnCNN ignores s
    return float(psnr(out.clamp(0, 1), x).mean())


def _sizes(name: str, profile: str, n_steps: int | None) -> dict:
    if name not in DENOISER_SIZES:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(sorted(DENOISER_SIZES))}")
    return profile_sizes(DENOISER_SIZES[name], profile, n_steps)


def train_denoiser(name: str, profile: str = "quick", out: str | Path | None = None,
                   n_steps: int | None = None, progress: bool = True,
                   milestones: Sequence[int] | None = None,
                   checkpoint: str | Path | None = None) -> dict:
    """Train one of :data:`DENOISER_SIZES` with :func:`mbdl_teach.training.fit`.

    The resumable checkpoint is ``checkpoint`` (default ``checkpoints/<name>.resume.pt``):
    running the same command again continues from it, and a larger ``n_steps`` trains
    further (a pending learning-rate decay moves with it). The weights
    ``{"state_dict", "config", "model"}`` go to ``out`` (default ``runs/<name>.pt``).
    ``milestones`` (steps at which the learning rate is multiplied by 0.3) replaces the
    default, 80% of ``n_steps``. The model is built on the GPU when there is one.
    """
    s = _sizes(name, profile, n_steps)
    milestones = check_milestones(milestones, s["n_steps"])
    out = Path(out) if out is not None else Path("runs") / f"{name}.pt"
    ckpt = checkpoint_path(name, checkpoint)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with torch.random.fork_rng(devices=[]):  # the same initial weights, no global seed set
        torch.manual_seed(0)
        model = _BUILDERS[s["model"]](**s["config"])
    if s.get("init") and not ckpt.is_file():  # fine-tuning starts from shipped weights
        model.load_state_dict(weights.load(s["init"])[0].state_dict())
        print(f"{name}: starting from the shipped {s['init']!r} weights")
    batches = data.denoising_batches([data.load_image(n) for n in data.TRAIN_IMAGES],
                                     s["patch"], s["batch"], s["sigma"])
    if s["model"] == "winnet" and device.type == "cpu":
        # depthwise convolutions run ~1.7x faster channels-last on the CPU
        model = model.to(memory_format=torch.channels_last)
        plain = batches
        batches = lambda step, g: tuple(  # noqa: E731
            t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 else t
            for t in plain(step, g))
    val_sigma = 25.0 if s["sigma"][1] <= 25 else s["sigma"][1]
    t0 = time.perf_counter()
    hist = fit(model.to(device), denoising_loss, batches, s["n_steps"], lr=s["lr"],
               milestones=milestones, gamma=0.3,
               val_fn=lambda m: validation_psnr(m, val_sigma), val_every=250,
               checkpoint=ckpt, checkpoint_every=100, log_every=100, progress=progress,
               seed=0, grad_clip=1.0, desc=name)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "config": s["config"], "model": s["model"]}, out)
    val = hist.val_values[-1] if hist.val_values else float("nan")
    print(f"{name}: {hist.steps} steps, {hist.seconds:.0f} s, validation PSNR {val:.2f} dB "
          f"at sigma {val_sigma:g}")
    return {"history": hist, "sizes": s, "milestones": milestones, "checkpoint": ckpt,
            "seconds": time.perf_counter() - t0}


def export_denoiser(name: str, profile: str, checkpoint: str | Path | None = None,
                    milestones: Sequence[int] | None = None, note: str | None = None,
                    directory: str | Path | None = None) -> dict:
    """Ship a trained denoiser: weights and manifest entry, from its checkpoint.

    Records the config, profile, schedule and data of ``profile`` (the one trained) and
    the command that rebuilds it.
    """
    from ..training import load_checkpoint

    ckpt = checkpoint_path(name, checkpoint)
    steps = int(load_checkpoint(ckpt)["step"])
    s = _sizes(name, profile, steps)
    milestones = check_milestones(milestones, steps)
    decay = "" if milestones == [int(0.8 * steps)] else " --decay-at " + " ".join(map(str, milestones))
    command = f"python -m mbdl_teach.recipes {name} --profile {profile} --steps {steps}{decay}"
    init = None
    if s.get("init"):
        init = {"from": s["init"], "sha256": weights.read_manifest(directory).get(s["init"], {}).get("sha256")}
    return weights.export(
        name, ckpt, kind=s["model"], config=s["config"], command=command, profile=profile,
        schedule=(f"Adam lr {s['lr']:g}, x0.3 at steps {milestones} of {steps}, "
                  "grad-norm clip 1"),
        data={"images": list(data.TRAIN_IMAGES), "patch": s["patch"], "batch": s["batch"],
              "patches_seen": steps * s["batch"], "sigma_range_255": list(s["sigma"]),
              "description": DATA_DESCRIPTION},
        directory=directory, note=note, init=init, extra={"machine": machine()})


# ----------------------------------------------------------- the papers' protocol (chapter 04)
#: The papers' networks at their published size, each trained at one noise level (the
#: papers' non-blind models): DnCNN-S (17 layers of 64 features) and WINNet with K = 1 (four
#: lifting steps, P/U networks of 32 channels and 4 blocks, a 4-iteration LISTA of 64).
PAPER_MODELS: dict[str, Callable[[float], nn.Module]] = {
    "DnCNN-S": lambda sigma: DnCNN(channels=1, depth=17, features=64),
    "WINNet": lambda sigma: WINNet(in_channels=1, levels=1, steps=4, hidden=32, blocks=4,
                                   lista_iters=4, lista_channels=64,
                                   sigma_train_max=sigma / 255),
}
#: Published mean PSNR (dB) at sigma 15 / 25 / 50 (/255), model -> set -> three numbers:
#: DnCNN-S from Zhang et al., IEEE TIP 2017 (also DPIR's grayscale table). WINNet's own
#: table is in Huang and Dragotti, IEEE TIP 2022; it is not copied here.
PUBLISHED: dict[str, dict[str, tuple[float, float, float]]] = {
    "DnCNN-S": {"set12": (32.86, 30.44, 27.18), "bsd68": (31.73, 29.23, 26.23)},
}
#: Which models train with bfloat16 forward passes on a GPU (``training.fit(autocast=)``):
#: the plain CNN; WINNet's invertible transform stays in float32.
PAPER_AUTOCAST = {"DnCNN-S": True, "WINNet": False}


def train_paper_denoiser(name: str, sigma: float, images: Sequence[torch.Tensor],
                         n_steps: int, batch: int = 128, patch: int = 40, lr: float = 1e-3,
                         device: str | torch.device | None = None, progress: bool = True,
                         seed: int = 0):
    """Train one of :data:`PAPER_MODELS` at noise level ``sigma`` (/255) on ``images``.

    Adam at ``lr``, x0.1 at 80% of ``n_steps``, grad-norm clip 1; random patches with
    flips and rotations (:func:`mbdl_teach.data.denoising_batches`). On a GPU, DnCNN's
    forward passes run in bfloat16 (:data:`PAPER_AUTOCAST`).

    Returns
    -------
    (nn.Module, training.History)
        The trained model (on ``device``) and its history.

    Raises
    ------
    ValueError
        An unknown model name.
    """
    if name not in PAPER_MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(PAPER_MODELS)}")
    with torch.random.fork_rng(devices=[]):  # the same initial weights, no global seed set
        torch.manual_seed(seed)
        model = PAPER_MODELS[name](sigma)
    device = torch.device(device) if device is not None else torch.device("cpu")
    batches = data.denoising_batches(list(images), patch, batch, (sigma, sigma))
    hist = fit(model.to(device), denoising_loss, batches, n_steps, lr=lr,
               milestones=[max(1, int(0.8 * n_steps))], gamma=0.1, grad_clip=1.0,
               progress=progress, seed=seed, desc=f"{name}, sigma {sigma:g}",
               autocast=PAPER_AUTOCAST[name])
    return model.eval(), hist


def set_psnr(den: Callable, images: Sequence[torch.Tensor], sigma: float,
             device: str | torch.device | None = None, seed: int = 0) -> float:
    """Mean PSNR (dB) of ``den`` over ``images`` at noise level ``sigma`` (/255).

    Each (1, H, W) image gets its own fixed noise draw (seeded by ``seed``, ``sigma`` and
    its position), is denoised whole at its own size, clipped to [0, 1] and compared with
    the clean image; the mean is over images, as the papers report.
    """
    from ..metrics import psnr

    if not images:
        raise ValueError("set_psnr needs at least one image")
    values = []
    for k, x in enumerate(images):
        g = torch.Generator().manual_seed(seed + 1000 * int(round(sigma)) + k)
        y = data.add_gaussian_noise(x[None], sigma / 255, generator=g)
        x, y = x[None].to(device), y.to(device)
        with torch.no_grad():
            out = den(y, torch.full((1,), sigma / 255, device=y.device))
        values.append(float(psnr(out.clamp(0, 1), x)))
    return float(sum(values) / len(values))
