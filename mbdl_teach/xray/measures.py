"""Scores of a split: the constant part of each component cannot be recovered from ``x``
and ``r1``, so each estimate is matched to the reference first."""

from __future__ import annotations

import torch

from .. import metrics


def _matched(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    if not (isinstance(est, torch.Tensor) and isinstance(ref, torch.Tensor)):
        raise TypeError("est and ref must be torch.Tensors")
    if est.shape != ref.shape:
        raise ValueError(f"est {tuple(est.shape)} and ref {tuple(ref.shape)} differ in shape")
    dims = tuple(range(1, est.ndim)) if est.ndim == 4 else tuple(range(est.ndim))
    return est - est.mean(dims, keepdim=True) + ref.mean(dims, keepdim=True)


def mean_matched_psnr(est: torch.Tensor, ref: torch.Tensor) -> float:
    """PSNR (dB, peak 1) after giving ``est`` the mean of ``ref``.

    The constant part of the split between ``x1`` and ``x2`` cannot be recovered from ``x``
    and ``r1``, so it is not scored. A float for one image (or a batch of one), else a
    tensor of shape (B,).
    """
    v = metrics.psnr(_matched(est, ref), ref, data_range=1.0)
    return float(v[0]) if isinstance(v, torch.Tensor) and v.numel() == 1 else v


def mean_matched_ssim(est: torch.Tensor, ref: torch.Tensor) -> float:
    """SSIM (peak 1) after giving ``est`` the mean of ``ref``."""
    v = metrics.ssim(_matched(est, ref), ref, data_range=1.0)
    return float(v[0]) if isinstance(v, torch.Tensor) and v.numel() == 1 else v
