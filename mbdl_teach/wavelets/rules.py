"""Threshold rules (universal, SURE, Bayes), wavelet denoising and compression."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pywt

from .shrinkage import BOUNDARY, MODES, RULES, ArrayLike, check_t, hard_threshold, soft_threshold
from .transform import check_wavelet, mad_sigma, resolve_levels, to_planes, waverec


def universal_threshold(n: int, sigma: float) -> float:
    """VisuShrink's universal threshold ``sigma * sqrt(2 log n)`` for ``n`` samples."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return float(sigma) * math.sqrt(2 * math.log(n)) if n > 1 else 0.0


def bayes_threshold(band: np.ndarray, sigma: float) -> float:
    """BayesShrink threshold of one detail band (Chang, Yu & Vetterli 2000).

    ``t = sigma^2 / sigma_x`` with ``sigma_x = sqrt(max(mean(band^2) - sigma^2, 0))`` the
    signal's standard deviation under a zero-mean generalised-Gaussian prior; when
    ``sigma_x = 0`` (the band looks like pure noise) ``t = max |band|`` kills the band.
    """
    band = np.asarray(band, dtype=np.float64)
    var_y = float(np.mean(band * band))
    sigma_x = math.sqrt(max(var_y - float(sigma) ** 2, 0.0))
    if sigma_x == 0.0:
        return float(np.abs(band).max())
    return float(sigma) ** 2 / sigma_x


def sure_risk(band: np.ndarray, sigma: float, t) -> np.ndarray:
    """Stein's unbiased estimate of the risk of soft thresholding a band at ``t``.

    ``SURE(t) = sigma^2 [n - 2 #{|x_i| <= t} + sum_i min(|x_i|, t)^2]`` with
    ``x_i = band_i / sigma`` and ``t`` in units of the band (so ``t / sigma`` enters).

    Returns
    -------
    ndarray, shape of ``t``
    """
    x = np.abs(np.asarray(band, dtype=np.float64).ravel()) / sigma
    tt = np.atleast_1d(np.asarray(t, dtype=np.float64)) / sigma
    n = x.size
    risk = np.array(
        [n - 2 * np.count_nonzero(x <= ti) + np.sum(np.minimum(x, ti) ** 2) for ti in tt]
    )
    return (sigma**2 * risk).reshape(np.shape(t))


def sure_threshold(band: np.ndarray, sigma: float, hybrid: bool = True) -> float:
    """SureShrink threshold of one band (Donoho & Johnstone 1995).

    Minimises :func:`sure_risk` over ``t in [0, sigma sqrt(2 log n)]`` exactly (the risk is
    piecewise quadratic and increasing between the sorted ``|x_i|``, so the minimum is at
    0 or at one of them): ``O(n log n)`` with cumulative sums. With ``hybrid`` (the paper's
    SureShrink), a sparse band, ``(||x||^2/sigma^2 - n)/n <= log2(n)^{3/2} / sqrt(n)``, gets
    the universal threshold ``sigma sqrt(2 log n)`` instead, since SURE is noisy there.
    """
    band = np.asarray(band, dtype=np.float64).ravel()
    n = band.size
    if sigma <= 0 or n == 0:
        return 0.0
    x2 = np.sort((band / sigma) ** 2)
    t_univ2 = 2 * math.log(n) if n > 1 else 0.0
    if hybrid and n > 1:
        s2 = (x2.sum() - n) / n
        if s2 <= math.log2(n) ** 1.5 / math.sqrt(n):
            return sigma * math.sqrt(t_univ2)
    k = np.arange(1, n + 1)  # t = |x|_(k): k values are <= t
    risk = n - 2 * k + np.cumsum(x2) + (n - k) * x2
    ok = x2 <= t_univ2
    best_t2, best = 0.0, float(n)  # t = 0: no shrinkage, risk n
    if ok.any():
        i = int(np.argmin(np.where(ok, risk, np.inf)))
        if risk[i] < best:
            best_t2 = x2[i]
    return sigma * math.sqrt(best_t2)


def check_rule_mode(rule: str, mode: str) -> None:
    if rule not in RULES:
        raise ValueError(f"unknown threshold rule {rule!r}; expected one of {RULES}")
    if mode not in MODES:
        raise ValueError(f"unknown shrinkage mode {mode!r}; expected one of {MODES}")


def _check_sigma(sigma) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.integer, np.floating)):
        raise TypeError(f"sigma must be a number, got {type(sigma).__name__}")
    sigma = float(sigma)
    if not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma}")
    return sigma


