"""What every solver of the course shares: the history it returns, its checks, the callback
rule and the proximal maps a solver takes as its prior.

* One **signature**: ``solver(y, op, prior, n_iter, x0=None, callback=None, ...) -> (x,
  history)`` (ISRA and Richardson-Lucy have no prior: ``solver(y, op, n_iter, ...)``).
* One **history**: :class:`History`, whose lists a solver fills with what it measures.
* One **callback**: ``callback(k, x)`` after iteration ``k`` (from 1) with the current
  estimate; returning True stops the solver.
* A **prior** is a denoiser ``D(x, sigma)`` (plug-and-play) or a :class:`Prox`, a proximal
  map ``prox(v, tau) = argmin_x tau g(x) + 1/2 ||x - v||^2`` that also knows ``g``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..operators import LinearOperator, MatrixOperator
from ..wavelets import soft_threshold

__all__ = ["History", "Callback", "Prox", "prox_l1", "prox_nonneg", "check_measurement",
           "check_n_iter", "as_operator"]

#: ``callback(k, x)`` after iteration k (from 1); returning True stops the solver.
Callback = Callable[[int, torch.Tensor], object]


@dataclass
class History:
    """What a solver recorded, one entry per iteration (lists of floats).

    Attributes
    ----------
    n_iter : int
        Iterations run (fewer than asked when a callback or ``stop_db`` stopped the solver).
    objective : list of float
        Mean objective over the batch (proximal gradient: from the start point on).
    nmse : list of float
        NMSE (dB) against a reference (proximal gradient: from the start point on).
    residual : list of float
        ``||H x - y|| / ||y||`` after each iteration (splitting solvers).
    psnr : list of float
        PSNR (dB) against a ground truth after each iteration (splitting solvers).
    sigma, beta : list of float
        The prior's level (a denoiser's sigma, or a proximal map's tau) and the penalty
        per iteration (splitting solvers).
    iterates : Tensor or None
        Every iterate, stacked (n_iter + 1, ...), when asked for.
    """

    n_iter: int = 0
    objective: list[float] = field(default_factory=list)
    nmse: list[float] = field(default_factory=list)
    residual: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    sigma: list[float] = field(default_factory=list)
    beta: list[float] = field(default_factory=list)
    iterates: torch.Tensor | None = None


class Prox:
    """A proximal map with its penalty: ``prox(v, tau) = argmin_x tau g(x) + ||x - v||^2 / 2``.

    Parameters
    ----------
    fn : callable
        ``fn(v, tau) -> x``, tau > 0 a float.
    value : callable
        ``value(x) -> g(x)`` per example, a tensor of shape (B,).
    name : str
    """

    def __init__(self, fn: Callable[[torch.Tensor, float], torch.Tensor],
                 value: Callable[[torch.Tensor], torch.Tensor], name: str):
        self.fn, self.value, self.name = fn, value, name

    def __call__(self, v: torch.Tensor, tau: float) -> torch.Tensor:
        return self.fn(v, tau)

    def __repr__(self) -> str:
        return f"Prox({self.name})"


def _per_example(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).sum(1) if x.ndim > 1 else x.sum()[None]


def prox_l1(lam: float, nonneg: bool = False) -> Prox:
    """``g(x) = lam ||x||_1`` (plus ``x >= 0`` when ``nonneg``): the soft threshold at
    ``lam tau`` (followed by ``max(., 0)``, i.e. ``max(v - lam tau, 0)``)."""
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam) \
            or lam < 0:
        raise ValueError(f"lam must be a finite number >= 0, got {lam!r}")
    lam = float(lam)
    if nonneg:
        return Prox(lambda v, tau: (v - lam * tau).clamp_min(0),
                    lambda x: lam * _per_example(x.abs()), f"l1({lam:g}), x >= 0")
    return Prox(lambda v, tau: soft_threshold(v, lam * tau, check=False),
                lambda x: lam * _per_example(x.abs()), f"l1({lam:g})")


def prox_nonneg() -> Prox:
    """The indicator of ``x >= 0``: its proximal map is the projection ``max(v, 0)``."""
    return Prox(lambda v, tau: v.clamp_min(0), lambda x: 0 * _per_example(x),
                "x >= 0")


def check_measurement(y, what: str = "y") -> torch.Tensor:
    """``y`` must be a floating-point tensor with no NaN or inf; returns it."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(y).__name__}")
    if not torch.is_floating_point(y):
        raise TypeError(f"{what} must hold floating-point values, got {y.dtype}")
    if not torch.isfinite(y).all():
        raise ValueError(f"{what} contains NaN or inf: a solver cannot use it (look for a "
                         "division by zero or a missing value in the data)")
    return y


def check_n_iter(n_iter, minimum: int = 0) -> int:
    """``n_iter`` must be an int >= minimum."""
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < minimum:
        raise ValueError(f"n_iter must be an int >= {minimum}, got {n_iter!r}")
    return n_iter


def as_operator(op) -> LinearOperator:
    """A LinearOperator as it is; a matrix (m, n) as a :class:`MatrixOperator`."""
    if isinstance(op, LinearOperator):
        return op
    if isinstance(op, torch.Tensor):
        return MatrixOperator(op)
    raise TypeError(f"op must be a LinearOperator or a matrix tensor (m, n), got "
                    f"{type(op).__name__}")
