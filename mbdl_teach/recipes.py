"""How each shipped model of the course is trained, and the command line that runs it.

A recipe is ``fn(profile, out=None, n_steps=None, progress=True, milestones=None,
checkpoint=None) -> dict``: it builds the model, trains it with
:func:`mbdl_teach.training.fit` (resumable: running the same command again continues from
the checkpoint, and a larger ``--steps`` trains further), prints a summary and saves the
weights to ``out``. With ``--export`` the result goes into the package's weights and
manifest (:func:`mbdl_teach.weights.export`), recording the config, profile, schedule and
data that were actually trained::

    python -m mbdl_teach.recipes dncnn --profile quick --out runs/dncnn.pt
    python -m mbdl_teach.recipes dncnn --profile quick --steps 9000 --export
    torchrun --nproc-per-node 4 -m mbdl_teach.recipes winnet --profile full   # several GPUs

This module sits above the models (it imports them; none of them imports it).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from . import data, inn, solvers, weights
from .denoisers import DnCNN, denoising_loss
from .training import fit, init_distributed
from .unfolding import nmse_per_layer, train_unfolded

__all__ = ["RECIPES", "EXPORTERS", "DENOISER_SIZES", "LISTA_SIZES", "DIFFUSION_SIZES", "LFM_SIZES",
           "train_diffusion", "export_diffusion", "INN_SIZES", "export_inn", "register_recipe", "get_recipe",
           "train_denoiser", "validation_psnr", "export_denoiser", "train_lista", "main"]

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

_BUILDERS: dict[str, Callable[..., nn.Module]] = {"dncnn": DnCNN, "winnet": inn.WINNet}
DATA_DESCRIPTION = ("patches of data.TRAIN_IMAGES (gray, native size), random 90-degree "
                    "rotations and flips, noise sigma uniform in [lo, hi]/255 drawn per patch")


def _checkpoint_path(name: str, checkpoint: str | Path | None) -> Path:
    return Path(checkpoint) if checkpoint is not None else weights.RESUME_DIR / f"{name}.resume.pt"


def _machine() -> str:
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return (f"{cuda or platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPU cores, {torch.get_num_threads()} torch thread(s)")


def validation_psnr(model: nn.Module, sigma: float = 25.0) -> float:
    """Mean PSNR (dB) of ``model`` on two fixed training crops at ``sigma`` (/255).

    The crops come from ``aero`` and ``clock`` (training images: tuning never sees the
    held-out ones), with fixed noise.
    """
    from .metrics import psnr

    p = next(model.parameters())
    x = torch.stack([data.load_image(n)[:, 64:192, 64:192] for n in ("aero", "clock")])
    y = data.add_gaussian_noise(x, sigma / 255, generator=torch.Generator().manual_seed(7))
    x, y = x.to(p.device), y.to(p.device)
    s = torch.full((x.shape[0],), sigma / 255, device=p.device)
    out = model(y) if isinstance(model, DnCNN) else model(y, s)
    return float(psnr(out.clamp(0, 1), x).mean())


def _check_milestones(milestones, n_steps: int) -> list[int]:
    """The learning-rate decay steps: the default 80% of ``n_steps``, or checked integers."""
    if milestones is None:
        return [int(0.8 * n_steps)]
    out = [int(m) for m in milestones]
    if not out or any(m != v for m, v in zip(out, milestones)) or any(not 0 < m <= n_steps for m in out):
        raise ValueError(f"milestones must be steps in 1..{n_steps}, got {list(milestones)!r}")
    return sorted(out)


def _profile_sizes(table: dict, profile: str, n_steps: int | None) -> dict:
    """A copy of ``table[profile]`` with ``n_steps`` in place of the recipe's when given."""
    if profile not in table:
        raise ValueError(f"profile must be one of {sorted(table)}, got {profile!r}")
    s = dict(table[profile])
    if n_steps is not None:
        s["n_steps"] = int(n_steps)
    return s


def _sizes(name: str, profile: str, n_steps: int | None) -> dict:
    if name not in DENOISER_SIZES:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(sorted(DENOISER_SIZES))}")
    return _profile_sizes(DENOISER_SIZES[name], profile, n_steps)


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
    milestones = _check_milestones(milestones, s["n_steps"])
    out = Path(out) if out is not None else Path("runs") / f"{name}.pt"
    ckpt = _checkpoint_path(name, checkpoint)
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
    from .training import load_checkpoint

    ckpt = _checkpoint_path(name, checkpoint)
    steps = int(load_checkpoint(ckpt)["step"])
    s = _sizes(name, profile, steps)
    milestones = _check_milestones(milestones, steps)
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
        directory=directory, note=note, init=init, extra={"machine": _machine()})


