"""Chapter 09's unfolded unmixing network for the painting's line library."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from .. import weights
from ..training import History, save_checkpoint
from .common import checkpoint_path, machine

#: Chapter 09's network: the painting's 13 elements (``xrf.ELEMENTS``), the chapter's quick
#: detector (1024 channels of 20 eV), 10 layers with a full preconditioner. Both profiles
#: alike (a minute on one CPU thread).
XRF_MODELS = {
    "xrf_unmixing": dict(n_channels=1024, gain=0.02, n_layers=10, n_steps=2000, seed=0),
}


def _xrf_setup(name: str):
    from .. import xrf

    s = XRF_MODELS[name]
    lines = xrf.Lines(xrf.ELEMENTS)
    det = xrf.Detector(n_channels=s["n_channels"], gain=s["gain"])
    return s, lines, det


def train_xrf(name: str, profile: str = "quick", out=None, n_steps: int | None = None,
              progress: bool = True, milestones=None, checkpoint=None) -> dict:
    """Recipe ``xrf_unmixing``: :func:`mbdl_teach.xrf.train_unmixing` on the chapter's line
    library (random mixtures simulated with the library, a validation stop on held-out
    synthetic spectra). Deterministic: it trains from scratch each time (a minute), so
    ``milestones`` is not used (the decay is the function's: x0.3 at 1/2 and 3/4)."""
    from .. import xrf

    if milestones is not None:
        raise ValueError("the xrf recipe decays at 1/2 and 3/4 of n_steps; --decay-at is not used")
    s, lines, det = _xrf_setup(name)
    steps = int(n_steps or s["n_steps"])
    ckpt = checkpoint_path(name, checkpoint)
    net, hist = xrf.train_unmixing(lines, det, n_steps=steps, n_layers=s["n_layers"],
                                   generator=torch.Generator().manual_seed(s["seed"]),
                                   progress=progress)
    # the validation curve goes in ``extra`` (the manifest rounds a history's to 2 decimals)
    record = History(losses=hist.losses, lrs=hist.lrs, seconds=hist.seconds)
    save_checkpoint(ckpt, net, step=steps, history=record,
                    extra={"best_step": hist.best_step, "best_error": hist.best_error,
                           "val_steps": hist.val_steps, "val_values": hist.val_values})
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": net.state_dict(), "config": xrf.unmixing_config(net),
                    "model": "xrf_unmixing"}, out)
    print(f"{name}: {steps} steps, {hist.seconds:.0f} s, best validation error "
          f"{hist.best_error:.5f} at step {hist.best_step}")
    return {"history": hist, "sizes": s, "checkpoint": ckpt}


def export_xrf(name: str, profile: str, checkpoint: str | Path | None = None,
               milestones: Sequence[int] | None = None,
               directory: str | Path | None = None) -> dict:
    """Ship the unfolded unmixing network with its manifest entry."""
    from .. import xrf
    from ..training import load_checkpoint
    from ..xrf.training import check_errors

    s, lines, det = _xrf_setup(name)
    ckpt = checkpoint_path(name, checkpoint)
    state = load_checkpoint(ckpt)
    steps = int(state["step"])
    net = xrf.UnfoldedUnmixing(lines, det, n_layers=s["n_layers"])
    net.load_state_dict(state["model"])
    config = xrf.unmixing_config(net)
    e_net, e_init = check_errors(net)
    extra = state.get("extra") or {}
    best = extra.get("best_step")
    return weights.export(
        name, ckpt, kind="xrf_unmixing", config=config,
        command=f"python -m mbdl_teach.recipes {name} --steps {steps}", profile=profile,
        schedule=f"Adam lr 0.003, x0.3 at steps {[steps // 2, 3 * steps // 4]}, batch 256; "
                 f"validation every 50 steps, best state kept (step {best})",
        data={"spectra": "random mixtures (1-3 of: the PIGMENTS inside the library, each "
                         "element alone) on a ground of one random element, simulated with "
                         "the line library and a continuum; Poisson noise, 1e3-3e5 counts",
              "pool": 4096, "validation": 1024, "seed": s["seed"]},
        directory=directory,
        # learned parameters (the state also holds the library and its Gram matrix)
        extra={"machine": machine(), "parameters": sum(p.numel() for p in net.parameters()),
               "check_error": round(e_net, 6),
               "validation_error": [best, round(float(extra.get("best_error", "nan")), 6)],
               "check_error_untrained": round(e_init, 6)})