def band_thresholds(
    coeffs: list, sigma: float, rule: str = "bayes", n_samples: int | None = None
) -> list[tuple[float, float, float]]:
    """One threshold per detail band.

    Parameters
    ----------
    coeffs : list
        PyWavelets ``wavedec2`` output, ``[cA, (cH, cV, cD), ...]``.
    sigma : float
        Noise standard deviation (>= 0).
    rule : {"universal", "sure", "bayes"}
        ``"universal"``: VisuShrink, ``sigma sqrt(2 log N)`` for all bands, ``N`` =
        ``n_samples``; ``"sure"``: hybrid SureShrink per band (:func:`sure_threshold`);
        ``"bayes"``: BayesShrink per band (:func:`bayes_threshold`).
    n_samples : int, optional
        ``N`` of the universal threshold: the number of pixels (default: the number of
        coefficients, equal to it for an exactly orthogonal transform).

    Returns
    -------
    list of (tH, tV, tD)
        Same order as ``coeffs[1:]`` (coarsest level first).
    """
    check_rule_mode(rule, "soft")
    sigma = _check_sigma(sigma)
    if not isinstance(coeffs, (list, tuple)) or len(coeffs) < 2:
        raise ValueError("coeffs must be a wavedec2 list [cA, (cH, cV, cD), ...] with >= 1 level")
    if rule == "universal":
        if n_samples is None:
            n_samples = int(np.size(coeffs[0])) + sum(np.size(b) for d in coeffs[1:] for b in d)
        t = universal_threshold(int(n_samples), sigma)
        return [(t, t, t) for _ in coeffs[1:]]
    fn = bayes_threshold if rule == "bayes" else sure_threshold
    return [tuple(fn(b, sigma) for b in d) for d in coeffs[1:]]


def threshold(
    coeffs: list,
    sigma: float,
    rule: str = "bayes",
    mode: str = "soft",
    n_samples: int | None = None,
) -> list:
    """Threshold every detail band by its rule; the coarse approximation is kept as is.

    Parameters
    ----------
    coeffs : list
        ``[cA, (cH, cV, cD), ...]`` from ``pywt.wavedec2`` (or :func:`wavedec`).
    sigma : float
        Noise standard deviation.
    rule : {"universal", "sure", "bayes"}
        See :func:`band_thresholds`.
    mode : {"soft", "hard"}
        Shrinkage function.
    n_samples : int, optional
        Number of pixels, for the universal threshold.

    Returns
    -------
    list
        New coefficients, same structure.
    """
    check_rule_mode(rule, mode)
    ts = band_thresholds(coeffs, sigma, rule, n_samples)
    shrink = soft_threshold if mode == "soft" else hard_threshold
    out = [np.array(coeffs[0], copy=True)]
    for d, t in zip(coeffs[1:], ts):
        out.append(tuple(shrink(np.asarray(b, dtype=np.float64), tb) for b, tb in zip(d, t)))
    return out


# ------------------------------------------------------------------ denoising, compression
def shrink(img: ArrayLike, t: float, wavelet: str = "db4", levels: int = 3,
           undecimated: bool = False) -> ArrayLike:
    """Soft-threshold every detail coefficient by one threshold ``t``: the prox of ``t||Wx||_1``.

    The denoising step of chapter 00's HQS with a wavelet prior. The orthogonal transform
    uses periodic boundaries (so ``W`` is exactly orthogonal and this is exactly the prox);
    the undecimated one is PyWavelets' normalised stationary transform (translation
    invariant: fewer artefacts, a tight frame rather than a basis).

    Parameters
    ----------
    img : Tensor or ndarray, shape (H, W) or (..., H, W)
        For ``undecimated``, H and W must be multiples of ``2**levels``.
    t : float
        The threshold (>= 0).
    wavelet : str
    levels : int
    undecimated : bool

    Returns
    -------
    Tensor or ndarray
        Same type, shape, dtype (and device) as ``img``.
    """
    check_t(t)
    check_wavelet(wavelet)
    planes, back = to_planes(img)
    h, w = planes.shape[-2:]
    if undecimated and (h % 2**levels or w % 2**levels):
        raise ValueError(f"the undecimated transform with {levels} levels needs H and W divisible "
                         f"by {2**levels}, got {h}x{w}")
    out = np.empty_like(planes)
    for i, p in enumerate(planes):
        if undecimated:
            c = pywt.swt2(p, wavelet, level=levels, trim_approx=True, norm=True)
        else:
            c = pywt.wavedec2(p, wavelet, mode="periodization", level=levels)
        c = [c[0]] + [tuple(pywt.threshold(b, t, "soft") for b in lvl) for lvl in c[1:]]
        out[i] = (pywt.iswt2(c, wavelet, norm=True) if undecimated
                  else pywt.waverec2(c, wavelet, mode="periodization"))
    return back(out)