#: Sizes of the LISTA recipe (the synthetic problem of chapter 06).
LISTA_SIZES = {
    "quick": dict(m=50, n=100, p=0.1, layers=16, batch=64, n_steps=2000, lr=3e-3, lam=0.2),
    "full": dict(m=250, n=500, p=0.1, layers=16, batch=64, n_steps=20000, lr=5e-4, lam=0.4),
}


def train_lista(profile: str = "quick", out: str | Path | None = None,
                n_steps: int | None = None, progress: bool = True,
                milestones: Sequence[int] | None = None,
                checkpoint: str | Path | None = None) -> dict:
    """Recipe ``lista``: a 16-layer LISTA on the synthetic sparse-coding problem.

    Prints NMSE (dB) per layer of ISTA and LISTA on 1000 test codes; saves the weights
    (and the sizes) to ``out`` when given. ``milestones``: learning-rate decay steps (x0.3;
    default 60% and 85% of ``n_steps``).
    """
    s = _profile_sizes(LISTA_SIZES, profile, n_steps)
    prob = data.SyntheticSparse(s["m"], s["n"], s["p"], generator=torch.Generator().manual_seed(0))
    y_te, x_te = prob.sample(1000, torch.Generator().manual_seed(1))
    model = solvers.LISTA(prob.D, s["layers"], lam=s["lam"])
    n = s["n_steps"]
    hist = train_unfolded(model, prob.batches(s["batch"]), n, lr=s["lr"], progress=progress,
                          milestones=milestones or [max(1, int(0.6 * n)), max(1, int(0.85 * n))],
                          gamma=0.3, checkpoint=checkpoint)
    ours = nmse_per_layer(model, y_te, x_te)
    base = solvers.ista(y_te, prob.D, solvers.prox_l1(s["lam"]), s["layers"], ref=x_te)[1].nmse
    for k in range(1, s["layers"] + 1):
        print(f"layer {k:2d}  ISTA {base[k]:7.2f} dB  LISTA {ours[k]:7.2f} dB")
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": model.state_dict(), "sizes": s, "profile": profile}, out)
    return {"nmse_lista": ours, "nmse_ista": base, "history": hist, "sizes": s}


def _denoiser_recipe(name: str) -> Callable:
    def recipe(profile="quick", out=None, n_steps=None, progress=True, milestones=None,
               checkpoint=None):
        return train_denoiser(name, profile, out, n_steps, progress, milestones, checkpoint)

    recipe.__name__ = f"train_{name}"
    recipe.__doc__ = f"Recipe ``{name}``: see :data:`DENOISER_SIZES` and :func:`train_denoiser`."
    return recipe


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
    from .diffusion import diffusion_batches, epsilon_loss

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
    from .diffusion import DiffusionModel, diffusion_batches, epsilon_loss

    s = _profile_sizes(DIFFUSION_SIZES, profile, n_steps)
    ckpt = _checkpoint_path("diffusion", checkpoint)
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
    from . import diffusion  # noqa: F401  (registers the model kind)
    from .training import load_checkpoint

    ckpt = _checkpoint_path("diffusion", checkpoint)
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
        directory=directory, note=note, extra={"machine": _machine()}, half=True)


#: INDigo's invertible networks, one per degradation of chapter 07 (both profiles alike:
#: they are small and train in minutes). ``kernel_std``/``factor``: the degradation of
#: :func:`mbdl_teach.data.degraded_patches` they learn to simulate.
INN_SIZES = {
    # the papers' loss only: the best simulation, an inverse that amplifies noise ~20x
    "inn_blur_l2": dict(degradation=dict(kernel_std=1.6, factor=1), levels=1, steps=2,
                        hidden=16, blocks=1, patch=32, batch=16, n_steps=6000, lr=3e-3),
    # with the stability term of degradation_loss: a coarser simulation, a stable inverse
    "inn_blur": dict(degradation=dict(kernel_std=1.6, factor=1, max_inverse_gain=8.0),
                     levels=1, steps=2, hidden=16, blocks=1, patch=32, batch=16, n_steps=6000,
                     lr=3e-3, stability=0.01),
    "inn_sr4": dict(degradation=dict(kernel_std=None, factor=4), levels=2, steps=2, hidden=16,
                    blocks=1, patch=32, batch=16, n_steps=1000, lr=1e-3),
    # a camera: the blur, then noise, a saturating response and 8-bit quantisation
    # (inn.degradation.camera), learned from noisy pairs with a 16-piece response curve
    "inn_camera": dict(degradation=dict(kernel_std=1.6, factor=1, max_inverse_gain=8.0,
                                        camera=dict(sigma=0.01, k=3.0, bits=8)),
                       levels=1, steps=2, hidden=16, blocks=1, patch=32, batch=16,
                       n_steps=4000, lr=3e-3, stability=0.01, response=16),
}


