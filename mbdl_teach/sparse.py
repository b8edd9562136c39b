"""Sparse coding and deep unfolding: ISTA, FISTA, LISTA, LISTA-CP and ALISTA.

The problem is the LASSO

.. math:: \\min_x \\tfrac12 \\|y - D x\\|_2^2 + \\lambda \\|x\\|_1,

with a dictionary ``D`` of shape (m, n), measurements ``y`` of shape (B, m) and codes ``x``
of shape (B, n) (rows are examples, so ``D x`` is ``x @ D.T``).

* :func:`ista` and :func:`fista` solve it by proximal gradient steps (Daubechies et al.
  2004; Beck & Teboulle 2009) with step ``1/L``, ``L = ||D||_2^2``.
* :class:`LISTA` unfolds T iterations of ISTA into T layers
  ``x_{k+1} = S_{theta_k}(W_e y + S x_k)`` whose matrices and thresholds are learned
  (Gregor & LeCun 2010). Initialised from ISTA, the untrained net *is* ISTA, layer by layer.
* :class:`LISTA_CP` couples the weights, ``x_{k+1} = S_{theta_k}(x_k + W_k^T (y - D x_k))``
  (Chen et al. 2018); :class:`ALISTA` fixes an analytic ``W`` and learns only a step size
  and a threshold per layer (Liu et al. 2019). Both can use *support selection*: the
  largest entries of each code skip the threshold.
* :class:`SyntheticSparse` is the benchmark of those papers (Gaussian dictionary with
  unit-norm columns, Bernoulli(p)-Gaussian codes, optional noise).
* The networks are :class:`mbdl_teach.unfolding.Unfolded` subclasses: train them with
  :func:`mbdl_teach.unfolding.train_unfolded`, measure them with
  :func:`mbdl_teach.unfolding.nmse_per_layer`.

The dictionary is a :class:`mbdl_teach.operators.MatrixOperator` (``D x`` is ``op(x)``,
``D^T r`` is ``op.adjoint(r)``); the functions accept the matrix or the operator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from .metrics import nmse_db
from .operators import MatrixOperator
from .unfolding import Unfolded, nmse_per_layer
from .wavelets import soft_threshold

__all__ = [
    "lipschitz", "lasso_objective", "SolverResult", "proximal_gradient", "ista", "fista",
    "iterations_to_reach", "tune_lambda", "iterations_matched", "LISTA", "LISTA_CP", "ALISTA",
    "analytic_weight", "SyntheticSparse", "dct_dictionary", "image_to_patches",
    "patches_to_image", "plot_unrolled_graph",
]


# ------------------------------------------------------------------ checks
_check_dictionary = MatrixOperator.check


def _check_problem(y, D, lam=None, n_iter=None, x0=None) -> tuple[torch.Tensor, bool]:
    """Validate a LASSO problem; return y as (B, m) and whether it came in as (m,)."""
    D = _check_dictionary(D)
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch.Tensor of shape (B, m) or (m,), got {type(y).__name__}")
    single = y.ndim == 1
    y2 = y[None] if single else y
    if y2.ndim != 2 or y2.shape[1] != D.shape[0]:
        raise ValueError(
            f"y must have shape (B, m) or (m,) with m = D.shape[0] = {D.shape[0]}; "
            f"got y of shape {tuple(y.shape)} and D of shape {tuple(D.shape)}"
        )
    if not torch.isfinite(y2).all():
        raise ValueError("y contains NaN or inf")
    if lam is not None:
        if not isinstance(lam, (int, float)) or isinstance(lam, bool) or not math.isfinite(lam) or lam < 0:
            raise ValueError(f"lam must be a finite number >= 0, got {lam!r}")
    if n_iter is not None and (not isinstance(n_iter, int) or isinstance(n_iter, bool) or n_iter < 0):
        raise ValueError(f"n_iter must be an integer >= 0, got {n_iter!r}")
    if x0 is not None:
        want = (y2.shape[0], D.shape[1])
        x0s = tuple(x0.shape) if isinstance(x0, torch.Tensor) else None
        if x0s not in (want, (D.shape[1],) if single else want):
            raise ValueError(f"x0 must have shape {want} (B, n), got {x0s}")
    return y2, single


# ------------------------------------------------------------------ building blocks
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


def lipschitz(D: torch.Tensor) -> float:
    """``L = ||D||_2^2``, the Lipschitz constant of the gradient of ``0.5||y - D x||^2``."""
    D = _check_dictionary(D)
    return float(torch.linalg.matrix_norm(D.double(), ord=2) ** 2)


def lasso_objective(x: torch.Tensor, y: torch.Tensor, D, lam: float) -> torch.Tensor:
    """``0.5||y - D x||^2 + lam ||x||_1`` per example; x (B, n), y (B, m) -> (B,)."""
    op = D if isinstance(D, MatrixOperator) else MatrixOperator(D)
    return 0.5 * ((y - op(x)) ** 2).sum(-1) + lam * x.abs().sum(-1)


@dataclass
class SolverResult:
    """Output of :func:`ista` / :func:`fista`.

    Attributes
    ----------
    x : Tensor, shape (B, n) (or (n,) for a single y)
        The last iterate.
    objective : list of float
        Mean LASSO objective over the batch at iterates 0..n_iter.
    nmse : list of float or None
        NMSE (dB) against ``ref`` at iterates 0..n_iter, when ``ref`` was given.
    iterates : Tensor of shape (n_iter + 1, B, n), or None
        Every iterate, when ``return_iterates=True``.
    """

    x: torch.Tensor
    objective: list[float] = field(default_factory=list)
    nmse: list[float] | None = None
    iterates: torch.Tensor | None = None


def proximal_gradient(y: torch.Tensor, D, lam: float, n_iter: int,
                      x0: torch.Tensor | None = None, ref: torch.Tensor | None = None,
                      return_iterates: bool = False, accelerated: bool = False,
                      step: float | None = None, objective: bool = True,
                      stop_db: float | None = None) -> SolverResult:
    """ISTA (``accelerated=False``) or FISTA: proximal gradient steps on the LASSO.

    Each step is a gradient step on ``0.5||y - D x||^2`` followed by the soft threshold,
    the proximal operator of ``lam ||x||_1``::

        x_{k+1} = S_{lam/L}(z_k - D^T (D z_k - y) / L)

    with ``z_k = x_k`` (ISTA) or FISTA's extrapolated point. Arguments as in :func:`ista`.
    """
    y2, single = _check_problem(y, D, lam, n_iter, x0)
    op = D if isinstance(D, MatrixOperator) else MatrixOperator(D)
    n = op.shape[1]
    if stop_db is not None and ref is None:
        raise ValueError("stop_db needs ref (the true codes)")
    if ref is not None:
        if not isinstance(ref, torch.Tensor):
            raise TypeError(f"ref must be a torch.Tensor, got {type(ref).__name__}")
        ref = ref[None] if ref.ndim == 1 else ref
        if tuple(ref.shape) != (y2.shape[0], n):
            raise ValueError(f"ref must have shape {(y2.shape[0], n)} (B, n), got {tuple(ref.shape)}")
    L = lipschitz(op) if step is None else 1.0 / step
    if not L > 0:
        raise ValueError("D is zero: the step size 1/||D||^2 is undefined")
    x = torch.zeros(y2.shape[0], n, dtype=y2.dtype, device=y2.device) if x0 is None else (
        x0[None] if x0.ndim == 1 else x0).to(y2.dtype)
    out = SolverResult(x=x, nmse=[] if ref is not None else None)
    keep = [x] if return_iterates else None

    def record(v):
        if objective:
            out.objective.append(float(lasso_objective(v, y2, op, lam).mean()))
        if ref is not None:
            out.nmse.append(nmse_db(v, ref))

    record(x)
    z, t = x, 1.0
    for _ in range(n_iter):
        x_new = soft_threshold(z - op.adjoint(op(z) - y2) / L, lam / L)
        if accelerated:
            t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
            z = x_new + ((t - 1) / t_new) * (x_new - x)
            t = t_new
        else:
            z = x_new
        x = x_new
        record(x)
        if keep is not None:
            keep.append(x)
        if stop_db is not None and out.nmse[-1] <= stop_db:
            break
    out.x = x[0] if single else x
    if keep is not None:
        out.iterates = torch.stack(keep)
    return out


def ista(y: torch.Tensor, D: torch.Tensor | MatrixOperator, lam: float, n_iter: int, x0: torch.Tensor | None = None,
         ref: torch.Tensor | None = None, return_iterates: bool = False,
         step: float | None = None, objective: bool = True,
         stop_db: float | None = None) -> SolverResult:
    """ISTA: ``x_{k+1} = S_{lam/L}(x_k + D^T (y - D x_k) / L)``, ``L = ||D||_2^2``.

    Parameters
    ----------
    y : Tensor, shape (B, m) or (m,)
    D : Tensor of shape (m, n), or MatrixOperator
    lam : float
        Weight of the l1 penalty (>= 0).
    n_iter : int
        Number of iterations (>= 0).
    x0 : Tensor, shape (B, n), optional
        Starting point (default zeros).
    ref : Tensor, shape (B, n), optional
        True codes: the result then holds the NMSE (dB) of every iterate.
    return_iterates : bool
        Keep every iterate (memory ``(n_iter + 1) B n``).
    step : float, optional
        Step size (default ``1 / L``).
    objective : bool
        Record the LASSO objective of every iterate (costs one more product per step).
    stop_db : float, optional
        Stop as soon as the NMSE against ``ref`` is at most this (dB); needs ``ref``.

    Returns
    -------
    SolverResult
        ``.x`` (last iterate), ``.objective``, ``.nmse`` and ``.iterates``.
    """
    return proximal_gradient(y, D, lam, n_iter, x0, ref, return_iterates, False, step,
                             objective, stop_db)


def fista(y: torch.Tensor, D: torch.Tensor | MatrixOperator, lam: float, n_iter: int, x0: torch.Tensor | None = None,
          ref: torch.Tensor | None = None, return_iterates: bool = False,
          step: float | None = None, objective: bool = True,
          stop_db: float | None = None) -> SolverResult:
    """FISTA (Beck & Teboulle 2009): ISTA's step taken at an extrapolated point.

    ``x_{k+1} = S_{lam/L}(z_k + D^T(y - D z_k)/L)``,
    ``t_{k+1} = (1 + sqrt(1 + 4 t_k^2))/2``,
    ``z_{k+1} = x_{k+1} + (t_k - 1)/t_{k+1} (x_{k+1} - x_k)``.
    Same arguments and result as :func:`ista`.
    """
    return proximal_gradient(y, D, lam, n_iter, x0, ref, return_iterates, True, step,
                             objective, stop_db)


def iterations_to_reach(nmse: Sequence[float], target: float) -> int | None:
    """First index ``k`` with ``nmse[k] <= target`` (None if never)."""
    for k, v in enumerate(nmse):
        if v <= target:
            return k
    return None


_SOLVERS = {"ista": False, "fista": True}  # method -> accelerated


def _accelerated(method: str) -> bool:
    if method not in _SOLVERS:
        raise ValueError(f"method must be one of {sorted(_SOLVERS)}, got {method!r}")
    return _SOLVERS[method]


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
        curve = proximal_gradient(y, D, float(lam), n_iter, ref=x, accelerated=accelerated,
                                  objective=False, stop_db=target_db).nmse
        scores[float(lam)] = curve[-1] if target_db is None else iterations_to_reach(curve, target_db)
    reached = {k: v for k, v in scores.items() if v is not None}
    return (min(reached, key=reached.get) if reached else None), scores


def iterations_matched(net: nn.Module, train: tuple[torch.Tensor, torch.Tensor],
                       test: tuple[torch.Tensor, torch.Tensor], D: torch.Tensor,
                       lams: Sequence[float], max_iter: int,
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
    max_iter : int
        Iterations allowed per ``lam``.
    method : {"ista", "fista"}

    Returns
    -------
    target_db : float
        The network's test NMSE (dB) at its last layer.
    lam : float or None
        The chosen ``lam`` (None: no ``lam`` reached the target within ``max_iter``).
    iterations : int or None
        Iterations the solver needs on the test codes (None: more than ``max_iter``).
    """
    accelerated = _accelerated(method)
    target_tr = nmse_per_layer(net, *train)[-1]
    target = nmse_per_layer(net, *test)[-1]
    lam, _ = tune_lambda(*train, D, lams, max_iter, method=method, target_db=target_tr)
    if lam is None:
        return target, None, None
    curve = proximal_gradient(test[0], D, lam, max_iter, ref=test[1], accelerated=accelerated,
                              objective=False, stop_db=target).nmse
    return target, lam, iterations_to_reach(curve, target)


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
class SyntheticSparse:
    """The synthetic sparse-coding benchmark of Chen et al. (2018) and Liu et al. (2019).

    ``D`` (m, n): i.i.d. Gaussian entries, columns scaled to unit norm. Codes: Bernoulli(p)
    support with N(0, 1) values. ``y = D x + w`` with white Gaussian ``w`` at ``snr_db``
    (None: noiseless).

    Parameters
    ----------
    m, n : int
        Measurements and atoms (m <= n).
    p : float
        Probability that an entry of a code is non-zero.
    snr_db : float or None
    generator : torch.Generator, optional
        Draws the dictionary.
    """

    def __init__(self, m: int, n: int, p: float = 0.1, snr_db: float | None = None,
                 generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32):
        for name, v in (("m", m), ("n", n)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not 0 < p <= 1:
            raise ValueError(f"p must be in (0, 1], got {p!r}")
        if snr_db is not None and not math.isfinite(snr_db):
            raise ValueError(f"snr_db must be finite or None, got {snr_db!r}")
        self.m, self.n, self.p, self.snr_db, self.dtype = m, n, float(p), snr_db, dtype
        D = torch.randn(m, n, generator=generator, dtype=torch.float64)
        self.D = (D / D.norm(dim=0, keepdim=True)).to(dtype)

    def sample(self, batch: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``batch`` pairs: ``y`` (batch, m) and ``x`` (batch, n)."""
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
        support = torch.rand(batch, self.n, generator=generator) < self.p
        x = (support * torch.randn(batch, self.n, generator=generator)).to(self.dtype)
        y = x @ self.D.T
        if self.snr_db is not None:
            std = math.sqrt(float((y**2).mean()) / 10 ** (self.snr_db / 10))
            y = y + std * torch.randn(y.shape, generator=generator).to(self.dtype)
        return y, x

    def batches(self, batch: int) -> Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]:
        """A batch source for :func:`mbdl_teach.training.fit`."""
        return lambda step, generator: self.sample(batch, generator)

    def __repr__(self) -> str:
        return f"SyntheticSparse(m={self.m}, n={self.n}, p={self.p}, snr_db={self.snr_db})"


# ------------------------------------------------------------------ image patches
def dct_dictionary(size: int = 8, atoms_per_dim: int = 16) -> torch.Tensor:
    """Overcomplete 2-D DCT dictionary for ``size x size`` patches (as in K-SVD papers).

    Returns
    -------
    Tensor, shape (size**2, atoms_per_dim**2), unit-norm columns, the first one constant.
    """
    if size < 1 or atoms_per_dim < size:
        raise ValueError(f"need size >= 1 and atoms_per_dim >= size, got {size}, {atoms_per_dim}")
    t = torch.arange(size, dtype=torch.float64)[:, None]
    k = torch.arange(atoms_per_dim, dtype=torch.float64)[None]
    A = torch.cos(t * k * math.pi / atoms_per_dim)
    A[:, 1:] -= A[:, 1:].mean(0, keepdim=True)
    A = A / A.norm(dim=0, keepdim=True)
    return torch.kron(A, A).float()


def image_to_patches(img: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """All ``size x size`` patches of an image (H, W) at ``stride``, as rows (N, size**2)."""
    if img.ndim != 2:
        raise ValueError(f"img must have shape (H, W), got {tuple(img.shape)}")
    H, W = img.shape
    if (H - size) % stride or (W - size) % stride:
        raise ValueError(f"(H - size) and (W - size) must be multiples of stride; got {H}x{W}, "
                         f"size {size}, stride {stride}")
    u = torch.nn.functional.unfold(img[None, None], size, stride=stride)  # (1, size^2, N)
    return u[0].T


def patches_to_image(patches: torch.Tensor, shape: tuple[int, int], size: int, stride: int) -> torch.Tensor:
    """Inverse of :func:`image_to_patches`: put patches back, averaging the overlaps."""
    H, W = shape
    fold = lambda p: torch.nn.functional.fold(p.T[None], (H, W), size, stride=stride)[0, 0]
    return fold(patches) / fold(torch.ones_like(patches))


# ------------------------------------------------------------------ drawing
def plot_unrolled_graph(n_layers: int = 3, ax=None):
    """Draw LISTA unrolled: ``y -> W_e -> (+) -> S_theta -> x_k``, with ``S`` feeding back.

    Returns the matplotlib axis.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(2.4 * n_layers + 1.5, 2.4))
    box = dict(boxstyle="round,pad=0.3", fc="#e8f0fe", ec="#3367d6")
    arrow = dict(arrowstyle="->", color="0.3")
    ax.text(0.2, 2.0, "$y$", fontsize=13, ha="center", va="center")
    ax.annotate("", (0.2, 0.55), (0.2, 1.8), arrowprops=arrow)
    ax.plot([0.2, 2.4 * n_layers - 0.8], [0.5, 0.5], color="0.6", lw=1)
    for k in range(n_layers):
        x0 = 1.0 + 2.4 * k
        ax.text(x0, 0.5, "$W_e^{%d}$" % (k + 1), ha="center", va="center", bbox=box, fontsize=10)
        ax.text(x0 + 0.6, 1.2, "$+$", ha="center", va="center", fontsize=13,
                bbox=dict(boxstyle="circle,pad=0.1", fc="white", ec="0.3"))
        ax.text(x0 + 1.3, 1.2, r"$\mathcal{S}_{\theta_{%d}}$" % (k + 1), ha="center", va="center",
                bbox=dict(boxstyle="round,pad=0.3", fc="#fde8e8", ec="#c5221f"), fontsize=10)
        ax.annotate("", (x0 + 0.45, 1.1), (x0 + 0.15, 0.6), arrowprops=arrow)
        ax.annotate("", (x0 + 1.0, 1.2), (x0 + 0.75, 1.2), arrowprops=arrow)
        ax.text(x0 + 1.95, 1.2, "$x_{%d}$" % (k + 1), ha="center", va="center", fontsize=11)
        ax.annotate("", (x0 + 1.75, 1.2), (x0 + 1.6, 1.2), arrowprops=arrow)
        if k:
            ax.text(x0 - 0.3, 2.0, "$S^{%d}$" % (k + 1), ha="center", va="center", bbox=box, fontsize=10)
            ax.annotate("", (x0 - 0.1, 2.0), (x0 - 0.45, 1.35), arrowprops=arrow)
            ax.annotate("", (x0 + 0.5, 1.35), (x0 + 0.0, 1.95), arrowprops=arrow)
    ax.set_xlim(-0.2, 2.4 * n_layers + 0.6)
    ax.set_ylim(0.1, 2.4)
    ax.axis("off")
    ax.set_title("LISTA: %d unrolled ISTA iterations with learned $W_e^k, S^k, \\theta_k$" % n_layers,
                 fontsize=10)
    return ax
