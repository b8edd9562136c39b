"""The LASSO of chapter 06 and how to tune and count its solvers fairly.

.. math:: \\min_x \\tfrac12 \\|y - D x\\|_2^2 + \\lambda \\|x\\|_1,

with a dictionary ``D`` of shape (m, n), measurements ``y`` (B, m) and codes ``x`` (B, n)
(rows are examples, so ``D x`` is ``x @ D.T``). The solvers are :func:`~.gradient.ista` and
:func:`~.gradient.fista` with ``prox_l1(lam)``; this module adds the Lipschitz constant, the
objective, and the tuned-baseline bookkeeping: the ``lam`` that suits a solver on training
codes and the iterations it needs to match an unfolded network.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..operators import MatrixOperator
from ..unfolding import nmse_per_layer
from .core import prox_l1
from .gradient import proximal_gradient

__all__ = ["lipschitz", "lasso_objective", "iterations_to_reach", "tune_lambda",
           "iterations_matched", "METHODS"]

#: solver name -> accelerated (FISTA) or not (ISTA)
METHODS = {"ista": False, "fista": True}


def lipschitz(D) -> float:
    """``L = ||D||_2^2``, the Lipschitz constant of the gradient of ``0.5||y - D x||^2``."""
    op = D if isinstance(D, MatrixOperator) else MatrixOperator(D)
    return op.norm() ** 2


def lasso_objective(x: torch.Tensor, y: torch.Tensor, D, lam: float) -> torch.Tensor:
    """``0.5||y - D x||^2 + lam ||x||_1`` per example; x (B, n), y (B, m) -> (B,)."""
    op = D if isinstance(D, MatrixOperator) else MatrixOperator(D)
    return 0.5 * ((y - op(x)) ** 2).sum(-1) + lam * x.abs().sum(-1)


def iterations_to_reach(nmse: Sequence[float], target: float) -> int | None:
    """First index ``k`` with ``nmse[k] <= target`` (None if never)."""
    for k, v in enumerate(nmse):
        if v <= target:
            return k
    return None


def _accelerated(method: str) -> bool:
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    return METHODS[method]


def _nmse_curve(y, x, D, lam, n_iter, accelerated, stop_db):
    return proximal_gradient(y, D, prox_l1(float(lam)), n_iter, ref=x,
                             accelerated=accelerated, stop_db=stop_db)[1].nmse


def tune_lambda(y: torch.Tensor, x: torch.Tensor, D, lams: Sequence[float], n_iter: int,
                method: str = "ista", target_db: float | None = None):
    """The ``lam`` of a grid that suits ISTA or FISTA best on known codes (training data).

    Two criteria, one grid search (tune on training data, then report on test data):

    * ``target_db=None``: the lowest NMSE after ``n_iter`` iterations;
    * ``target_db`` given: the fewest iterations to reach NMSE ``target_db`` within
      ``n_iter`` (the fair baseline for "how many iterations does ISTA need to get there?").

    Returns
    -------
    best : float or None
        None when no ``lam`` reaches ``target_db`` within ``n_iter``.
    scores : dict
        lam -> NMSE (dB) after ``n_iter`` iterations, or -> iterations needed (None: never).
    """
    accelerated = _accelerated(method)
    if len(lams) == 0:
        raise ValueError("lams is empty")
    scores = {}
    for lam in lams:
        curve = _nmse_curve(y, x, D, lam, n_iter, accelerated, target_db)
        scores[float(lam)] = curve[-1] if target_db is None else iterations_to_reach(curve, target_db)
    reached = {k: v for k, v in scores.items() if v is not None}
    return (min(reached, key=reached.get) if reached else None), scores


def iterations_matched(net: nn.Module, train: tuple[torch.Tensor, torch.Tensor],
                       test: tuple[torch.Tensor, torch.Tensor], D: torch.Tensor,
                       lams: Sequence[float], n_iter: int,
                       method: str = "ista") -> tuple[float, float | None, int | None]:
    """How many iterations of ISTA (or FISTA) a trained unfolded network is worth.

    The target is the network's NMSE at its last layer. The solver gets the ``lam`` of the
    grid that reaches the network's *training* NMSE fastest on the training codes (a fair,
    tuned baseline that never sees the test codes), then we count its iterations to the
    network's *test* NMSE on the test codes.

    Parameters
    ----------
    net : LISTA, LISTA_CP or ALISTA
    train, test : (y, x)
        Measurements (B, m) and true codes (B, n).
    D : Tensor, shape (m, n)
    lams : sequence of float
        The grid of LASSO weights the solver may choose from.
    n_iter : int
        Iterations allowed per ``lam``.
    method : {"ista", "fista"}

    Returns
    -------
    target_db : float
        The network's test NMSE (dB) at its last layer.
    lam : float or None
        The chosen ``lam`` (None: no ``lam`` reached the target within ``n_iter``).
    iterations : int or None
        Iterations the solver needs on the test codes (None: more than ``n_iter``).
    """
    accelerated = _accelerated(method)
    target_tr = nmse_per_layer(net, *train)[-1]
    target = nmse_per_layer(net, *test)[-1]
    lam, _ = tune_lambda(*train, D, lams, n_iter, method=method, target_db=target_tr)
    if lam is None:
        return target, None, None
    curve = _nmse_curve(*test, D, lam, n_iter, accelerated, target)
    return target, lam, iterations_to_reach(curve, target)
