"""Proximal gradient: ISTA and FISTA on any operator and any proximal map.

For ``min_x 1/2 ||H x - y||^2 + g(x)``, each iteration is a gradient step on the data term
at a point ``z_k`` followed by the proximal map of ``g``::

    x_{k+1} = prox_{tau g}(z_k - tau H^T (H z_k - y)),     tau = 1 / ||H||^2

with ``z_k = x_k`` (ISTA; Daubechies, Defrise & De Mol 2004) or the extrapolated point of
FISTA (Beck & Teboulle 2009)::

    t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2,   z_{k+1} = x_{k+1} + (t_k - 1)/t_{k+1} (x_{k+1} - x_k).

With ``g = lam ||.||_1`` it solves the LASSO (chapter 06); with ``g`` the indicator of
``x >= 0`` it is projected gradient, non-negative least squares (chapter 09). The gradient
is ``H^T H z - H^T y`` with ``H^T y`` computed once, so an operator whose normal map is
cheap (a tall matrix through its Gram matrix) makes every step cheap.
"""

from __future__ import annotations

import math

import torch

from ..metrics import nmse_db
from ..operators import LinearOperator, MatrixOperator
from .core import Callback, History, Prox, as_operator, check_measurement, check_n_iter

__all__ = ["proximal_gradient", "ista", "fista", "step_size"]


def step_size(op: LinearOperator, x_shape) -> float:
    """``1 / ||H||^2``, the largest step with guaranteed descent."""
    L = op.norm() ** 2 if isinstance(op, MatrixOperator) else op.norm(tuple(x_shape)) ** 2
    if not L > 0:
        raise ValueError("the operator is zero: the step size 1/||H||^2 is undefined")
    return 1.0 / L


def proximal_gradient(y: torch.Tensor, op, prox: Prox, n_iter: int,
                      x0: torch.Tensor | None = None, callback: Callback | None = None, *,
                      accelerated: bool = False, step: float | None = None,
                      ref: torch.Tensor | None = None, objective: bool = False,
                      return_iterates: bool = False,
                      stop_db: float | None = None) -> tuple[torch.Tensor, History]:
    """ISTA (``accelerated=False``) or FISTA on ``1/2 ||H x - y||^2 + g(x)``.

    Parameters
    ----------
    y : Tensor, shape (B, ...) (or (m,) with a matrix)
        The measurement.
    op : LinearOperator, or a matrix Tensor of shape (m, n)
        ``H``; a matrix acts on rows, ``H x = x @ D.T``.
    prox : Prox
        The proximal map of ``g`` (:func:`prox_l1`, :func:`prox_nonneg`, ...).
    n_iter : int
        Iterations (>= 0).
    x0 : Tensor, optional
        Start, shape of ``H^T y`` (default zeros).
    callback : callable, optional
        ``callback(k, x)`` after iteration k; returning True stops.
    accelerated : bool
        FISTA's extrapolation.
    step : float, optional
        Step size tau (default ``1 / ||H||^2``).
    ref : Tensor, optional
        True solution: the history records the NMSE (dB) of every iterate.
    objective : bool
        Record the mean objective of every iterate (one more product with ``H`` each).
    return_iterates : bool
        Keep every iterate in ``history.iterates`` (n_iter + 1, ...).
    stop_db : float, optional
        Stop once the NMSE against ``ref`` is at most this (dB).

    Returns
    -------
    x : Tensor, shape of ``H^T y`` (or (n,) for a single y of shape (m,))
    history : History
        ``objective`` and ``nmse`` from the start point on, ``iterates``, ``n_iter``.
    """
    op = as_operator(op)
    check_measurement(y)
    n_iter = check_n_iter(n_iter)
    if not isinstance(prox, Prox):
        raise TypeError(f"prox must be a solvers.Prox (prox_l1, prox_nonneg, ...), got "
                        f"{type(prox).__name__}")
    single = isinstance(op, MatrixOperator) and y.ndim == 1
    y2 = y[None] if single else y
    x_shape = tuple(op.input_shape(tuple(y2.shape)))
    if tuple(op.output_shape(x_shape)) != tuple(y2.shape):
        raise ValueError(f"y has shape {tuple(y.shape)}, but the operator {op!r} maps x of "
                         f"shape {x_shape} to {tuple(op.output_shape(x_shape))}")
    if stop_db is not None and ref is None:
        raise ValueError("stop_db needs ref (the true solution)")
    if ref is not None:
        if not isinstance(ref, torch.Tensor):
            raise TypeError(f"ref must be a torch.Tensor, got {type(ref).__name__}")
        ref = ref[None] if single else ref
        if tuple(ref.shape) != x_shape:
            raise ValueError(f"ref must have shape {x_shape}, got {tuple(ref.shape)}")
    if x0 is None:
        x = y2.new_zeros(x_shape)
    else:
        x = (x0[None] if single and x0.ndim == 1 else x0).to(y2.dtype)
        if tuple(x.shape) != x_shape:
            raise ValueError(f"x0 must have shape {x_shape}, got {tuple(x0.shape)}")
    tau = step_size(op, x_shape) if step is None else float(step)
    if not (tau > 0 and math.isfinite(tau)):
        raise ValueError(f"step must be finite and > 0, got {step!r}")
    aty = op.adjoint(y2)
    hist = History()
    keep = [x] if return_iterates else None

    def record(v):
        if objective:
            data = 0.5 * (op(v) - y2).flatten(1).pow(2).sum(1)
            hist.objective.append(float((data + prox.value(v)).mean()))
        if ref is not None:
            hist.nmse.append(nmse_db(v, ref))

    record(x)
    z, t = x, 1.0
    for k in range(1, n_iter + 1):
        x_new = prox(z - tau * (op.normal(z) - aty), tau)
        if accelerated:
            t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
            z = x_new + ((t - 1) / t_new) * (x_new - x)
            t = t_new
        else:
            z = x_new
        x = x_new
        hist.n_iter = k
        record(x)
        if keep is not None:
            keep.append(x)
        if stop_db is not None and hist.nmse[-1] <= stop_db:
            break
        if callback is not None and callback(k, x):
            break
    if keep is not None:
        hist.iterates = torch.stack(keep)
    return (x[0] if single else x), hist


def ista(y: torch.Tensor, op, prox: Prox, n_iter: int, x0: torch.Tensor | None = None,
         callback: Callback | None = None, **kwargs) -> tuple[torch.Tensor, History]:
    """ISTA: ``x_{k+1} = prox_{tau g}(x_k - tau H^T (H x_k - y))``.

    Arguments and result as in :func:`proximal_gradient`."""
    return proximal_gradient(y, op, prox, n_iter, x0, callback, accelerated=False, **kwargs)


def fista(y: torch.Tensor, op, prox: Prox, n_iter: int, x0: torch.Tensor | None = None,
          callback: Callback | None = None, **kwargs) -> tuple[torch.Tensor, History]:
    """FISTA: ISTA's step taken at an extrapolated point (Beck & Teboulle 2009).

    Arguments and result as in :func:`proximal_gradient`."""
    return proximal_gradient(y, op, prox, n_iter, x0, callback, accelerated=True, **kwargs)