def _inn_recipe(name: str) -> Callable:
    def recipe(profile="quick", out=None, n_steps=None, progress=True, milestones=None,
               checkpoint=None):
        from .inn.degradation import train_degradation_inn

        s = dict(INN_SIZES[name])
        n = int(n_steps or s["n_steps"])
        inn, hist = train_degradation_inn(
            s["degradation"]["kernel_std"], s["degradation"]["factor"], s["levels"], n,
            steps=s["steps"], hidden=s["hidden"], blocks=s["blocks"], patch=s["patch"],
            batch=s["batch"], lr=s["lr"], stability=s.get("stability", 0.0),
            checkpoint=_checkpoint_path(name, checkpoint),
            progress=progress, camera_args=s["degradation"].get("camera"),
            response=s.get("response", 0))
        print(f"{name}: {hist.steps} steps, {hist.seconds:.0f} s, coarse MSE (last 100) "
              f"{sum(hist.losses[-100:]) / len(hist.losses[-100:]):.3g}")
        return {"history": hist, "model": inn}

    recipe.__name__ = f"train_{name}"
    recipe.__doc__ = (f"Recipe ``{name}``: a :class:`mbdl_teach.inn.DegradationINN` trained to "
                      f"simulate {INN_SIZES[name]['degradation']} (see :data:`INN_SIZES`).")
    return recipe


def export_inn(name: str, profile: str, checkpoint: str | Path | None = None,
               milestones=None, directory: str | Path | None = None) -> dict:
    """Ship one of :data:`INN_SIZES` from its checkpoint."""
    from .inn import degradation  # noqa: F401  (registers the model kind)
    from .training import load_checkpoint

    ckpt = _checkpoint_path(name, checkpoint)
    steps = int(load_checkpoint(ckpt)["step"])
    s = INN_SIZES[name]
    return weights.export(
        name, ckpt, kind="degradation_inn",
        config=dict(levels=s["levels"], steps=s["steps"], hidden=s["hidden"], blocks=s["blocks"],
                    **({"response": s["response"]} if s.get("response") else {})),
        command=f"python -m mbdl_teach.recipes {name} --steps {steps}", profile=profile,
        schedule=(f"Adam lr {s['lr']:g}, x0.3 at step {int(0.8 * steps)}"
                  + (f", stability weight {s['stability']:g}" if s.get("stability") else "")),
        data={"images": list(data.TRAIN_IMAGES), "patch": s["patch"], "batch": s["batch"],
              "description": "noise-free pairs of data.degraded_patches (finer grid, "
                             "oversample 2), block-averaged to the coarse resolution"},
        directory=directory, extra={"machine": _machine(), "degradation": s["degradation"]})


#: Chapter 10's unfolded light-field networks (both profiles alike: a few hundred numbers,
#: minutes on a CPU). The labelled-only one is the ablation of the re-synthesis loss. A size
#: ``adversarial=w`` adds the critic's term with weight w (off in every shipped network).
_LFM_BASE = dict(lenslets=(21, 21), n_layers=3, rank=48, batch=4, n_steps=1500, lr=1e-2,
                 photons=(50.0, 5000.0))
