"""INDigo's invertible networks (chapter 07): one recipe per degradation."""

from __future__ import annotations

from pathlib import Path

from .. import data, weights
from .common import checkpoint_path, machine


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


def train_inn(name: str, profile: str = "quick", out=None, n_steps: int | None = None,
              progress: bool = True, milestones=None, checkpoint=None) -> dict:
    """Recipe ``inn_*``: a :class:`mbdl_teach.inn.DegradationINN` trained to simulate the
    degradation of ``INN_SIZES[name]`` (both profiles alike)."""
    from ..inn.degradation import train_degradation_inn

    s = dict(INN_SIZES[name])
    n = int(n_steps or s["n_steps"])
    inn, hist = train_degradation_inn(
        s["degradation"]["kernel_std"], s["degradation"]["factor"], s["levels"], n,
        steps=s["steps"], hidden=s["hidden"], blocks=s["blocks"], patch=s["patch"],
        batch=s["batch"], lr=s["lr"], stability=s.get("stability", 0.0),
        checkpoint=checkpoint_path(name, checkpoint),
        progress=progress, camera_args=s["degradation"].get("camera"),
        response=s.get("response", 0))
    print(f"{name}: {hist.steps} steps, {hist.seconds:.0f} s, coarse MSE (last 100) "
          f"{sum(hist.losses[-100:]) / len(hist.losses[-100:]):.3g}")
    return {"history": hist, "model": inn}


def export_inn(name: str, profile: str, checkpoint: str | Path | None = None,
               milestones=None, directory: str | Path | None = None) -> dict:
    """Ship one of :data:`INN_SIZES` from its checkpoint."""
    from ..inn import degradation  # noqa: F401  (registers the model kind)
    from ..training import load_checkpoint

    ckpt = checkpoint_path(name, checkpoint)
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
        directory=directory, extra={"machine": machine(), "degradation": s["degradation"]})
