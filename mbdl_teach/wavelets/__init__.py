"""Wavelet shrinkage on PyWavelets: thresholds, noise estimate, denoising, compression.

In four parts: :mod:`.shrinkage` (soft and hard thresholding), :mod:`.transform` (the 2-D
DWT for images of any shape, the MAD noise estimate), :mod:`.rules` (universal, SURE and
Bayes thresholds, denoising, compression) and :mod:`.reference` (the comparison with
scikit-image); everything is available from ``mbdl_teach.wavelets``.

The orthogonal 2-D DWT (``pywt.wavedec2``) turns an image into one coarse approximation and
three detail bands (horizontal, vertical, diagonal) per level. Natural images are sparse in
the details, while white Gaussian noise of standard deviation ``sigma`` stays white with the
same ``sigma`` in every band (the transform is orthonormal). Shrinking the small detail
coefficients towards zero therefore removes noise and keeps edges.

Conventions used throughout the package
---------------------------------------
* Boundary: ``"symmetric"`` signal extension (PyWavelets' default and scikit-image's) for
  every transform here (:data:`BOUNDARY`). It avoids the wrap-around edges of
  ``"periodization"`` and measured 0.1-0.2 dB better for BayesShrink on ``TRAIN_IMAGES``; the
  price is a few extra coefficients at the borders (the transform is then orthonormal in the
  interior only). Any image size works, odd too: outputs are cropped back to the input shape.
* Coefficients are a PyWavelets list ``[cA_L, (cH_L, cV_L, cD_L), ..., (cH_1, cV_1, cD_1)]``
  (coarsest first). The coarse approximation ``cA_L`` is never thresholded.
* Images are ``(H, W)`` or any stack ``(..., H, W)`` (e.g. ``(C, H, W)``, ``(B, C, H, W)``),
  as a torch tensor or a NumPy array; each ``(H, W)`` plane is processed on its own and the
  result has the input's type, shape, dtype (and device). The wavelet work runs in float64
  NumPy, so gradients do not flow through :func:`denoise` or :func:`keep_largest`.
* Noise levels are on the image's scale (``25 / 255`` for images in [0, 1]).

References: Donoho & Johnstone, Biometrika 1994 (universal threshold, MAD estimate) and
JASA 1995 (SureShrink); Chang, Yu & Vetterli, IEEE TIP 2000 (BayesShrink).
"""

from .shrinkage import (BOUNDARY, MAD_CONSTANT, MODES, RULES, ArrayLike, check_t,
                        checked_threshold, hard_threshold, soft_threshold)
from .transform import (check_wavelet, estimate_sigma, mad_sigma, max_level, resolve_levels,
                        to_planes, wavedec, waverec)
from .rules import (band_thresholds, bayes_threshold, check_rule_mode, coefficient_mosaic,
                    denoise, keep_largest, num_coefficients, shrink, sure_risk, sure_threshold,
                    threshold, universal_threshold)
from .reference import compare_with_skimage, comparison_table, noise_seed

__all__ = [
    "BOUNDARY", "MAD_CONSTANT", "MODES", "RULES", "soft_threshold", "hard_threshold",
    "estimate_sigma", "max_level", "wavedec", "waverec", "universal_threshold",
    "bayes_threshold", "sure_risk", "sure_threshold", "band_thresholds", "threshold",
    "shrink", "denoise", "keep_largest", "num_coefficients", "coefficient_mosaic",
    "compare_with_skimage", "comparison_table", "noise_seed", "check_wavelet",
    "check_rule_mode",
]
