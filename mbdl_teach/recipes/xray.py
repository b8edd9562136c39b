"""The per-panel X-ray separation networks of chapter 08, one recipe each.

Every network is trained on its own panel (the method needs no other data): for each
held-out panel of :data:`PANELS` four variants of :data:`SETTINGS`, all started from the
degree-3 regression split. Self-supervised runs take at most ``STEPS[variant]`` steps
(chosen on :data:`TRAINING_PANELS`, ``benchmarks/xray_separation.py --budget``), keep the
state with the lowest exclusion loss on the whole panel and stop when it rises; the
supervised bound (an oracle trained on the truth) keeps its state of lowest error.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .. import training, weights, xray
from .common import checkpoint_path, machine

#: Held-out panels: (visible, concealed, seed).
PANELS = [("ascent", "camera", 1), ("camera", "coins", 2), ("moon", "ascent", 3)]
#: Panels of training images, where the hyper-parameters and the step budget were chosen.
TRAINING_PANELS = [("astronaut", "chelsea", 0), ("coffee", "aero", 4),
                   ("chelsea", "astronaut", 5)]
#: The training hyper-parameters (chosen on a panel of training images, astronaut/chelsea).
SETTINGS = dict(
    ablation=dict(photo=0.5, exclusion=0.0, lr=3e-4, early_stop=False),
    method=dict(photo=0.5, exclusion=1.0, lr=3e-4),
    exclusion_only=dict(photo=0.0, exclusion=1.0, lr=3e-4),
    # the oracle: trained on the truth, longer, kept at its best truth MSE (no early stop)
    supervised=dict(supervised=True, lr=1e-3, patience=10**9),
)
#: Most training steps per variant.
STEPS = dict(ablation=150, method=150, exclusion_only=150, supervised=5000)
NET = dict(n_layers=5, n_atoms=16, filter_size=4, degree=3)
SIZE = 128
#: shipped name -> (panel index, variant)
XRAY_MODELS = {f"xray_{vis}_{variant}": (i, variant)
               for i, (vis, _, _) in enumerate(PANELS) for variant in SETTINGS}


def train_on_panel(p: xray.Panel, seed: int, n_steps: int, degree: int = NET["degree"],
                   truth=None, patience: int = 3, progress: bool = False, **kw):
    """A fresh network (seeded) trained on panel ``p`` as every run of the chapter is:
    32x32 patches, batch 8, the exclusion (or truth) checked every 10 steps.

    Returns
    -------
    (SeparationNet, History)
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = xray.SeparationNet(**(NET | {"degree": degree}))
    hist = xray.train_separation(net, p.x, p.r1, n_steps=n_steps, truth=truth, patch=32,
                                 batch=8, check_every=10, patience=patience, seed=seed,
                                 progress=progress, **kw)
    return net, hist


def _panel(name: str):
    if name not in XRAY_MODELS:
        raise ValueError(f"unknown X-ray network {name!r}; known: {', '.join(XRAY_MODELS)}")
    i, variant = XRAY_MODELS[name]
    vis, con, seed = PANELS[i]
    return i, variant, (vis, con, seed), xray.synthetic_panel(vis, con, seed=seed, size=SIZE)


def train_xray(name: str, profile: str = "quick", out: str | Path | None = None,
               n_steps: int | None = None, progress: bool = True, milestones=None,
               checkpoint: str | Path | None = None) -> dict:
    """Train the shipped network ``name`` (one of :data:`XRAY_MODELS`) on its panel and
    save its best state as a checkpoint (default ``checkpoints/<name>.resume.pt``).

    ``n_steps`` replaces the variant's budget; ``profile`` and ``milestones`` do not apply
    (one size, a constant learning rate)."""
    _, variant, (_, _, seed), p = _panel(name)
    kw = SETTINGS[variant]
    n = int(n_steps or STEPS[variant])
    truth = (p.x1, p.x2) if kw.get("supervised") else None
    net, hist = train_on_panel(p, seed, n, truth=truth, progress=progress, **kw)
    ckpt = checkpoint_path(name, checkpoint)
    training.save_checkpoint(ckpt, net, step=net.best_step, history=hist,
                             extra={"budget": n})
    with torch.no_grad():
        x1, x2 = net(p.x, p.r1)
    scores = {"x1_psnr": round(xray.mean_matched_psnr(x1, p.x1), 2),
              "x2_psnr": round(xray.mean_matched_psnr(x2, p.x2), 2)}
    print(f"{name}: {hist.steps} steps (best {net.best_step}), {hist.seconds:.0f} s, "
          f"x1 {scores['x1_psnr']:.2f} dB, x2 {scores['x2_psnr']:.2f} dB")
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": net.state_dict(), "config": net.config}, out)
    return {"history": hist, "model": net, "scores": scores, "checkpoint": ckpt}


def export_xray(name: str, profile: str = "quick", checkpoint: str | Path | None = None,
                milestones=None, directory: str | Path | None = None) -> dict:
    """Ship the network ``name`` from its checkpoint, with its x2 PSNR on its own panel
    (what the shipped check compares against)."""
    _, variant, (vis, con, seed), p = _panel(name)
    kw = SETTINGS[variant]
    ckpt = checkpoint_path(name, checkpoint)
    state = training.load_checkpoint(ckpt)
    n = int(state["extra"].get("budget", STEPS[variant]))
    net = xray.SeparationNet(**NET)
    net.load_state_dict(state["model"])
    with torch.no_grad():
        _, x2 = net(p.x, p.r1)
    budget = "" if n == STEPS[variant] else f" --steps {n}"
    return weights.export(
        name, ckpt, kind="xray_separation", config=net.config, profile=profile,
        command=f"python -m mbdl_teach.recipes {name}{budget} --export",
        schedule=f"Adam lr {kw['lr']:g}, 32x32 patches of the panel, batch 8, at most "
                 f"{n} steps, checks every 10 steps",
        data={"panel": [vis, con, seed], "size": SIZE,
              "truth_used": bool(kw.get("supervised"))},
        directory=directory,
        note=f"{variant} network of the chapter-08 table, for this one panel",
        extra={"panel": {"visible": vis, "concealed": con, "seed": seed, "size": SIZE},
               "psnr_x2": round(xray.mean_matched_psnr(x2, p.x2), 2),
               "machine": machine()})