LFM_SIZES = {
    "lfm_unfolded": dict(_LFM_BASE, n_labelled=8, n_unlabelled=56, resynthesis=1.0),
    "lfm_unfolded_labelled": dict(_LFM_BASE, n_labelled=8, n_unlabelled=0, resynthesis=0.0),
    # one labelled volume: where the unlabelled light fields should matter most
    "lfm_unfolded_one": dict(_LFM_BASE, n_labelled=1, n_unlabelled=63, resynthesis=1.0),
    "lfm_unfolded_one_labelled": dict(_LFM_BASE, n_labelled=1, n_unlabelled=0,
                                      resynthesis=0.0),
    # a smaller, faster network: 2 layers, 32 eigenvectors per frequency
    "lfm_unfolded_fast": dict(_LFM_BASE, n_layers=2, rank=32, n_labelled=8, n_unlabelled=56,
                              resynthesis=1.0),
    # the fastest: one layer (a learned eigen-domain filter of H^T y, then ReLU)
    "lfm_unfolded_single": dict(_LFM_BASE, n_layers=1, rank=32, n_labelled=8,
                                n_unlabelled=56, resynthesis=1.0),
    "lfm_unfolded_single_labelled": dict(_LFM_BASE, n_layers=1, rank=32, n_labelled=8,
                                         n_unlabelled=0, resynthesis=0.0),
}


def _lfm_setup(name: str):
    """Recipe ``name``'s sizes, its optics and the shipped network's config (JSON-ready)."""
    import dataclasses

    from . import lfm

    s = LFM_SIZES[name]
    optics = lfm.Optics()
    config = {"optics": {k: list(v) if isinstance(v, tuple) else v
                         for k, v in dataclasses.asdict(optics).items()},
              "lenslets": list(s["lenslets"]), "n_layers": s["n_layers"], "rank": s["rank"]}
    return s, optics, config


