"""Training the separation network on the panel itself, and :func:`separate`."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .. import weights
from ..training import History, fit, load_checkpoint, save_checkpoint
from .checks import check_pair, check_weight
from .exclusion import exclusion_loss
from .measures import mean_matched_psnr
from .network import SeparationNet
from .paint import Panel, synthetic_panel
from .regression import regression_split


def separation_loss(photo: float = 0.5, exclusion: float = 1.0, supervised: bool = False) -> Callable:
    """The training loss ``loss_fn(net, batch)`` for :func:`mbdl_teach.training.fit`.

    Self-supervised (the paper's): ``MSE(x1 + x2, x) + photo * MSE(Omega z1, r1)
    + exclusion * exclusion_loss(x1, x2)``. Supervised (the upper bound, needs the truth in
    the batch): ``MSE(x1 - mean, x1* - mean) + MSE(x2 - mean, x2* - mean)`` (means removed:
    the constant part of the split is not identifiable). A batch is the dict of
    :func:`panel_batches`.
    """
    photo, exclusion = check_weight(photo, "photo"), check_weight(exclusion, "exclusion")

    def loss_fn(net, b):
        z1, z2 = net.codes(b["x"], b["r1"], x1r=b["x1r"], x2r=b["x2r"])
        x1, x2 = net.Xi(z1), net.Xi(z2)
        if supervised:
            def c(t):
                return t - t.mean(dim=(-2, -1), keepdim=True)
            return F.mse_loss(c(x1), c(b["x1"])) + F.mse_loss(c(x2), c(b["x2"]))
        loss = F.mse_loss(x1 + x2, b["x"])
        if photo:
            loss = loss + photo * F.mse_loss(net.Omega(z1), b["r1"])
        if exclusion:
            loss = loss + exclusion * exclusion_loss(x1, x2)
        return loss

    return loss_fn


def _patch_batches(full: dict, patch: int, batch: int) -> Callable:
    """``batches(step, generator)`` drawing ``batch`` random ``patch`` x ``patch`` patches
    from the panels stacked in ``full`` (each value a tensor (N, 1, H, W)); the panel of each
    patch is drawn only when there are several, so one panel's stream is its positions."""
    n_panels, _, h, w = next(iter(full.values())).shape
    if not (isinstance(patch, int) and 8 <= patch <= min(h, w)):
        raise ValueError(f"patch must be an integer in [8, {min(h, w)}], got {patch!r}")

    def batches(step, generator):
        n = (torch.randint(0, n_panels, (batch,), generator=generator).tolist()
             if n_panels > 1 else [0] * batch)
        i = torch.randint(0, h - patch + 1, (batch,), generator=generator).tolist()
        j = torch.randint(0, w - patch + 1, (batch,), generator=generator).tolist()
        return {k: torch.stack([v[c, :, a:a + patch, b:b + patch] for c, a, b in zip(n, i, j)])
                for k, v in full.items()}

    return batches


def panel_batches(x, r1, patch: int = 64, batch: int = 16, degree: int = 2,
                  x1=None, x2=None) -> Callable:
    """``batches(step, generator)`` of random patches of one panel, for :func:`training.fit`.

    Each batch is a dict with ``x``, ``r1`` and the panel-wide regression split ``x1r``,
    ``x2r`` (computed once on the whole panel), plus ``x1``, ``x2`` when the truth is given.
    The one-panel case of :func:`pretrain_batches`.
    """
    check_pair(x, r1)
    if x.shape[0] != 1:
        raise ValueError(f"x must hold one panel (1, 1, H, W), got {tuple(x.shape)}")
    with torch.no_grad():
        x1r, x2r = regression_split(x, r1, degree)
    full = dict(x=x, r1=r1, x1r=x1r, x2r=x2r)
    if x1 is not None:
        full.update(x1=x1, x2=x2)
    return _patch_batches(full, patch, batch)


def train_separation(net: SeparationNet, x, r1, n_steps: int = 300, lr: float = 3e-4,
                     photo: float = 0.5, exclusion: float = 1.0, supervised: bool = False,
                     truth: tuple | None = None, seconds: float | None = None,
                     check_every: int = 25, patience: int = 2, early_stop: bool = True,
                     patch: int | None = None, batch: int = 8,
                     seed: int = 0, progress: bool = False, checkpoint=None) -> History:
    """Train ``net`` on one panel with :func:`training.fit`; keep the best state.

    Self-supervised (``supervised=False``): every ``check_every`` steps the exclusion loss of
    the whole panel's split is measured; training stops when it has risen above its best
    for ``patience`` checks in a row (or after ``seconds``), and the network returns to the
    state with the lowest exclusion loss seen (the start, the regression split, counts).
    Supervised: ``truth = (x1, x2)`` and the MSE against it decides instead. With
    ``early_stop=False`` (the ablation: no exclusion anywhere, not even to choose when to
    stop) it trains all ``n_steps`` and keeps the last state; the checks are still recorded.

    Returns
    -------
    History (``val_steps`` / ``val_values``: the monitored loss at each check)
    """
    if supervised and truth is None:
        raise ValueError("the supervised variant needs truth=(x1, x2)")
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    check_pair(x, r1)
    if patch is None:
        patch = min(48, *x.shape[-2:])
    batches = panel_batches(x, r1, patch, batch, net.degree,
                            *(truth if truth is not None else (None, None)))
    with torch.no_grad():
        x1r, x2r = regression_split(x, r1, net.degree)

    def monitor(model) -> float:
        was = model.training
        model.eval()
        with torch.no_grad():
            a, b = model(x, r1, x1r=x1r, x2r=x2r)
            if supervised:
                v = float(F.mse_loss(a - a.mean(), truth[0] - truth[0].mean())
                          + F.mse_loss(b - b.mean(), truth[1] - truth[1].mean()))
            else:
                v = float(exclusion_loss(a, b))
        model.train(was)
        return v

    best = {"value": monitor(net), "state": {k: v.clone() for k, v in net.state_dict().items()},
            "step": 0, "worse": 0}
    t0 = time.perf_counter()

    def callback(step, model, hist):
        if step % check_every and not (seconds and time.perf_counter() - t0 > seconds):
            return False
        v = monitor(model)
        hist.val_steps.append(step)
        hist.val_values.append(v)
        if not early_stop:
            best.update(state={k: t.clone() for k, t in model.state_dict().items()}, step=step)
        elif v < best["value"]:
            best.update(value=v, state={k: t.clone() for k, t in model.state_dict().items()},
                        step=step, worse=0)
        else:
            best["worse"] += 1
        return ((early_stop and best["worse"] >= patience)
                or bool(seconds and time.perf_counter() - t0 > seconds))

    hist = fit(net, separation_loss(photo, exclusion, supervised), batches, n_steps, lr=lr,
               seed=seed, progress=progress, callbacks=[callback], checkpoint=checkpoint,
               desc="supervised" if supervised else "self-supervised")
    if early_stop or hist.steps % check_every == 0:
        net.load_state_dict(best["state"])
        net.best_step = best["step"]
    else:
        net.best_step = hist.steps
    net.eval()
    return hist


def pretrain_batches(panels: list[Panel], patch: int = 32, batch: int = 16,
                     degree: int = 3) -> Callable:
    """``batches(step, generator)`` of random patches of random panels, with their truth.

    For :func:`pretrain_separation`: each item of a batch is a patch of one of ``panels``
    (drawn at random), with ``x``, ``r1``, that panel's regression split ``x1r``, ``x2r``
    (computed once on the whole panel) and the truth ``x1``, ``x2``.
    """
    if not panels or not all(isinstance(p, Panel) for p in panels):
        raise TypeError("panels must be a non-empty list of xray.Panel")
    shapes = {tuple(p.x.shape[-2:]) for p in panels}
    if len(shapes) != 1:
        raise ValueError(f"the panels must have one size, got {sorted(shapes)}")
    with torch.no_grad():
        splits = [regression_split(p.x, p.r1, degree) for p in panels]
    full = {"x": torch.cat([p.x for p in panels]), "r1": torch.cat([p.r1 for p in panels]),
            "x1r": torch.cat([s[0] for s in splits]), "x2r": torch.cat([s[1] for s in splits]),
            "x1": torch.cat([p.x1 for p in panels]), "x2": torch.cat([p.x2 for p in panels])}
    return _patch_batches(full, patch, batch)


def gain_over_regression(x1: torch.Tensor, x2: torch.Tensor, panel: Panel,
                         degree: int = 3) -> torch.Tensor:
    """PSNR of a split ``(x1, x2)`` of ``panel`` minus the regression split's.

    Parameters
    ----------
    x1, x2 : Tensor, shape (1, 1, H, W)
        A separation of ``panel.x`` (any method's output).
    panel : Panel
        With its truth ``x1``, ``x2``.
    degree : int
        The regression's degree (3, the course's baseline).

    Returns
    -------
    Tensor, shape (2,)
        The gain for ``x1`` and for ``x2`` (dB, each after mean matching).
    """
    if not isinstance(panel, Panel):
        raise TypeError(f"panel must be an xray.Panel, got {type(panel).__name__}")
    r = regression_split(panel.x, panel.r1, degree)
    return torch.tensor([mean_matched_psnr(e.cpu(), t) - mean_matched_psnr(b, t)
                         for e, b, t in zip((x1, x2), r, (panel.x1, panel.x2))])


def network_gains(net: SeparationNet, panels: list[Panel], degree: int = 3) -> torch.Tensor:
    """:func:`gain_over_regression` of ``net``'s split of every panel (in eval mode).

    Returns
    -------
    Tensor, shape (len(panels), 2)
    """
    was = net.training
    net.eval()
    with torch.no_grad():
        out = torch.stack([gain_over_regression(*net(p.x, p.r1), p, degree) for p in panels])
    net.train(was)
    return out


def pretrain_separation(net: SeparationNet, panels: list[Panel], n_steps: int = 1500,
                        lr: float = 1e-3, val_panels: list[Panel] | None = None,
                        val_every: int = 250, patch: int = 32, batch: int = 16, seed: int = 0,
                        progress: bool = False, checkpoint=None) -> History:
    """Train ``net`` on many synthetic panels with their truth (supervised pre-training).

    The loss is the supervised one of :func:`separation_loss` on patches of ``panels``
    (:func:`pretrain_batches`); Adam at ``lr``, decayed by 0.3 after 70 % of the steps.
    With ``val_panels``, every ``val_every`` steps the mean gain over the regression split
    on them (x1 and x2 averaged, :func:`network_gains`) is recorded and the network
    returns to its best state; without, it keeps the last state.

    With ``checkpoint`` the run is resumable: :func:`training.fit` keeps the last state
    there (model, optimizer, schedule, random state), and the best state so far is kept
    beside it in ``<checkpoint stem>.best.pt``; a run with more ``n_steps`` continues from
    both.

    Returns
    -------
    History (``val_values``: the mean gain in dB at each check)
    """
    if not isinstance(net, SeparationNet):
        raise TypeError(f"net must be a SeparationNet, got {type(net).__name__}")
    batches = pretrain_batches(panels, patch, batch, net.degree)
    best = {"value": -float("inf"), "state": None, "step": n_steps}
    best_file, start = None, 0
    if checkpoint is not None:
        best_file = best_checkpoint(checkpoint)
        if Path(checkpoint).is_file():
            start = int(load_checkpoint(checkpoint)["step"])
            if best_file.is_file():
                kept = load_checkpoint(best_file)
                best.update(value=kept["extra"]["value"], state=kept["model"],
                            step=kept["step"])
    checks = [start]

    def val_fn(model):
        checks[0] = min(checks[0] + val_every, n_steps)  # fit's check steps
        v = float(network_gains(model, val_panels, model.degree).mean())
        if v > best["value"]:
            best.update(value=v, step=checks[0],
                        state={k: t.detach().clone() for k, t in model.state_dict().items()})
            if best_file is not None:
                save_checkpoint(best_file, model, step=checks[0], extra={"value": v})
        return v

    hist = fit(net, separation_loss(supervised=True), batches, n_steps, lr=lr,
               milestones=[int(0.7 * n_steps)], gamma=0.3, seed=seed, progress=progress,
               val_fn=val_fn if val_panels else None, val_every=val_every,
               checkpoint=checkpoint, desc="pre-training")
    if best["state"] is not None:
        net.load_state_dict(best["state"])
        net.best_step = best["step"]
    else:
        net.best_step = hist.steps
    net.eval()
    return hist


def best_checkpoint(checkpoint) -> Path:
    """Where :func:`pretrain_separation` keeps the best state beside ``checkpoint``."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + ".best.pt")


def separate(x: torch.Tensor, r1: torch.Tensor, net: SeparationNet | None = None,
             adapt_steps: int = 0, seed: int = 0, exclusion: float = 1.0, photo: float = 0.5,
             lr: float = 3e-4, progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Separate a mixed X-ray ``x`` given the photograph ``r1`` of the visible side.

    Without ``net``, the shipped ``xray_pretrained`` network (pre-trained on synthetic
    panels of training images, :func:`pretrain_separation`) separates the panel as it is:
    on panels of held-out images it beat degree-3 regression where per-panel
    self-supervised training, the paper's method, over-separated
    (``benchmarks/xray_separation.py --unseen``). With ``adapt_steps > 0`` a copy of the
    network is first trained self-supervised on this panel (the paper's loss:
    mixture + ``photo`` x photograph + ``exclusion`` x exclusion) for exactly that many
    steps (32x32 patches, batch 8, as chapter 08 trains), seeded by ``seed``: no default
    depends on the wall clock.

    Returns
    -------
    x1, x2 : Tensor, shape (B, 1, H, W) each
        The network's output, as chapter 08 and the benchmark score it (``x1 + x2`` differs
        from ``x`` by what the thresholds leave out; :func:`allocate_residual` shares that
        out if an exact re-synthesis is wanted).
    """
    check_pair(x, r1)
    photo, exclusion = check_weight(photo, "photo"), check_weight(exclusion, "exclusion")
    if isinstance(adapt_steps, bool) or not isinstance(adapt_steps, int) or adapt_steps < 0:
        raise ValueError(f"adapt_steps must be an integer >= 0, got {adapt_steps!r}")
    if net is None:
        net, _ = weights.load("xray_pretrained", device=x.device)
    elif not isinstance(net, SeparationNet):
        raise TypeError(f"net must be a SeparationNet, got {type(net).__name__}")
    if adapt_steps:
        net = copy.deepcopy(net).train()
        train_separation(net, x, r1, n_steps=adapt_steps, lr=lr, photo=photo,
                         exclusion=exclusion, early_stop=False, seed=seed, progress=progress,
                         check_every=adapt_steps, patch=min(32, *x.shape[-2:]), batch=8)
    net.eval()
    with torch.no_grad():
        return net(x, r1)


def allocate_residual(x: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Share the re-synthesis error ``e = x - x1 - x2`` evenly: ``(x1 + e/2, x2 + e/2)``.

    The "even allocation of the error map" step of Pu et al.'s earlier separation work: the
    result re-synthesises ``x`` exactly (noise included).
    """
    e = x - x1 - x2
    return x1 + e / 2, x2 + e / 2


# ------------------------------------------------------------------ registry
def check_shipped(net: nn.Module, info: dict) -> None:
    """Check of a shipped per-panel network: on its own panel, its ``x2`` scores what the
    manifest records (within 0.05 dB)."""
    p = info["panel"]
    panel = synthetic_panel(p["visible"], p["concealed"], seed=p["seed"], size=p["size"])
    with torch.no_grad():
        _, x2 = net(panel.x, panel.r1)
    got = mean_matched_psnr(x2, panel.x2)
    assert abs(got - info["psnr_x2"]) < 0.05, f"x2 PSNR {got:.2f} dB, manifest {info['psnr_x2']}"


def check_pretrained(net: nn.Module, info: dict) -> None:
    """Check of the shipped pre-trained network: its gains over regression on the
    validation panels are what the manifest records (within 0.05 dB)."""
    d = info["data"]
    val = [synthetic_panel(v, c, seed=s, size=d["size"], noise=d["val_noise"])
           for v, c, s in d["validation_panels"]]
    got = network_gains(net, val)
    want = torch.tensor(info["val_gain"])
    assert (got - want).abs().max() < 0.05, f"gains {got.tolist()}, manifest {want.tolist()}"


weights.register_model("xray_separation", SeparationNet, check=check_shipped,
                       module="mbdl_teach.xray")
weights.register_model("xray_pretrained", SeparationNet, check=check_pretrained,
                       module="mbdl_teach.xray")
