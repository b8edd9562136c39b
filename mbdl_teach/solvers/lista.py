"""The LISTA family: ISTA unfolded into layers with learned pieces.

* :class:`LISTA` unfolds T iterations of ISTA into T layers
  ``x_{k+1} = S_{theta_k}(W_e y + S x_k)`` whose matrices and thresholds are learned
  (Gregor & LeCun 2010). Initialised from ISTA, the untrained net *is* ISTA, layer by layer.
* :class:`LISTA_CP` couples the weights, ``x_{k+1} = S_{theta_k}(x_k + W_k^T (y - D x_k))``
  (Chen et al. 2018); :class:`ALISTA` fixes an analytic ``W`` and learns only a step size
  and a threshold per layer (Liu et al. 2019). Both can use *support selection*: the
  largest entries of each code skip the threshold.
* The networks are :class:`mbdl_teach.unfolding.Unfolded` subclasses: train them with
  :func:`mbdl_teach.unfolding.train_unfolded`, measure them with
  :func:`mbdl_teach.unfolding.nmse_per_layer`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..operators import MatrixOperator
from ..unfolding import Unfolded
from ..wavelets import soft_threshold
from .lasso import lipschitz

__all__ = ["LISTA", "LISTA_CP", "ALISTA", "analytic_weight", "soft_threshold_ss"]

_check_dictionary = MatrixOperator.check


def soft_threshold_ss(x: torch.Tensor, theta, frac: float) -> torch.Tensor:
    """Soft thresholding with support selection (Chen et al. 2018).

    In each row of ``x`` (B, n), the ``ceil(frac * n)`` largest entries in magnitude that are
    also above ``theta`` pass unchanged; the others are soft-thresholded.
    """
    if frac <= 0:
        return soft_threshold(x, theta, check=False)
    k = min(x.shape[-1], max(1, math.ceil(frac * x.shape[-1])))
    kth = x.abs().topk(k, dim=-1).values[..., -1:]
    keep = ((x.abs() >= kth) & (x.abs() > theta)).detach()
    return torch.where(keep, x, soft_threshold(x, theta, check=False))



# ------------------------------------------------------------------ unfolded networks
class _SparseUnfolded(Unfolded):
    """What LISTA, LISTA-CP and ALISTA share: the dictionary as an operator, x_0 = 0."""

    @property
    def D(self) -> torch.Tensor:
        """The dictionary, shape (m, n)."""
        return self.op.D

    def init(self, y: torch.Tensor) -> torch.Tensor:
        """``x_0 = 0``, shape (B, n), after checking ``y`` (B, m)."""
        if not isinstance(y, torch.Tensor) or y.ndim != 2 or y.shape[1] != self.m:
            raise ValueError(
                f"y must have shape (B, {self.m}) to match the dictionary, got "
                f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}"
            )
        return y.new_zeros(y.shape[0], self.n)


def _init_common(module: _SparseUnfolded, D: torch.Tensor, n_layers: int, lam: float) -> float:
    D = _check_dictionary(D)
    if not isinstance(n_layers, int) or isinstance(n_layers, bool) or n_layers < 1:
        raise ValueError(f"n_layers must be an integer >= 1, got {n_layers!r}")
    if not isinstance(lam, (int, float)) or not math.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be a finite number >= 0, got {lam!r}")
    module.m, module.n = D.shape
    module.n_layers = n_layers
    module.op = MatrixOperator(D)
    return lipschitz(D)


class LISTA(_SparseUnfolded):
    """Learned ISTA (Gregor & LeCun 2010): ``x_{k+1} = S_{theta_k}(W_e y + S x_k)``.

    Initialised from ISTA (``W_e = D^T / L``, ``S = I - D^T D / L``, ``theta_k = lam / L``),
    so that layer k of the untrained network equals ISTA iteration k from ``x_0 = 0``.

    Parameters
    ----------
    D : Tensor, shape (m, n)
    n_layers : int
        Number of layers T.
    lam : float
        The ISTA ``lam`` of the initialisation.
    tied : bool
        Share ``W_e`` and ``S`` across layers (thresholds stay per layer).

    Attributes
    ----------
    W_e : Parameter, shape (T or 1, n, m)
    S : Parameter, shape (T or 1, n, n)
    theta : Parameter, shape (T,)
    """

    def __init__(self, D: torch.Tensor, n_layers: int, lam: float = 0.1, tied: bool = False):
        super().__init__()
        L = _init_common(self, D, n_layers, lam)
        D = self.D
        c = 1 if tied else n_layers
        self.tied = tied
        eye = torch.eye(self.n, dtype=D.dtype, device=D.device)
        self.W_e = nn.Parameter((D.T / L).expand(c, -1, -1).clone())
        self.S = nn.Parameter((eye - D.T @ D / L).expand(c, -1, -1).clone())
        self.theta = nn.Parameter(torch.full((n_layers,), lam / L, dtype=D.dtype, device=D.device))

    def layer(self, k, x, y):
        j = 0 if self.tied else k
        return soft_threshold(y @ self.W_e[j].T + x @ self.S[j].T, self.theta[k], check=False)


class LISTA_CP(_SparseUnfolded):
    """LISTA with coupled weights (Chen et al. 2018): ``x_{k+1} = S_{theta_k}(x_k + W_k^T (y - D x_k))``.

    ``W_k`` (m, n) starts at ``D / L`` and ``theta_k`` at ``lam / L`` (then it equals ISTA).
    ``support_selection=(step, max)`` lets the ``min(step * (k+1), max)`` fraction of
    largest entries skip the threshold at layer k (Chen et al.'s LISTA-CPSS: 0.012, 0.13).
    """

    def __init__(self, D: torch.Tensor, n_layers: int, lam: float = 0.1, tied: bool = False,
                 support_selection: tuple[float, float] | None = None):
        super().__init__()
        L = _init_common(self, D, n_layers, lam)
        D = self.D
        self.tied = tied
        self.support_selection = _check_ss(support_selection)
        self.W = nn.Parameter((D / L).expand(1 if tied else n_layers, -1, -1).clone())
        self.theta = nn.Parameter(torch.full((n_layers,), lam / L, dtype=D.dtype, device=D.device))

    def layer(self, k, x, y):
        W = self.W[0 if self.tied else k]
        return _ss(x + (y - self.op(x)) @ W, self.theta[k], self.support_selection, k)


def _check_ss(ss):
    if ss is None:
        return None
    if len(ss) != 2 or not all(0 <= float(v) <= 1 for v in ss):
        raise ValueError(f"support_selection must be (step, max) fractions in [0, 1], got {ss!r}")
    return float(ss[0]), float(ss[1])


def _ss(v, theta, ss, k):
    if ss is None:
        return soft_threshold(v, theta, check=False)
    return soft_threshold_ss(v, theta, min(ss[0] * (k + 1), ss[1]))


def analytic_weight(D: torch.Tensor) -> torch.Tensor:
    """ALISTA's analytic weight: ``W = argmin ||W^T D||_F`` subject to ``diag(W^T D) = 1``.

    Column by column, ``w_i = (D D^T)^{-1} d_i / (d_i^T (D D^T)^{-1} d_i)`` (D of full row
    rank). Liu et al. (2019) minimise a coherence by projected gradient; this Frobenius
    version is their practical surrogate, solved here in closed form.

    Returns
    -------
    Tensor, shape (m, n)
    """
    D = _check_dictionary(D)
    Dd = D.double()
    G = Dd @ Dd.T
    if torch.linalg.matrix_rank(G) < D.shape[0]:
        raise ValueError("D must have full row rank (m <= n, rank m) for the analytic weight")
    Z = torch.linalg.solve(G, Dd)                      # (D D^T)^{-1} d_i, column by column
    return (Z / (Dd * Z).sum(0, keepdim=True)).to(D.dtype)


class ALISTA(_SparseUnfolded):
    """Analytic LISTA (Liu et al. 2019): ``x_{k+1} = S_{theta_k}(x_k - gamma_k W^T (D x_k - y))``.

    ``W`` is fixed (:func:`analytic_weight`); only ``gamma_k`` and ``theta_k`` are learned
    (2T numbers). They start at ``gamma = 1 / ||W^T D||_2`` and ``theta = lam * gamma``.
    ``support_selection`` as in :class:`LISTA_CP` (Liu et al. use it).
    """

    def __init__(self, D: torch.Tensor, n_layers: int, lam: float = 0.1,
                 support_selection: tuple[float, float] | None = None):
        super().__init__()
        _init_common(self, D, n_layers, lam)
        W = analytic_weight(self.D)
        self.register_buffer("W", W)
        g = 1.0 / float(torch.linalg.matrix_norm((W.T @ self.D).double(), ord=2))
        self.support_selection = _check_ss(support_selection)
        self.gamma = nn.Parameter(torch.full((n_layers,), g, dtype=W.dtype, device=W.device))
        self.theta = nn.Parameter(torch.full((n_layers,), lam * g, dtype=W.dtype, device=W.device))

    def layer(self, k, x, y):
        v = x - self.gamma[k] * ((self.op(x) - y) @ self.W)
        return _ss(v, self.theta[k], self.support_selection, k)


# ------------------------------------------------------------------ the synthetic benchmark
