"""The 2-D DWT on PyWavelets for images of any shape and type, and the MAD noise estimate."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pywt
import torch

from .shrinkage import BOUNDARY, MAD_CONSTANT, ArrayLike


def to_planes(img, name: str = "img") -> tuple[np.ndarray, callable]:
    """``img (..., H, W)`` -> float64 ``(N, H, W)`` array and a function restoring the type."""
    if isinstance(img, torch.Tensor):
        if not torch.is_floating_point(img):
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {img.dtype}")
        arr = img.detach().cpu().numpy().astype(np.float64)

        def back(out: np.ndarray):
            return torch.from_numpy(out.reshape(img.shape)).to(dtype=img.dtype, device=img.device)

    elif isinstance(img, np.ndarray):
        if img.dtype.kind not in "fiu":
            raise TypeError(f"{name} must hold real numbers, got dtype {img.dtype}")
        arr = img.astype(np.float64)
        out_dtype = img.dtype if img.dtype.kind == "f" else np.float64

        def back(out: np.ndarray):
            return out.reshape(img.shape).astype(out_dtype)

    else:
        raise TypeError(f"{name} must be a torch.Tensor or a NumPy array, got {type(img).__name__}")
    if arr.ndim < 2:
        raise ValueError(f"{name} must have shape (H, W) or (..., H, W), got {tuple(arr.shape)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    return arr.reshape((-1,) + arr.shape[-2:]), back


def check_wavelet(wavelet: str) -> pywt.Wavelet:
    try:
        w = pywt.Wavelet(wavelet)
    except (ValueError, TypeError):
        raise ValueError(
            f"unknown wavelet {wavelet!r}; expected a discrete wavelet name from "
            f"pywt.wavelist(kind='discrete'), e.g. 'haar', 'db4', 'sym8'"
        ) from None
    if not w.orthogonal:
        raise ValueError(
            f"wavelet {wavelet!r} is not orthogonal; thresholding rules assume an orthonormal "
            "transform (white noise stays white with the same sigma). Use e.g. 'db4' or 'sym8'"
        )
    return w


def max_level(shape: Sequence[int], wavelet: str = "db4") -> int:
    """Deepest useful DWT level for an image of ``shape (H, W)`` (``pywt.dwtn_max_level``)."""
    return int(pywt.dwtn_max_level(tuple(shape)[-2:], check_wavelet(wavelet)))


def resolve_levels(levels, shape, wavelet: str) -> int:
    top = max_level(shape, wavelet)
    h, w = shape[-2:]
    if levels is None:
        if top < 1:
            raise ValueError(
                f"a {h}x{w} image is too small for one level of {wavelet!r} "
                f"(filter length {pywt.Wavelet(wavelet).dec_len})"
            )
        return top
    if not isinstance(levels, (int, np.integer)) or isinstance(levels, bool):
        raise TypeError(f"levels must be an int or None, got {type(levels).__name__}")
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    if levels > top:
        raise ValueError(
            f"levels={levels} is too many for a {h}x{w} image with {wavelet!r}: at most "
            f"{top} (pywt.dwtn_max_level); use fewer levels or a larger image"
        )
    return int(levels)


def wavedec(img2d: np.ndarray, wavelet: str = "db4", levels: int | None = None) -> list:
    """2-D DWT of one plane with this module's boundary (:data:`BOUNDARY`).

    Parameters
    ----------
    img2d : ndarray, shape (H, W)
    wavelet : str
        Orthogonal PyWavelets wavelet.
    levels : int, optional
        Number of levels (default: the most, :func:`max_level`).

    Returns
    -------
    list
        ``[cA_L, (cH_L, cV_L, cD_L), ..., (cH_1, cV_1, cD_1)]``, coarsest first.
    """
    img2d = np.asarray(img2d, dtype=np.float64)
    if img2d.ndim != 2:
        raise ValueError(f"wavedec expects one (H, W) plane, got shape {img2d.shape}")
    levels = resolve_levels(levels, img2d.shape, wavelet)
    return pywt.wavedec2(img2d, wavelet, mode=BOUNDARY, level=levels)


def waverec(coeffs: list, wavelet: str, shape: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`wavedec`, cropped to ``shape (H, W)`` (odd sizes gain one sample)."""
    out = pywt.waverec2(coeffs, wavelet, mode=BOUNDARY)
    return out[: shape[0], : shape[1]]


# ------------------------------------------------------------------ noise estimate
def mad_sigma(band: np.ndarray) -> float:
    nz = np.abs(band[band != 0])
    return float(np.median(nz) / MAD_CONSTANT) if nz.size else 0.0


def estimate_sigma(img: ArrayLike, wavelet: str = "db2"):
    """Noise level from the finest diagonal band: ``median(|cD_1|) / 0.6745``.

    Donoho & Johnstone (1994): the finest diagonal details of a natural image are almost
    all noise, and the median of their magnitudes is robust to the few that carry edges.
    Coefficients that are exactly zero (flat regions, padding) are left out, as
    ``skimage.restoration.estimate_sigma`` does.

    Parameters
    ----------
    img : Tensor or ndarray, shape (H, W) or (..., H, W)
    wavelet : str
        Orthogonal wavelet of the one-level DWT (``"db2"`` as scikit-image's
        ``estimate_sigma``; :func:`denoise` passes its own wavelet).

    Returns
    -------
    float
        For one plane (``(H, W)`` or a single ``(1, H, W)`` etc.).
    Tensor or ndarray of shape ``img.shape[:-2]``
        One estimate per plane otherwise (same type as ``img``).
    """
    planes, _ = to_planes(img)
    check_wavelet(wavelet)
    h, w = planes.shape[-2:]
    if min(h, w) < 2:
        raise ValueError(f"estimate_sigma needs an image of at least 2x2, got {h}x{w}")
    sig = np.array([mad_sigma(pywt.dwt2(p, wavelet, mode=BOUNDARY)[1][2]) for p in planes])
    if sig.size == 1:
        return float(sig[0])
    lead = tuple(img.shape[:-2])
    return torch.from_numpy(sig.reshape(lead)) if isinstance(img, torch.Tensor) else sig.reshape(lead)
