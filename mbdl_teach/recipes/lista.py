"""The LISTA recipe (the synthetic problem of chapter 06)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from .. import data, solvers
from ..unfolding import nmse_per_layer, train_unfolded
from .common import profile_sizes


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
    s = profile_sizes(LISTA_SIZES, profile, n_steps)
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
