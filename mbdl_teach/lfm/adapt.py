"""Carrying a trained light-field network over to a new sample.

* :func:`subspace_psnr` - the ceiling of a rank-``r`` network: how well the truth itself is
  kept by the ``r`` leading eigenvectors of every frequency's ``H^T H`` (the only directions
  an :class:`~mbdl_teach.lfm.UnfoldedLFM` of that rank ever updates);
* :func:`adapt` - fine-tune a trained network on a user's own light fields, *without* their
  volumes: by default it adds a small convolutional head and teaches the network to give,
  in one pass, what Richardson-Lucy gives on these light fields after a hundred
  iterations (a teacher); or, with ``teacher=None``, the re-synthesis term of
  :func:`~mbdl_teach.lfm.lfm_loss`, ``||H x_T - y||^2 / ||y||^2``; optionally with a
  labelled term on synthetic volumes of the network's own training kinds, or a penalty
  that keeps the learned numbers near the trained ones.
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import torch

from .. import solvers
from ..progress import progress_bar
from .data import add_noise, volume_psnr
from .forward import LightField
from .recon import UnfoldedLFM, lfm_loss

__all__ = ["subspace_psnr", "adapt"]


@torch.no_grad()
def subspace_psnr(op: LightField, truth: torch.Tensor,
                  ranks: Sequence[int]) -> dict[int, torch.Tensor]:
    """PSNR of the truth projected onto the leading-rank eigen-subspace, per rank.

    Per spatial frequency ``f`` of the lenslet grid, ``H^T H`` is ``G(f) = U Lambda U^H``
    (:meth:`LightField.eig`); a rank-``r`` :class:`UnfoldedLFM` starts at 0 and its additive
    layers only ever add vectors of ``U_r(f)`` (then a ReLU and a threshold).
    ``U_r U_r^H x`` is what such a network could at best return before its ReLU, with
    noise-free data: its ceiling (a multiplicative layer, which scales each voxel, can
    leave the subspace).

    Parameters
    ----------
    op : LightField
    truth : Tensor, shape (B, D, h*s, w*s)
    ranks : sequence of int
        Each in ``[1, D s^2]``.

    Returns
    -------
    dict ``rank -> Tensor (B,)`` of PSNR in dB (peak: each truth's maximum), computed in
    float64 (``op`` itself is not changed).
    """
    if not isinstance(op, LightField):
        raise TypeError(f"op must be an lfm.LightField, got {type(op).__name__}")
    if not isinstance(truth, torch.Tensor) or truth.ndim != 4:
        raise ValueError("truth must be a tensor of shape (B, D, h*s, w*s), got "
                         f"{tuple(truth.shape) if isinstance(truth, torch.Tensor) else type(truth).__name__}")
    h, w = op._check_volume(truth)
    M = op.n_depths * op.voxels**2
    ranks = list(ranks)
    bad = [r for r in ranks if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= M]
    if not ranks or bad:
        raise ValueError(f"ranks must be ints in [1, {M}] (D s^2), got {ranks!r}")
    # in float64 on a copy with a cache of its own: the trailing eigenvalues crowd together,
    # and in float32 which of two near-equal ones ranks r-th changes between runs
    op = op.twin()
    op._cache = {}
    op = op.to(torch.float64)
    _, U = op.eig(h, w)
    X = op.to_spectrum(truth.to(torch.float64))
    C = U.mH @ X  # every eigen-coordinate of every frequency, (h, w', M, B)
    out = {}
    for r in ranks:
        proj = op.from_spectrum(U[..., :r] @ C[..., :r, :], h, w)
        out[r] = volume_psnr(proj, truth)
    return out


#: adapt's teachers: the classical reconstruction the network learns to reproduce
TEACHERS = ("richardson-lucy",)


def adapt(net: UnfoldedLFM, light_fields: torch.Tensor, n_steps: int = 600, lr: float = 2e-3,
          batch: int = 4, generator: torch.Generator | None = None,
          progress: bool = False, teacher: str | None = "richardson-lucy",
          teacher_iters: int = 100, head: int = 16, proximity: float = 0.0,
          labelled: tuple[torch.Tensor, torch.Tensor] | None = None,
          photons: tuple[float, float] = (50.0, 5000.0)) -> UnfoldedLFM:
    """A copy of ``net`` fine-tuned on unlabelled light fields (no volumes needed).

    By default (``teacher="richardson-lucy"``) the copy gets a small convolutional head
    (:meth:`UnfoldedLFM.add_head`, ``head`` channels; it starts as the identity) and learns
    to give, in one pass, what ``teacher_iters`` Richardson-Lucy iterations give on these
    light fields: the loss is ``||x_T - x_RL||^2 / ||x_RL||^2`` on a random batch of them
    per step (Adam, ``lr`` decayed along a cosine to zero). Richardson-Lucy, the Poisson
    maximum-likelihood update, is the strongest classical reconstruction of chapter 10 (a
    dB above ISRA on neurons and on beads) and needs no training; it is slow, which is what
    the network removes. The head is what lets the network follow it: without one the
    same teacher left ``lfm_unfolded_mult`` under ISRA on beads (33.2 against 33.6 dB).

    Measured (``benchmarks/lfm_reconstruction.py --unseen``, 8 test volumes per photon
    level, defaults): on beads, which ``lfm_unfolded_mult_fast`` never saw, 31.4 -> 33.7 dB
    at 100 photons and 31.4 -> 33.9 dB at 1000, above ISRA at its best iteration on all 16
    volumes (by 0.11 to 0.44 dB) at 23 and 30 times its speed, in about a minute on one
    CPU thread; Richardson-Lucy itself stays 0.7-0.9 dB higher. On nuclei, where the
    neuron-trained ``lfm_unfolded`` already beats ISRA, it gains 0.2 and 0.7 dB more.

    With ``teacher=None`` the loss is the re-synthesis term of
    :func:`~mbdl_teach.lfm.lfm_loss`, ``||H x_T - y||^2 / ||y||^2``: the light field the
    reconstruction makes must give back the measured one. That term also rewards
    explaining the noise and the model's error (chapter 10, section 9): on nuclei it costs
    the neuron-trained ``lfm_unfolded`` 1.5 dB, and on beads it leaves ``lfm_unfolded_mult``
    under ISRA (``benchmarks/README.md``). The teacher needs no such care, but the network
    learns the teacher's faults too (its noise, its stopping point): it will not beat
    Richardson-Lucy, only approach it at a fraction of its time.

    Parameters
    ----------
    net : UnfoldedLFM
        A trained network (e.g. ``weights.load("lfm_unfolded", device)[0]``); it is not
        modified.
    light_fields : Tensor, shape (B, 1, h*N, w*N)
        The user's measured light fields, on the network's lenslet grid, device and dtype,
        non-negative (clamp read noise below zero first) and finite.
    n_steps : int
        Optimiser steps.
    lr : float
        Adam's starting learning rate (a cosine schedule takes it to zero at ``n_steps``).
    batch : int
        Light fields per step (at most ``B``).
    generator : torch.Generator, optional
        Draws the head's starting weights and the batches (a CPU generator; default:
        seeded with 0), so that the result is the same for the same inputs.
    progress : bool
        Show a progress bar with the loss (mean of the last 10 steps).
    teacher : {"richardson-lucy", None}
        The reconstruction to learn from, or None for the re-synthesis loss.
    teacher_iters : int
        The teacher's iterations (from its flat start), the same for every light field: with
        no volumes there is nothing to choose them on. 100 is near Richardson-Lucy's best on
        the benchmarks' validation beads at 100 photons (130; 391 at 1000; a teacher of 200
        taught no better at 100) and past it on nuclei (about 60, where it costs
        Richardson-Lucy 0.2 dB).
    head : int
        Channels of the head added to the copy (0: none; a network that has one keeps it).
    proximity : float
        Weight of a penalty that keeps the learned numbers near the trained ones:
        ``proximity * mean((theta - theta_0)^2)`` over every learned number, the new head's
        from its start (default 0).
    labelled : (volumes, light fields), optional
        Labelled *synthetic* data of the kinds the network was trained on (no user labels:
        e.g. ``lfm.FineModel(net.optics).sample(net.grid, 8, seed=..., kind="nuclei")``),
        volumes (L, D, h*s, w*s) and their clean light fields (L, 1, h*N, w*N), on the
        network's device and dtype. Each step then adds the labelled term of
        :func:`~mbdl_teach.lfm.lfm_loss` on ``batch`` of them, with fresh noise at a photon
        level drawn log-uniformly in ``photons`` (the chapter's semi-supervised loss, its
        unlabelled part the teacher's or the re-synthesis term on the user's light fields).
    photons : (low, high)
        The photon range of the labelled term's noise.

    Returns
    -------
    UnfoldedLFM
        The adapted copy, in eval mode, with ``adapt_history`` (the loss per step, the
        teacher's or the re-synthesis term; without the labelled and proximity terms)
        attached. To load its ``state_dict`` elsewhere, build the network, call
        ``add_head(head)`` and load.
    """
    if not isinstance(net, UnfoldedLFM):
        raise TypeError(f"net must be an lfm.UnfoldedLFM, got {type(net).__name__}")
    if not isinstance(light_fields, torch.Tensor) or light_fields.ndim != 4 \
            or light_fields.shape[1] != 1:
        raise ValueError("light_fields must be a tensor of shape (B, 1, h*N, w*N), got "
                         + (str(tuple(light_fields.shape)) if isinstance(light_fields, torch.Tensor)
                            else type(light_fields).__name__))
    h, w = net.op._check_sensor(light_fields)
    if (h, w) != net.grid:
        raise ValueError(f"the network was built for {net.grid[0]}x{net.grid[1]} lenslets, the "
                         f"light fields have {h}x{w}: rebuild it for their grid first")
    p = next(net.parameters())
    if light_fields.dtype != p.dtype or light_fields.device != p.device:
        raise ValueError(f"light_fields are {light_fields.dtype} on {light_fields.device}, the "
                         f"network is {p.dtype} on {p.device}: move one to the other")
    if not torch.isfinite(light_fields).all():
        raise ValueError("light_fields hold NaN or inf")
    if float(light_fields.min()) < 0:
        raise ValueError("light_fields must be >= 0 (clamp the read noise: y.clamp_min(0))")
    if float(light_fields.flatten(1).amax(1).min()) <= 0:
        raise ValueError("a light field is all zeros: nothing to adapt to")
    for name, v in (("n_steps", n_steps), ("batch", batch)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a number > 0, got {lr!r}")
    if teacher is not None and teacher not in TEACHERS:
        raise ValueError(f"teacher must be one of {TEACHERS} or None, got {teacher!r}")
    for name, v, low in (("teacher_iters", teacher_iters, 1), ("head", head, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if not (isinstance(proximity, (int, float)) and math.isfinite(proximity) and proximity >= 0):
        raise ValueError(f"proximity must be a number >= 0, got {proximity!r}")
    if labelled is not None:
        _check_labelled(net, labelled, light_fields)
        if not (len(photons) == 2 and 0 < photons[0] <= photons[1]):
            raise ValueError(f"photons must be (low, high) with 0 < low <= high, got {photons!r}")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    B = light_fields.shape[0]
    batch = min(batch, B)

    model = copy.deepcopy(net)
    model.op = net.op.twin()  # the copy's own operator, sharing the per-frequency matrices
    if head and model.head is None:
        model.add_head(head, generator=g)
    targets = None
    if teacher is not None:
        with torch.no_grad():  # the teacher's reconstructions, once, a few at a time
            targets = torch.cat([solvers.richardson_lucy(light_fields[i:i + 8], model.op,
                                                         teacher_iters)[0]
                                 for i in range(0, B, 8)])
    for q in model.parameters():
        q.requires_grad_(True)
    model.train()
    loss_fn = lfm_loss(model.op, resynthesis=1.0)
    sup_fn = lfm_loss(model.op, resynthesis=0.0)
    start = [q.detach().clone() for q in model.parameters()]
    n_numbers = sum(q.numel() for q in start)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n_steps)
    none = torch.zeros(batch, dtype=torch.bool, device=light_fields.device)
    if labelled is not None:
        xl, yl = labelled
        lab_batch = min(batch, len(xl))
        every_one = torch.ones(lab_batch, dtype=torch.bool, device=light_fields.device)
        lo, hi = math.log(photons[0]), math.log(photons[1])
    history = []
    bar = progress_bar(total=n_steps, desc="adapt") if progress else None
    for step in range(1, n_steps + 1):
        idx = torch.randperm(B, generator=g)[:batch].to(light_fields.device)
        y = light_fields[idx]
        if targets is None:
            loss = loss_fn(model, (y, y, none))
        else:
            t = targets[idx]
            loss = ((model(y) - t) ** 2).sum() / (t**2).sum()
        history.append(float(loss.detach()))
        if labelled is not None:
            j = torch.randperm(len(xl), generator=g)[:lab_batch]
            levels = torch.exp(torch.empty(lab_batch).uniform_(lo, hi, generator=g))
            noisy = torch.cat([add_noise(yl[i:i + 1].cpu(), float(p), seed=g)
                               for i, p in zip(j.tolist(), levels)])
            noisy = noisy.clamp_min(0).to(yl)
            loss = loss + sup_fn(model, (noisy, xl[j.to(xl.device)], every_one))
        if proximity > 0:
            loss = loss + proximity * sum(((q - q0) ** 2).sum() for q, q0 in
                                          zip(model.parameters(), start)) / n_numbers
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{sum(history[-10:]) / len(history[-10:]):.5f}")
    if bar is not None:
        bar.close()
    model.eval()
    for q in model.parameters():
        q.requires_grad_(False)
    model.adapt_history = history
    return model


def _check_labelled(net: UnfoldedLFM, labelled, light_fields: torch.Tensor) -> None:
    """``labelled`` must be (volumes (L, D, h*s, w*s), clean light fields (L, 1, h*N, w*N))
    on the network's grid, device and dtype."""
    if not (isinstance(labelled, (tuple, list)) and len(labelled) == 2
            and all(isinstance(t, torch.Tensor) for t in labelled)):
        raise TypeError("labelled must be a pair (volumes, light fields) of tensors")
    xl, yl = labelled
    if xl.ndim != 4 or yl.ndim != 4 or len(xl) != len(yl) or len(xl) == 0:
        raise ValueError("labelled must be (volumes (L, D, h*s, w*s), light fields "
                         f"(L, 1, h*N, w*N)), L >= 1; got {tuple(xl.shape)} and {tuple(yl.shape)}")
    if net.op._check_volume(xl) != net.grid or net.op._check_sensor(yl) != net.grid:
        raise ValueError(f"the labelled data are not on the network's {net.grid[0]}x"
                         f"{net.grid[1]} lenslets")
    for t in (xl, yl):
        if t.dtype != light_fields.dtype or t.device != light_fields.device:
            raise ValueError(f"labelled data are {t.dtype} on {t.device}, the network is "
                             f"{light_fields.dtype} on {light_fields.device}: move them")
        if not torch.isfinite(t).all() or float(t.min()) < 0:
            raise ValueError("labelled data must be finite and >= 0 (clean light fields)")