def _lfm_recipe(name: str) -> Callable:
    def recipe(profile="quick", out=None, n_steps=None, progress=True, milestones=None,
               checkpoint=None):
        """Recipe ``lfm_unfolded*``: :class:`mbdl_teach.lfm.UnfoldedLFM`, semi-supervised.

        Training light fields come from the finer model (:class:`mbdl_teach.lfm.FineModel`),
        fresh noise at every step; validation: mean PSNR on 4 validation volumes at 1000
        photons.
        """
        from . import lfm

        s, optics, config = _lfm_setup(name)
        steps = n_steps or s["n_steps"]
        ckpt = _checkpoint_path(name, checkpoint)
        fine = lfm.FineModel(optics)
        x, y, labelled = lfm.training_set(fine, s["lenslets"], s["n_labelled"], s["n_unlabelled"])
        xv, yv = fine.sample(s["lenslets"], 4, seed=lfm.VALIDATION_SEED)
        yv = lfm.add_noise(yv, 1000.0, seed=lfm.VALIDATION_SEED).clamp_min(0)
        net = lfm.build_unfolded(**config)
        model = net
        if s.get("adversarial", 0) > 0:  # the option of the TCI paper; no shipped net uses it
            model = lfm.WithCritic(net, lfm.Critic(optics.n_depths))

        def val_fn(model):
            with torch.no_grad():
                return float(lfm.volume_psnr(model(yv), xv).mean())

        hist = fit(model, lfm.lfm_loss(net.op, s["resynthesis"], s.get("adversarial", 0.0)),
                   lfm.lfm_batches(x, y, labelled, s["batch"], s["photons"]), steps,
                   lr=s["lr"], milestones=milestones or [2 * steps // 3], gamma=0.3,
                   val_fn=val_fn, val_every=100, checkpoint=ckpt, checkpoint_every=50,
                   log_every=50, progress=progress, seed=0, desc=name)
        if out is not None:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            torch.save({"state_dict": net.state_dict(), "config": config,
                        "model": "lfm_unfolded"}, out)
        print(f"{name}: {hist.steps} steps, {hist.seconds:.0f} s, validation PSNR "
              f"{hist.val_values[-1] if hist.val_values else float('nan'):.2f} dB")
        return {"history": hist, "sizes": s, "checkpoint": ckpt}

    return recipe


def export_lfm(name: str, profile: str, checkpoint: str | Path | None = None,
               milestones: Sequence[int] | None = None, note: str | None = None,
               directory: str | Path | None = None) -> dict:
    """Ship an unfolded light-field network with its manifest entry."""
    from . import lfm
    from .training import load_checkpoint

    s, optics, config = _lfm_setup(name)
    if s.get("adversarial", 0) > 0:
        raise ValueError(f"{name} trains a critic beside the network: ship the network alone "
                         "(its state under 'net.'), which this exporter does not do")
    ckpt = _checkpoint_path(name, checkpoint)
    state = load_checkpoint(ckpt)
    steps = int(state["step"])
    decay = milestones or [2 * steps // 3]
    net = lfm.build_unfolded(**config)
    net.load_state_dict(state["model"])
    p_net, p_init = lfm.check_psnr(net)
    labelled = (f"{s['n_labelled']} labelled volumes"
                + (f" + {s['n_unlabelled']} unlabelled light fields (re-synthesis loss x "
                   f"{s['resynthesis']:g})" if s["n_unlabelled"] else " only"))
    return weights.export(
        name, ckpt, kind="lfm_unfolded", config=config,
        command=f"python -m mbdl_teach.recipes {name} --steps {steps}"
                + ("" if milestones is None else " --decay-at " + " ".join(map(str, milestones))),
        profile=profile,
        schedule=f"Adam lr {s['lr']:g}, x0.3 at steps {list(decay)}, batch {s['batch']}",
        data={"volumes": labelled, "lenslets": list(s["lenslets"]),
              "photons": list(s["photons"]), "seed": lfm.TRAINING_SEED,
              "description": "synthetic neuron volumes; light fields from the finer model "
                             "(2x voxels and depths), Poisson + read noise drawn at every step"},
        directory=directory, note=note,
        extra={"machine": _machine(), "check_psnr": round(p_net, 3),
               "check_psnr_untrained": round(p_init, 3)})


#: name -> recipe (``fn(profile, out, n_steps, progress, milestones, checkpoint)``).
RECIPES: dict[str, Callable] = {"lista": train_lista, "diffusion": train_diffusion}
RECIPES.update({name: _inn_recipe(name) for name in INN_SIZES})
RECIPES.update({name: _denoiser_recipe(name) for name in DENOISER_SIZES})
#: name -> exporter (``fn(profile, checkpoint, milestones)``): the recipes ``--export`` ships.
RECIPES.update({name: _lfm_recipe(name) for name in LFM_SIZES})
EXPORTERS: dict[str, Callable] = {"diffusion": export_diffusion}
EXPORTERS.update({name: (lambda p, c, m, _n=name: export_lfm(_n, p, c, m)) for name in LFM_SIZES})
EXPORTERS.update({name: (lambda p, c, m, _n=name: export_inn(_n, p, c, m)) for name in INN_SIZES})
EXPORTERS.update({name: (lambda p, c, m, _n=name: export_denoiser(_n, p, c, m))
                  for name in DENOISER_SIZES})


def register_recipe(name: str, fn: Callable) -> None:
    """Register a training recipe under ``name``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a recipe name must be a non-empty string, got {name!r}")
    if not callable(fn):
        raise TypeError(f"a recipe must be callable, got {fn!r}")
    RECIPES[name] = fn


def get_recipe(name: str) -> Callable:
    """The recipe registered under ``name``; an unknown name lists the known ones."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line: ``python -m mbdl_teach.recipes NAME --profile quick|full ...``."""
    parser = argparse.ArgumentParser(prog="python -m mbdl_teach.recipes",
                                     description="Train one of the course's models.")
    parser.add_argument("model", help=f"recipe name, one of: {', '.join(sorted(RECIPES))}")
    parser.add_argument("--profile", choices=("quick", "full"), default="quick")
    parser.add_argument("--out", type=Path, default=None, help="where to save the weights")
    parser.add_argument("--steps", type=int, default=None,
                        help="total number of training steps (default: the recipe's)")
    parser.add_argument("--decay-at", type=int, nargs="+", default=None, metavar="STEP",
                        help="steps at which the learning rate is multiplied by 0.3 "
                             "(default: the recipe's)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="resumable checkpoint (default: checkpoints/NAME.resume.pt)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: a shared CPU trains best on one)")
    parser.add_argument("--export", action="store_true",
                        help="ship the result: weights file and manifest entry in the package")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        recipe = get_recipe(args.model)
    except ValueError as err:
        parser.error(str(err))
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    if args.export and args.model not in EXPORTERS:
        parser.error(f"--export ships {', '.join(sorted(EXPORTERS))}, not {args.model!r}")
    torch.set_num_threads(args.threads)  # a program, not a library call: it may set this
    init_distributed()
    extra = {} if args.decay_at is None else {"milestones": args.decay_at}
    result = recipe(args.profile, out=args.out, n_steps=args.steps,
                    progress=not args.no_progress, checkpoint=args.checkpoint, **extra)
    if args.export:
        entry = EXPORTERS[args.model](args.profile, args.checkpoint, args.decay_at)
        print(f"{args.model}: exported {entry['file']} ({entry['bytes']} bytes, "
              f"sha256 {entry['sha256'][:12]}...)")
    return result


if __name__ == "__main__":
    main()
