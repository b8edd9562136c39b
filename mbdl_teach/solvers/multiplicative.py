"""Multiplicative updates for non-negative data: ISRA and Richardson-Lucy, on any operator.

Both keep ``x > 0`` with no projection, by multiplying it by a positive ratio:

* ISRA (Daube-Witherspoon & Muehllehner 1986), least squares with ``x >= 0``::

      x <- x * H^T y / (H^T H x)

* Richardson-Lucy (Richardson 1972; Lucy 1974), the EM iteration for Poisson data
  ``y ~ Poisson(H x + b)``, whose log-likelihood it never decreases::

      x <- x * H^T (y / (H x + b)) / H^T 1

The operator and the data must be non-negative (a blur, a light field's PSF, a line
library). Both start, by default, from the flat volume ``c 1`` whose brightness fits the
data, ``c = <H 1, y> / ||H 1||^2``.
"""

from __future__ import annotations

import torch

from ..operators import LinearOperator
from .core import Callback, History, check_measurement, check_n_iter

__all__ = ["isra", "richardson_lucy", "flat_start"]


def _check(y, op, n_iter, x0):
    check_measurement(y)
    if not isinstance(op, LinearOperator):
        raise TypeError(f"op must be a LinearOperator, got {type(op).__name__}")
    check_n_iter(n_iter)
    if (y < 0).any():
        raise ValueError("the multiplicative updates need data with no negative values: "
                         "clamp them first (y.clamp_min(0)), e.g. after read noise")
    if x0 is not None and (not isinstance(x0, torch.Tensor) or (x0 < 0).any()):
        raise ValueError("x0 must be a non-negative tensor")


def flat_start(y: torch.Tensor, op: LinearOperator) -> torch.Tensor:
    """``c 1`` with ``c = <H 1, y> / ||H 1||^2`` per example: a flat start of the right
    brightness, shape of ``H^T y``."""
    ones = y.new_ones(op.input_shape(tuple(y.shape)))
    h1 = op(ones)
    dims = tuple(range(1, y.ndim))
    c = (h1 * y).sum(dim=dims) / (h1 * h1).sum(dim=dims)
    return ones * c.clamp_min(1e-12).view(-1, *([1] * (ones.ndim - 1)))


@torch.no_grad()
def isra(y: torch.Tensor, op: LinearOperator, n_iter: int, x0: torch.Tensor | None = None,
         callback: Callback | None = None, eps: float = 1e-12) -> tuple[torch.Tensor, History]:
    """ISRA: ``x <- x * H^T y / (H^T H x)``; its least-squares objective never increases.

    Parameters
    ----------
    y : Tensor, shape (B, ...)
        Non-negative data.
    op : LinearOperator
        A non-negative ``H``.
    n_iter : int
    x0 : Tensor, shape of ``H^T y``, optional
        Positive start (default :func:`flat_start`).
    callback : callable, optional
        ``callback(k, x)`` after iteration k (from 1); returning True stops the solver.
    eps : float
        Floor of the denominator.

    Returns
    -------
    x : Tensor, shape of ``H^T y``
    history : History
        ``n_iter``, the iterations run.
    """
    _check(y, op, n_iter, x0)
    hty = op.adjoint(y)
    x = flat_start(y, op) if x0 is None else x0.clone()
    hist = History()
    for k in range(1, n_iter + 1):
        x = x * hty / op.normal(x).clamp_min(eps)
        hist.n_iter = k
        if callback is not None and callback(k, x):
            break
    return x, hist


@torch.no_grad()
def richardson_lucy(y: torch.Tensor, op: LinearOperator, n_iter: int,
                    x0: torch.Tensor | None = None, callback: Callback | None = None,
                    background: float = 1e-6) -> tuple[torch.Tensor, History]:
    """Richardson-Lucy: ``x <- x * H^T (y / (H x + b)) / H^T 1`` (Poisson likelihood).

    ``background`` b (relative to the data's mean) keeps the ratio finite in dark
    pixels. Shapes and result as in :func:`isra`.
    """
    _check(y, op, n_iter, x0)
    x = flat_start(y, op) if x0 is None else x0.clone()
    norm = op.adjoint(torch.ones_like(y)).clamp_min(1e-12)
    dims = tuple(range(1, y.ndim))
    b = background * y.mean(dim=dims, keepdim=True)
    hist = History()
    for k in range(1, n_iter + 1):
        x = x * op.adjoint(y / (op(x) + b)) / norm
        hist.n_iter = k
        if callback is not None and callback(k, x):
            break
    return x, hist
