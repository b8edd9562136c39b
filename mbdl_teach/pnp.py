"""Plug-and-play: HQS and ADMM with any denoiser as the prior.

Both solve ``min_x ||H x - y||^2 + lambda * rho(x)`` by splitting ``x`` from a copy ``v``
and alternating

* a **data step**, a least-squares problem with the physics only:
  ``x = (H^T H + beta I)^{-1} (H^T y + beta * z)`` (the operator's ``solve_normal``: exact
  where it has a closed form, conjugate gradients otherwise);
* a **prior step**, a denoiser: ``v = D(x, sigma)``. Any callable ``D(x, sigma) -> x_hat``
  on (B, C, H, W) tensors works: wavelet thresholding, a CNN, WINNet...

The noise level given to the denoiser decreases geometrically over the iterations and the
penalty follows it, ``beta_k = lam * sigma_n^2 / sigma_k^2`` (the DPIR schedule of
Zhang et al., IEEE TPAMI 2021). Both solvers take the penalty as ``beta`` and return
``(x_hat, SolverHistory)``. They run without gradients unless ``grad=True`` (needed to
differentiate through a solver, e.g. to train its parameters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from .operators import LinearOperator

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
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}")
    hi = max(sigma_max, noise_level)
    if n_iter == 1:
        return [float(noise_level)]
    ratio = (noise_level / hi) ** (1 / (n_iter - 1))
    return [float(hi * ratio**k) for k in range(n_iter)]


# ------------------------------------------------------------------ solvers
@dataclass
class SolverHistory:
    """Per-iteration record of a solver run (lists of floats)."""

    sigma: list[float] = field(default_factory=list)
    beta: list[float] = field(default_factory=list)
    residual: list[float] = field(default_factory=list)  # ||H x - y|| / ||y||
    psnr: list[float] = field(default_factory=list)  # when x_true is given


def _check_inputs(y, op, denoiser, n_iter, x0):
    if not isinstance(y, torch.Tensor) or y.ndim != 4:
        raise ValueError(
            f"y must be a tensor of shape (B, C, H, W), got "
            f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}"
        )
    if not (hasattr(op, "forward") and hasattr(op, "adjoint")):
        raise TypeError(f"op must be a linear operator with forward/adjoint, got {type(op).__name__}")
    if not callable(denoiser):
        raise TypeError(f"denoiser must be callable as denoiser(x, sigma), got {type(denoiser).__name__}")
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
        raise ValueError(f"n_iter must be an int >= 1, got {n_iter!r}")
    if x0 is not None:
        if not isinstance(x0, torch.Tensor) or x0.ndim != 4:
            raise ValueError("x0 must be a tensor of shape (B, C, H, W)")
        if tuple(op.output_shape(tuple(x0.shape))) != tuple(y.shape):
            raise ValueError(
                f"operator and image sizes disagree: H maps x0 of shape {tuple(x0.shape)} to "
                f"{tuple(op.output_shape(tuple(x0.shape)))}, but y has shape {tuple(y.shape)}"
            )


def _schedule(n_iter, sigmas, beta, noise_level, lam):
    if sigmas is None:
        if noise_level is None:
            raise ValueError("give the denoiser's noise levels `sigmas`, or the measurement's `noise_level`")
        sigmas = dpir_sigmas(noise_level, n_iter)
    sigmas = [float(s) for s in sigmas]
    if len(sigmas) != n_iter:
        raise ValueError(f"sigmas has {len(sigmas)} values for n_iter={n_iter}")
    if any(not (s >= 0 and math.isfinite(s)) for s in sigmas):
        raise ValueError("sigmas must be finite and >= 0")
    if beta is None:
        if noise_level is None:
            raise ValueError("give `beta` (the penalty), or the measurement's `noise_level`")
        betas = [lam * noise_level**2 / max(s, 1e-8) ** 2 for s in sigmas]
    elif isinstance(beta, (int, float)):
        betas = [float(beta)] * n_iter
    else:
        betas = [float(b) for b in beta]
        if len(betas) != n_iter:
            raise ValueError(f"beta has {len(betas)} values for n_iter={n_iter}")
    if any(not (b > 0 and math.isfinite(b)) for b in betas):
        raise ValueError("the penalty beta must be finite and > 0")
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
    from .operators import Blur, Mask, gaussian_kernel

    if isinstance(op, Mask):
        m = op.mask.to(dtype=y.dtype, device=y.device).expand_as(y)
        g = Blur(gaussian_kernel(2.0))
        filled = g(m * y) / g(m).clamp_min(1e-6)
        return torch.where(m > 0.5, y, filled)
    if tuple(op.output_shape(tuple(y.shape))) == tuple(y.shape):
        return y.clone()
    return op.solve_normal(op.adjoint(y), 0.01)


def _prepare(y, op, denoiser, n_iter, x0, sigmas, penalty, noise_level, lam):
    """Checks, schedule and start shared by HQS and ADMM.

    Returns the starting estimate, the noise levels, the penalties, ``H^T y`` and ``||y||``.
    """
    _check_inputs(y, op, denoiser, n_iter, x0)
    sigmas, penalties = _schedule(n_iter, sigmas, penalty, noise_level, lam)
    start = initial_estimate(y, op) if x0 is None else x0.clone()
    if tuple(op.output_shape(tuple(start.shape))) != tuple(y.shape):
        raise ValueError(f"operator and image sizes disagree: y {tuple(y.shape)}, x {tuple(start.shape)}")
    return start, sigmas, penalties, op.adjoint(y), y.norm().clamp_min(1e-12)


def _denoise(denoiser, x, sigma, k):
    """Call the denoiser and check what it returns."""
    z = denoiser(x, sigma)
    if not isinstance(z, torch.Tensor) or z.shape != x.shape:
        raise ValueError(f"the denoiser returned {getattr(z, 'shape', type(z).__name__)} for input {tuple(x.shape)}")
    if not torch.isfinite(z).all():
        raise FloatingPointError(f"NaN or inf in the estimate at iteration {k + 1}")
    return z


def _record(history, op, x, y, x_true, sigma, beta, y_norm):
    from .metrics import psnr

    history.sigma.append(float(sigma))
    history.beta.append(float(beta))
    history.residual.append(float((op.forward(x) - y).norm() / y_norm))
    if x_true is not None:
        history.psnr.append(float(psnr(x.clamp(0, 1), x_true).mean()))


def hqs(
    y: torch.Tensor,
    op: LinearOperator,
    denoiser: DenoiserFn,
    n_iter: int,
    sigmas: Sequence[float] | None = None,
    beta: float | Sequence[float] | None = None,
    x0: torch.Tensor | None = None,
    callback: Callable[[int, torch.Tensor, SolverHistory], None] | None = None,
    noise_level: float | None = None,
    lam: float = 0.23,
    x_true: torch.Tensor | None = None,
    cg_n_iter: int = 30,
    grad: bool = False,
) -> tuple[torch.Tensor, SolverHistory]:
    """Half-quadratic splitting with a plug-in denoiser.

    Iterates, for ``k = 1..n_iter``::

        x = (H^T H + beta_k I)^{-1} (H^T y + beta_k z)     # data step
        z = denoiser(x, sigma_k)                           # prior step

    Parameters
    ----------
    y : Tensor, shape (B, C, h, w)
        The measurement.
    op : LinearOperator
        ``H`` (``mbdl_teach.operators``).
    denoiser : callable
        ``denoiser(x, sigma) -> x_hat`` on (B, C, H, W).
    n_iter : int
        Number of iterations (>= 1).
    sigmas : sequence of float, optional
        The denoiser's noise level per iteration; default :func:`dpir_sigmas` from
        ``noise_level``.
    beta : float or sequence, optional
        The penalty per iteration; default ``lam * noise_level^2 / sigma_k^2``.
    x0 : Tensor, shape (B, C, H, W), optional
        Start (default :func:`initial_estimate`).
    callback : callable, optional
        ``callback(k, z, history)`` after each iteration.
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

    Returns
    -------
    x_hat : Tensor, shape (B, C, H, W)
        The last denoised estimate ``z``.
    history : SolverHistory
    """
    z, sigmas, betas, aty, y_norm = _prepare(y, op, denoiser, n_iter, x0, sigmas, beta,
                                             noise_level, lam)
    history = SolverHistory()
    with torch.set_grad_enabled(grad):
        for k in range(n_iter):
            x = op.solve_normal(aty + betas[k] * z, betas[k], x0=z, cg_n_iter=cg_n_iter)
            z = _denoise(denoiser, x, sigmas[k], k)
            _record(history, op, z, y, x_true, sigmas[k], betas[k], y_norm)
            if callback is not None:
                callback(k, z, history)
    return z, history


def admm(
    y: torch.Tensor,
    op: LinearOperator,
    denoiser: DenoiserFn,
    n_iter: int,
    sigmas: Sequence[float] | None = None,
    beta: float | Sequence[float] | None = None,
    x0: torch.Tensor | None = None,
    callback: Callable[[int, torch.Tensor, SolverHistory], None] | None = None,
    noise_level: float | None = None,
    lam: float = 0.23,
    x_true: torch.Tensor | None = None,
    cg_n_iter: int = 30,
    grad: bool = False,
) -> tuple[torch.Tensor, SolverHistory]:
    """Plug-and-play ADMM (Venkatakrishnan, Bouman & Wohlberg 2013).

    Iterates, with the scaled dual variable ``u``::

        x = (H^T H + beta_k I)^{-1} (H^T y + beta_k (v - u))   # data step
        v = denoiser(x + u, sigma_k)                            # prior step
        u = u + x - v                                           # dual update

    The penalty ``beta`` plays the role it has in :func:`hqs` (it is often written
    ``rho`` in ADMM papers); when it changes between iterations ``u`` is rescaled by
    ``beta_{k-1} / beta_k`` (it is the dual variable divided by ``beta``). Parameters are
    those of :func:`hqs`.

    Returns
    -------
    x_hat : Tensor, shape (B, C, H, W)
        The last ``v``.
    history : SolverHistory
    """
    v, sigmas, betas, aty, y_norm = _prepare(y, op, denoiser, n_iter, x0, sigmas, beta,
                                             noise_level, lam)
    u = torch.zeros_like(v)
    history = SolverHistory()
    with torch.set_grad_enabled(grad):
        for k in range(n_iter):
            if k > 0 and betas[k] != betas[k - 1]:
                u = u * (betas[k - 1] / betas[k])
            x = op.solve_normal(aty + betas[k] * (v - u), betas[k], x0=v,
                                cg_n_iter=cg_n_iter)
            v = _denoise(denoiser, x + u, sigmas[k], k)
            u = u + x - v
            _record(history, op, v, y, x_true, sigmas[k], betas[k], y_norm)
            if callback is not None:
                callback(k, v, history)
    return v, history