def denoise(
    img: ArrayLike,
    sigma: float | None = None,
    wavelet: str = "db4",
    levels: int | None = None,
    rule: str = "bayes",
    mode: str = "soft",
) -> ArrayLike:
    """Wavelet-shrinkage denoiser: DWT, threshold the details, inverse DWT.

    Parameters
    ----------
    img : Tensor or ndarray, shape (H, W) or (..., H, W)
        Noisy image(s), any size (odd too).
    sigma : float, optional
        Noise standard deviation on the image's scale; when ``None`` it is estimated for
        each plane with :func:`estimate_sigma` on the same wavelet.
    wavelet : str
        Orthogonal wavelet (default Daubechies-4, ``"db4"``).
    levels : int, optional
        DWT levels. Default: the most the size allows (:func:`max_level`), chosen on
        ``TRAIN_IMAGES`` (scikit-image's default, 3 fewer, was 0.4-1.6 dB worse there at
        256 x 256, sigma 15-50: chapter 01 measures it).
    rule : {"universal", "sure", "bayes"}
        Threshold rule (:func:`band_thresholds`).
    mode : {"soft", "hard"}
        Shrinkage function.

    Returns
    -------
    Tensor or ndarray
        Same type, shape, dtype (and device) as ``img``; not clipped.

    Raises
    ------
    ValueError
        Unknown rule/mode/wavelet, negative sigma, ``levels`` too many for the size.
    """
    check_rule_mode(rule, mode)
    if sigma is not None:
        sigma = _check_sigma(sigma)
    planes, back = to_planes(img)
    check_wavelet(wavelet)
    h, w = planes.shape[-2:]
    levels = resolve_levels(levels, (h, w), wavelet)
    out = np.empty_like(planes)
    for i, p in enumerate(planes):
        c = pywt.wavedec2(p, wavelet, mode=BOUNDARY, level=levels)
        s = mad_sigma(c[-1][2]) if sigma is None else sigma
        out[i] = waverec(threshold(c, s, rule, mode, n_samples=h * w), wavelet, (h, w))
    return back(out)


def keep_largest(
    img: ArrayLike, fraction: float, wavelet: str = "db4", levels: int | None = None
) -> ArrayLike:
    """Best ``k``-term approximation: keep the ``k`` largest DWT coefficients, zero the rest.

    ``k = round(fraction * n)`` with ``n`` the number of DWT coefficients, all of which
    compete (the coarse approximation included). With the symmetric boundary ``n`` is a
    little larger than ``H * W`` (about 10% for 256x256 and db4 at full depth), so
    ``fraction = 0.08`` keeps about 8.8% as many numbers as the image has pixels;
    :func:`num_coefficients` gives ``n``. ``fraction = 1`` reconstructs exactly.

    Parameters
    ----------
    img : Tensor or ndarray, shape (H, W) or (..., H, W)
    fraction : float
        In (0, 1].
    wavelet : str
    levels : int, optional
        Default: the most the size allows.

    Returns
    -------
    Tensor or ndarray, same type, shape and dtype as ``img``
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.integer, np.floating)):
        raise TypeError(f"fraction must be a number, got {type(fraction).__name__}")
    if not 0 < float(fraction) <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    planes, back = to_planes(img)
    check_wavelet(wavelet)
    h, w = planes.shape[-2:]
    levels = resolve_levels(levels, (h, w), wavelet)
    k = max(1, round(float(fraction) * num_coefficients((h, w), wavelet, levels)))
    out = np.empty_like(planes)
    for i, p in enumerate(planes):
        c = pywt.wavedec2(p, wavelet, mode=BOUNDARY, level=levels)
        bands = [c[0]] + [b for d in c[1:] for b in d]
        flat = np.concatenate([b.ravel() for b in bands])
        if k < flat.size:
            drop = np.argpartition(np.abs(flat), flat.size - k)[: flat.size - k]
            flat[drop] = 0
        parts = np.split(flat, np.cumsum([b.size for b in bands])[:-1])
        kept = [q.reshape(b.shape) for q, b in zip(parts, bands)]
        c = [kept[0]] + [tuple(kept[1 + 3 * j : 4 + 3 * j]) for j in range(len(c) - 1)]
        out[i] = waverec(c, wavelet, (h, w))
    return back(out)


def num_coefficients(shape: Sequence[int], wavelet: str = "db4", levels: int | None = None) -> int:
    """Number of coefficients of :func:`wavedec` for an image of ``shape (H, W)``."""
    h, w = tuple(shape)[-2:]
    levels = resolve_levels(levels, (h, w), wavelet)
    c = pywt.wavedec2(np.zeros((h, w)), wavelet, mode=BOUNDARY, level=levels)
    return int(np.size(c[0]) + sum(np.size(b) for d in c[1:] for b in d))


def coefficient_mosaic(coeffs: list) -> np.ndarray:
    """The classic picture of a 2-D DWT, for display.

    The approximation is scaled to [0, 1]; each detail band shows ``|band| / max|band|``,
    so every band is visible whatever its energy.

    Returns
    -------
    ndarray, shape of ``pywt.coeffs_to_array(coeffs)[0]``, values in [0, 1]
    """
    if not isinstance(coeffs, (list, tuple)) or len(coeffs) < 1:
        raise ValueError("coeffs must be a wavedec2 list [cA, (cH, cV, cD), ...]")
    ca = np.asarray(coeffs[0], dtype=np.float64)
    span = ca.max() - ca.min()
    scaled = [(ca - ca.min()) / span if span > 0 else np.zeros_like(ca)]
    for d in coeffs[1:]:
        scaled.append(tuple(np.abs(b) / max(np.abs(b).max(), 1e-12) for b in d))
    return pywt.coeffs_to_array(scaled)[0]
