"""Image quality: PSNR, SSIM and NMSE, for tensors and NumPy arrays.

Shapes: ``(H, W)``, ``(C, H, W)`` or a batch ``(B, C, H, W)``. A batch gives one value per
image (a tensor or array of shape ``(B,)``); anything else gives a Python float.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

ArrayLike = torch.Tensor | np.ndarray


def _as_pair(x, ref, name: str) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Convert to float64 tensors of matching shape; remember whether NumPy came in."""
    if isinstance(x, np.ndarray) and isinstance(ref, np.ndarray):
        numpy_in = True
        xt, rt = torch.from_numpy(np.asarray(x, dtype=np.float64)), torch.from_numpy(
            np.asarray(ref, dtype=np.float64)
        )
    elif isinstance(x, torch.Tensor) and isinstance(ref, torch.Tensor):
        numpy_in = False
        xt, rt = x.detach().to(torch.float64), ref.detach().to(device=x.device, dtype=torch.float64)
    else:
        raise TypeError(
            f"{name} expects two torch.Tensors or two NumPy arrays, got "
            f"{type(x).__name__} and {type(ref).__name__}"
        )
    if xt.shape != rt.shape:
        raise ValueError(
            f"{name}: x and ref must have the same shape, got {tuple(xt.shape)} and {tuple(rt.shape)}"
        )
    if xt.ndim not in (2, 3, 4):
        raise ValueError(
            f"{name}: expected shape (H, W), (C, H, W) or (B, C, H, W), got {tuple(xt.shape)}"
        )
    if not torch.isfinite(xt).all():
        raise ValueError(f"{name}: x contains NaN or inf")
    return xt, rt, numpy_in


def _finish(values: torch.Tensor, batched: bool, numpy_in: bool):
    if not batched:
        return float(values.reshape(()))
    return values.cpu().numpy() if numpy_in else values.to(torch.float32)


def psnr(x: ArrayLike, ref: ArrayLike, data_range: float = 1.0):
    """Peak signal-to-noise ratio, ``10 log10(data_range^2 / MSE)`` in dB.

    Parameters
    ----------
    x, ref : Tensor or ndarray, shape (H, W), (C, H, W) or (B, C, H, W)
        Estimate and reference (same type and shape).
    data_range : float
        Peak value (1.0 for images in [0, 1]).

    Returns
    -------
    float, or Tensor/ndarray of shape (B,) for a batch
        ``inf`` where the images are identical.
    """
    xt, rt, numpy_in = _as_pair(x, ref, "psnr")
    batched = xt.ndim == 4
    dims = tuple(range(1, xt.ndim)) if batched else tuple(range(xt.ndim))
    mse = ((xt - rt) ** 2).mean(dim=dims)
    values = 10 * torch.log10(data_range**2 / mse)
    return _finish(values, batched, numpy_in)


def _gaussian_window(sigma: float = 1.5, truncate: float = 3.5) -> torch.Tensor:
    radius = int(truncate * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(x: ArrayLike, ref: ArrayLike, data_range: float = 1.0):
    """Structural similarity (Wang et al. 2004) with an 11x11 Gaussian window (sigma 1.5).

    Matches ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=data_range)``: the SSIM map is
    averaged over the pixels whose window lies inside the image, then over channels.

    Parameters
    ----------
    x, ref : Tensor or ndarray, shape (H, W), (C, H, W) or (B, C, H, W)
        H and W must be at least 11.
    data_range : float

    Returns
    -------
    float, or Tensor/ndarray of shape (B,) for a batch
    """
    xt, rt, numpy_in = _as_pair(x, ref, "ssim")
    batched = xt.ndim == 4
    while xt.ndim < 4:
        xt, rt = xt[None], rt[None]
    b, c, h, w = xt.shape
    win = _gaussian_window().to(xt.device)
    if h < win.shape[0] or w < win.shape[1]:
        raise ValueError(f"ssim needs images of at least 11x11, got {h}x{w}")
    weight = win.expand(c, 1, *win.shape)

    def filt(t):
        return F.conv2d(t, weight, groups=c)

    mu_x, mu_y = filt(xt), filt(rt)
    vxx = filt(xt * xt) - mu_x**2
    vyy = filt(rt * rt) - mu_y**2
    vxy = filt(xt * rt) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    smap = ((2 * mu_x * mu_y + c1) * (2 * vxy + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (vxx + vyy + c2)
    )
    values = smap.mean(dim=(1, 2, 3))
    return _finish(values if batched else values[0], batched, numpy_in)


def nmse_db(x: ArrayLike, ref: ArrayLike) -> float:
    """Normalised mean squared error in dB, ``10 log10(||x - ref||^2 / ||ref||^2)``.

    The sums run over every element (for a batch of sparse codes this is the
    ``E||x - x*||^2 / E||x*||^2`` used in the LISTA literature).

    Parameters
    ----------
    x, ref : Tensor or ndarray, any shape (same for both)

    Returns
    -------
    float
    """
    if isinstance(x, np.ndarray) and isinstance(ref, np.ndarray):
        xt, rt = torch.from_numpy(np.asarray(x, np.float64)), torch.from_numpy(np.asarray(ref, np.float64))
    elif isinstance(x, torch.Tensor) and isinstance(ref, torch.Tensor):
        xt, rt = x.detach().double(), ref.detach().double().to(x.device)
    else:
        raise TypeError(
            "nmse_db expects two torch.Tensors or two NumPy arrays, got "
            f"{type(x).__name__} and {type(ref).__name__}"
        )
    if xt.shape != rt.shape:
        raise ValueError(f"nmse_db: shapes differ, {tuple(xt.shape)} and {tuple(rt.shape)}")
    den = float((rt**2).sum())
    if den == 0:
        raise ValueError("nmse_db: the reference is all zeros")
    return 10 * math.log10(float(((xt - rt) ** 2).sum()) / den)
