"""The per-panel X-ray separation networks of chapter 08, one recipe each.

Every network is trained on its own panel (the method needs no other data): for each
held-out panel of :data:`PANELS` four variants of :data:`SETTINGS`, all started from the
degree-3 regression split. Self-supervised runs take at most ``STEPS[variant]`` steps
(chosen on :data:`TRAINING_PANELS`, ``benchmarks/xray_separation.py --budget``), keep the
state with the lowest exclusion loss on the whole panel and stop when it rises; the
supervised bound (an oracle trained on the truth) keeps its state of lowest error.

``xray_pretrained`` is another kind of network: trained once, with the truth, on
synthetic panels of training images (:data:`PRETRAIN`), and then used on any panel as it is
(``xray.separate``'s default).
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
#: Panels of training images that pre-training leaves out and chooses its state on.
VALIDATION_PANELS = TRAINING_PANELS + [("brick", "clock", 11), ("rocket", "grass", 12),
                                       ("page", "coffee", 13)]
#: Panels no network or setting was chosen on, mixed from test images the way a user
#: would: other pairs and seeds than :data:`PANELS` (``benchmarks/xray_separation.py
#: --unseen``, and chapter 08's last section).
UNSEEN_PANELS = [("camera", "moon", 21), ("coins", "ascent", 22), ("moon", "coins", 23),
                 ("ascent", "moon", 24), ("coins", "camera", 25), ("camera", "ascent", 26),
                 ("moon", "camera", 27), ("ascent", "coins", 28)]
#: Supervised pre-training on synthetic panels of training images (``xray_pretrained``):
#: ``n_panels`` random pairs (the validation pairs left out), noise drawn in ``noise``.
PRETRAIN = dict(n_panels=32, noise=(0.003, 0.02), val_noise=0.01, n_steps=1500, lr=1e-3,
                patch=32, batch=16, val_every=250)
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


# ------------------------------------------------------------------ the pre-trained network
def pretraining_data(seed: int = 0, size: int = SIZE):
    """The pre-training panels (seeded) and the validation panels of training images."""
    val = [xray.synthetic_panel(v, c, seed=s, size=size, noise=PRETRAIN["val_noise"])
           for v, c, s in VALIDATION_PANELS]
    panels = xray.random_panels(PRETRAIN["n_panels"], size=size, noise=PRETRAIN["noise"],
                                seed=1 + seed, exclude=[(v, c) for v, c, _ in VALIDATION_PANELS])
    return panels, val


def pretrain(seed: int = 0, n_steps: int | None = None, progress: bool = False, checkpoint=None):
    """A fresh network (seeded) pre-trained as ``xray_pretrained`` is.

    Returns
    -------
    (SeparationNet, History)
    """
    panels, val = pretraining_data(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = xray.SeparationNet(**NET)
    kw = {k: PRETRAIN[k] for k in ("lr", "patch", "batch", "val_every")}
    hist = xray.pretrain_separation(net, panels, n_steps or PRETRAIN["n_steps"], val_panels=val,
                                    seed=seed, progress=progress, checkpoint=checkpoint, **kw)
    return net, hist


def train_xray_pretrained(profile: str = "quick", out=None, n_steps: int | None = None,
                          progress: bool = True, milestones=None, checkpoint=None) -> dict:
    """Recipe ``xray_pretrained``: :class:`mbdl_teach.xray.SeparationNet` pre-trained with
    the truth of :data:`PRETRAIN` ``["n_panels"]`` synthetic panels of training images,
    keeping its state of best mean gain over regression on :data:`VALIDATION_PANELS`."""
    ckpt = checkpoint_path("xray_pretrained", checkpoint)
    net, hist = pretrain(0, n_steps, progress, checkpoint=ckpt)  # resumable from ckpt
    # the best state, with the run's history, is what ships (export reads this file)
    training.save_checkpoint(xray.training.best_checkpoint(ckpt), net, step=net.best_step,
                             history=hist, extra={"value": max(hist.val_values),
                                                  "budget": int(n_steps or PRETRAIN["n_steps"])})
    print(f"xray_pretrained: {hist.steps} steps (best {net.best_step}), {hist.seconds:.0f} s, "
          f"validation gain {max(hist.val_values):+.2f} dB")
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": net.state_dict(), "config": net.config}, out)
    return {"history": hist, "model": net, "checkpoint": ckpt}


def export_xray_pretrained(profile: str = "quick", checkpoint=None, milestones=None,
                           directory=None) -> dict:
    """Ship ``xray_pretrained`` with its gain over regression on the validation panels."""
    ckpt = checkpoint_path("xray_pretrained", checkpoint)
    best = xray.training.best_checkpoint(ckpt)
    state = training.load_checkpoint(best)
    n = int(state["extra"].get("budget", PRETRAIN["n_steps"]))
    net = xray.SeparationNet(**NET)
    net.load_state_dict(state["model"])
    _, val = pretraining_data(0)
    gain = xray.network_gains(net, val)
    steps = "" if n == PRETRAIN["n_steps"] else f" --steps {n}"
    return weights.export(
        "xray_pretrained", best, kind="xray_pretrained", config=net.config, profile=profile,
        command=f"python -m mbdl_teach.recipes xray_pretrained{steps} --export",
        schedule=f"Adam lr {PRETRAIN['lr']:g} (x0.3 after 70 %), {n} steps, "
                 f"{PRETRAIN['patch']}x{PRETRAIN['patch']} patches, batch {PRETRAIN['batch']}, "
                 f"supervised (the truth of synthetic panels), best of checks every "
                 f"{PRETRAIN['val_every']} steps on the validation panels",
        data={"images": "data.TRAIN_IMAGES", "n_panels": PRETRAIN["n_panels"],
              "noise": list(PRETRAIN["noise"]), "size": SIZE, "seed": 1,
              "validation_panels": [list(v) for v in VALIDATION_PANELS],
              "val_noise": PRETRAIN["val_noise"]},
        directory=directory,
        note="pre-trained on synthetic panels of training images; separates a new panel "
             "without training (xray.separate's default)",
        extra={"val_gain": [[round(float(v), 2) for v in row] for row in gain],
               "machine": machine(),
               "resume": f"python -m mbdl_teach.recipes xray_pretrained --steps <more than {n}>"
                         f" --export  (continues from {ckpt.name}, the last state, and "
                         f"{best.name}, the best, in {ckpt.parent.name}/ of a clone)"})
