"""Splitting solvers: half-quadratic splitting (HQS) and ADMM, with any prior.

Both solve ``min_x 1/2 ||H x - y||^2 + g(x)`` by splitting ``x`` from a copy ``v`` and
alternating

* a **data step**, a least-squares problem with the physics only:
  ``x = (H^T H + beta I)^{-1} (H^T y + beta z)`` (the operator's ``solve_normal``: exact
  where it has a closed form, conjugate gradients otherwise);
* a **prior step**: the proximal map of ``g / beta`` (a :class:`~mbdl_teach.solvers.Prox`),
  or, in plug-and-play, a denoiser ``v = D(x, sigma)``: wavelet thresholding, a CNN,
  WINNet, a diffusion model's denoiser view...

For a denoiser, the noise level decreases geometrically over the iterations and the
penalty follows it, ``beta_k = lam sigma_n^2 / sigma_k^2`` (the DPIR schedule of Zhang et
al., IEEE TPAMI 2021). Both run without gradients unless ``grad=True``.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from ..operators import LinearOperator
from .core import Callback, History, Prox, check_measurement, check_n_iter

__all__ = ["dpir_sigmas", "initial_estimate", "hqs", "admm", "DenoiserFn"]

#: Any callable ``denoiser(x, sigma) -> x_hat`` (a :class:`mbdl_teach.denoisers.Denoiser` or not).
DenoiserFn = Callable[[torch.Tensor, float], torch.Tensor]


def dpir_sigmas(noise_level: float, n_iter: int, sigma_max: float = 49 / 255) -> list[float]:
    """Denoiser noise levels decreasing geometrically from ``sigma_max`` to ``noise_level``.

    Parameters
    ----------
    noise_level : float
        The measurement's noise std ``sigma_n`` (> 0), [0, 1] scale.
    n_iter : int
    sigma_max : float
        First (largest) level; DPIR uses 49/255.
    """
    if not noise_level > 0:
        raise ValueError(f"noise_level must be > 0, got {noise_level}")
    check_n_iter(n_iter, 1)
    hi = max(sigma_max, noise_level)
    if n_iter == 1:
        return [float(noise_level)]
    ratio = (noise_level / hi) ** (1 / (n_iter - 1))
    return [float(hi * ratio**k) for k in range(n_iter)]


def _check_inputs(y, op, prior, n_iter, x0):
    check_measurement(y)
    if y.ndim < 2 or (y.ndim != 4 and not isinstance(prior, Prox)):
        raise ValueError("y must be batch first: (B, C, H, W) images for a denoiser prior, "
                         f"(B, ...) for a proximal map; got shape {tuple(y.shape)}")
    if not isinstance(op, LinearOperator):
        raise TypeError(f"op must be a LinearOperator, got {type(op).__name__}")
    if not callable(prior):
        raise TypeError(f"the prior must be a denoiser(x, sigma) or a solvers.Prox, got "
                        f"{type(prior).__name__}")
    check_n_iter(n_iter, 1)
    if x0 is not None:
        if not isinstance(x0, torch.Tensor):
            raise TypeError(f"x0 must be a tensor, got {type(x0).__name__}")
        if tuple(op.output_shape(tuple(x0.shape))) != tuple(y.shape):
            raise ValueError(
                f"operator and image sizes disagree: H maps x0 of shape {tuple(x0.shape)} to "
                f"{tuple(op.output_shape(tuple(x0.shape)))}, but y has shape {tuple(y.shape)}"
            )


def _schedule(n_iter, prior, sigmas, beta, noise_level, lam):
    """The prior's level (a denoiser's sigma, a proximal map's tau = 1 / beta) and the
    penalty per iteration."""
    is_prox = isinstance(prior, Prox)
    if is_prox and sigmas is not None:
        raise ValueError("a proximal map takes its step from beta: give no sigmas")
    if not is_prox:
        if sigmas is None:
            if noise_level is None:
                raise ValueError("give the denoiser's noise levels `sigmas`, or the "
                                 "measurement's `noise_level`")
            sigmas = dpir_sigmas(noise_level, n_iter)
        sigmas = [float(s) for s in sigmas]
        if len(sigmas) != n_iter:
            raise ValueError(f"sigmas has {len(sigmas)} values for n_iter={n_iter}")
        if any(not (s >= 0 and math.isfinite(s)) for s in sigmas):
            raise ValueError("sigmas must be finite and >= 0")
    if beta is None:
        if is_prox or noise_level is None:
            raise ValueError("give `beta` (the penalty)" + (
                "" if is_prox else ", or the measurement's `noise_level`"))
        betas = [lam * noise_level**2 / max(s, 1e-8) ** 2 for s in sigmas]
    elif isinstance(beta, (int, float)):
        betas = [float(beta)] * n_iter
    else:
        betas = [float(b) for b in beta]
        if len(betas) != n_iter:
            raise ValueError(f"beta has {len(betas)} values for n_iter={n_iter}")
    if any(not (b > 0 and math.isfinite(b)) for b in betas):
        raise ValueError("the penalty beta must be finite and > 0")
    if is_prox:
        sigmas = [1.0 / b for b in betas]
    return sigmas, betas


def initial_estimate(y: torch.Tensor, op: LinearOperator) -> torch.Tensor:
    """A starting point for the solvers.

    * a mask (inpainting): normalised convolution, ``(g * y) / (g * m)`` with a Gaussian
      ``g`` of std 2 pixels, which fills each hole with a weighted mean of the observed
      pixels around it (observed pixels are kept);
    * an operator that keeps the size: ``y`` itself;
    * otherwise (e.g. super-resolution): ``(H^T H + 0.01 I)^{-1} H^T y``.

    Parameters
    ----------
    y : Tensor, shape (B, C, h, w)
    op : LinearOperator

    Returns
    -------
    Tensor, shape (B, C, H, W)
    """
    from ..operators import Blur, Mask, gaussian_kernel

    if isinstance(op, Mask):
        m = op.mask.to(dtype=y.dtype, device=y.device).expand_as(y)
        g = Blur(gaussian_kernel(2.0))
        filled = g(m * y) / g(m).clamp_min(1e-6)
        return torch.where(m > 0.5, y, filled)
    if tuple(op.output_shape(tuple(y.shape))) == tuple(y.shape):
        return y.clone()
    return op.solve_normal(op.adjoint(y), 0.01)


class _Run:
    """Checks, schedule, start and bookkeeping shared by HQS and ADMM."""

    def __init__(self, y, op, prior, n_iter, x0, sigmas, beta, noise_level, lam, x_true,
                 record_residual):
        _check_inputs(y, op, prior, n_iter, x0)
        self.sigmas, self.betas = _schedule(n_iter, prior, sigmas, beta, noise_level, lam)
        self.start = initial_estimate(y, op) if x0 is None else x0.clone()
        self.y, self.op, self.prior, self.x_true = y, op, prior, x_true
        self.aty, self.y_norm = op.adjoint(y), y.norm().clamp_min(1e-12)
        self.record_residual = record_residual
        self.history = History()

    def prior_step(self, x, k):
        """The prior at iteration k (from 0): a proximal map or a denoiser, checked."""
        z = self.prior(x, self.sigmas[k])
        if not isinstance(z, torch.Tensor) or z.shape != x.shape:
            raise ValueError(f"the prior returned {getattr(z, 'shape', type(z).__name__)} "
                             f"for input {tuple(x.shape)}")
        if not torch.isfinite(z).all():
            raise FloatingPointError(f"NaN or inf in the estimate at iteration {k + 1}")
        return z

    def record(self, k, x, callback) -> bool:
        """Record iteration k (from 0); True when the callback asks to stop."""
        from ..metrics import psnr

        h = self.history
        h.n_iter = k + 1
        h.sigma.append(float(self.sigmas[k]))
        h.beta.append(float(self.betas[k]))
        if self.record_residual:
            h.residual.append(float((self.op.forward(x) - self.y).norm() / self.y_norm))
        if self.x_true is not None:
            h.psnr.append(float(psnr(x.clamp(0, 1), self.x_true).mean()))
        return callback is not None and bool(callback(k + 1, x))


def hqs(
    y: torch.Tensor,
    op: LinearOperator,
    prior: DenoiserFn | Prox,
    n_iter: int,
    x0: torch.Tensor | None = None,
    callback: Callback | None = None,
    sigmas: Sequence[float] | None = None,
    beta: float | Sequence[float] | None = None,
    noise_level: float | None = None,
    lam: float = 0.23,
    x_true: torch.Tensor | None = None,
    cg_n_iter: int = 30,
    grad: bool = False,
    record_residual: bool = True,
) -> tuple[torch.Tensor, History]:
    """Half-quadratic splitting with a plug-in denoiser or a proximal map.

    Iterates, for ``k = 1..n_iter``::

        x = (H^T H + beta_k I)^{-1} (H^T y + beta_k z)     # data step
        z = D(x, sigma_k)   or   prox_{g / beta_k}(x)      # prior step

    Parameters
    ----------
    y : Tensor, shape (B, C, h, w)
        The measurement.
    op : LinearOperator
        ``H`` (``mbdl_teach.operators``).
    prior : callable or Prox
        A denoiser ``D(x, sigma) -> x_hat``, or a proximal map (called with tau = 1/beta).
    n_iter : int
        Number of iterations (>= 1).
    x0 : Tensor, shape (B, C, H, W), optional
        Start (default :func:`initial_estimate`).
    callback : callable, optional
        ``callback(k, z)`` after iteration k (from 1); returning True stops.
    sigmas : sequence of float, optional
        The denoiser's noise level per iteration; default :func:`dpir_sigmas` from
        ``noise_level``.
    beta : float or sequence, optional
        The penalty per iteration; default ``lam * noise_level^2 / sigma_k^2``.
    noise_level : float, optional
        The measurement noise std ``sigma_n``.
    lam : float
        Weight of the prior in the default schedule (DPIR: 0.23).
    x_true : Tensor, optional
        Ground truth: the history then records the PSNR per iteration.
    cg_n_iter : int
        Conjugate-gradient iterations per data step, for operators without a closed-form
        ``solve_normal`` (warm-started from the previous estimate).
    grad : bool
        Keep the autograd graph (default: run under ``torch.no_grad()``).
    record_residual : bool
        Record ``||H z - y|| / ||y||`` per iteration (one more product with ``H`` each).

    Returns
    -------
    x_hat : Tensor, shape (B, C, H, W)
        The last prior-step estimate ``z``.
    history : History
    """
    run = _Run(y, op, prior, n_iter, x0, sigmas, beta, noise_level, lam, x_true,
               record_residual)
    z, betas, aty = run.start, run.betas, run.aty
    with torch.set_grad_enabled(grad):
        for k in range(n_iter):
            x = op.solve_normal(aty + betas[k] * z, betas[k], x0=z, cg_n_iter=cg_n_iter)
            z = run.prior_step(x, k)
            if run.record(k, z, callback):
                break
    return z, run.history


def admm(
    y: torch.Tensor,
    op: LinearOperator,
    prior: DenoiserFn | Prox,
    n_iter: int,
    x0: torch.Tensor | None = None,
    callback: Callback | None = None,
    sigmas: Sequence[float] | None = None,
    beta: float | Sequence[float] | None = None,
    noise_level: float | None = None,
    lam: float = 0.23,
    x_true: torch.Tensor | None = None,
    cg_n_iter: int = 30,
    grad: bool = False,
    record_residual: bool = True,
) -> tuple[torch.Tensor, History]:
    """ADMM with a plug-in denoiser (Venkatakrishnan, Bouman & Wohlberg 2013) or a
    proximal map (Boyd et al. 2011).

    Iterates, with the scaled dual variable ``u``::

        x = (H^T H + beta_k I)^{-1} (H^T y + beta_k (v - u))   # data step
        v = D(x + u, sigma_k)  or  prox_{g / beta_k}(x + u)     # prior step
        u = u + x - v                                           # dual update

    The penalty ``beta`` plays the role it has in :func:`hqs` (it is often written
    ``rho`` in ADMM papers); when it changes between iterations ``u`` is rescaled by
    ``beta_{k-1} / beta_k`` (it is the dual variable divided by ``beta``). Parameters are
    those of :func:`hqs`; ``x0`` starts ``v`` (``u`` starts at 0).

    Returns
    -------
    x_hat : Tensor, shape (B, C, H, W)
        The last ``v`` (feasible for a constraint in ``g``).
    history : History
    """
    run = _Run(y, op, prior, n_iter, x0, sigmas, beta, noise_level, lam, x_true,
               record_residual)
    v, betas, aty = run.start, run.betas, run.aty
    u = torch.zeros_like(v)
    with torch.set_grad_enabled(grad):
        for k in range(n_iter):
            if k > 0 and betas[k] != betas[k - 1]:
                u = u * (betas[k - 1] / betas[k])
            x = op.solve_normal(aty + betas[k] * (v - u), betas[k], x0=v,
                                cg_n_iter=cg_n_iter)
            v = run.prior_step(x + u, k)
            u = u + x - v
            if run.record(k, v, callback):
                break
    return v, run.history
