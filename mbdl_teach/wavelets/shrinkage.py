"""The shrinkage functions: soft and hard thresholding, and the module's constants."""

from __future__ import annotations

import numpy as np
import torch



ArrayLike = torch.Tensor | np.ndarray

#: PyWavelets signal-extension mode used by every transform in this module.
BOUNDARY = "symmetric"
#: Threshold rules understood by :func:`band_thresholds` and :func:`denoise`.
RULES = ("universal", "sure", "bayes")
#: Shrinkage functions understood by :func:`threshold` and :func:`denoise`.
MODES = ("soft", "hard")
#: Phi^{-1}(3/4): median(|n|) of a standard normal n, the "0.6745" of the MAD estimate.
MAD_CONSTANT = 0.6744897501960817


def check_t(t) -> None:
    if isinstance(t, torch.Tensor):
        bad = bool((t.detach() < 0).any()) or not bool(torch.isfinite(t.detach()).all())
    elif isinstance(t, (np.ndarray, int, float, np.integer, np.floating)) and not isinstance(t, bool):
        arr = np.asarray(t, dtype=np.float64)
        bad = bool((arr < 0).any()) or not bool(np.isfinite(arr).all())
    else:
        raise TypeError(f"threshold t must be a number, tensor or array, got {type(t).__name__}")
    if bad:
        raise ValueError(f"threshold t must be finite and >= 0, got {t}")


def checked_threshold(x: ArrayLike, t):
    """Check ``t`` (finite, >= 0) and ``x`` (tensor or array); ``t`` on ``x``'s dtype and device."""
    check_t(t)
    if isinstance(x, torch.Tensor):
        return torch.as_tensor(t, dtype=x.dtype, device=x.device)
    if isinstance(x, np.ndarray):
        return t
    raise TypeError(f"x must be a torch.Tensor or a NumPy array, got {type(x).__name__}")


def soft_threshold(x: ArrayLike, t, check: bool = True) -> ArrayLike:
    """Soft thresholding ``sign(x) * max(|x| - t, 0)`` (shrink towards zero by ``t``).

    The proximal operator of ``t ||.||_1``, used by wavelet shrinkage, ISTA and every
    unfolded network of the course.

    Parameters
    ----------
    x : Tensor or ndarray, any shape
    t : float, or Tensor/ndarray broadcastable to ``x``
        Threshold(s), each ``>= 0``.
    check : bool
        Check ``t`` (finite, ``>= 0``). Unfolded networks pass False on their hot path,
        where a learned threshold is a tensor that training may move anywhere.

    Returns
    -------
    Tensor or ndarray, same type and shape as ``x``
        Differentiable in ``x`` and ``t`` for tensors.
    """
    if check or not isinstance(x, torch.Tensor):
        t = checked_threshold(x, t)
    if isinstance(x, torch.Tensor):
        return torch.sign(x) * torch.clamp(x.abs() - t, min=0)
    return np.sign(x) * np.maximum(np.abs(x) - t, 0)


def hard_threshold(x: ArrayLike, t) -> ArrayLike:
    """Hard thresholding ``x * 1[|x| > t]`` (keep or kill).

    Parameters
    ----------
    x : Tensor or ndarray, any shape
    t : float, or Tensor/ndarray broadcastable to ``x``
        Threshold(s), each ``>= 0``.

    Returns
    -------
    Tensor or ndarray, same type and shape as ``x``
    """
    t = checked_threshold(x, t)
    if isinstance(x, torch.Tensor):
        return x * (x.abs() > t).to(x.dtype)
    return x * (np.abs(x) > t)
