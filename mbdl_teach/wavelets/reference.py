"""Our wavelet denoising checked against scikit-image's, on the held-out images."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .rules import denoise
from .transform import resolve_levels


def noise_seed(name: str) -> int:
    """Fixed noise seed of a bundled image (CRC-32 of its name): one noise draw per image."""
    import zlib

    return zlib.crc32(name.encode())


def compare_with_skimage(
    names: Sequence[str],
    sigmas: Sequence[float],
    size: int | None = None,
    wavelet: str = "db4",
    levels: int | None = None,
) -> list[dict]:
    """PSNR of :func:`denoise` (BayesShrink, soft) beside ``skimage.restoration.denoise_wavelet``.

    Each image gets Gaussian noise from its own fixed seed (:func:`noise_seed`), scaled by
    each ``sigma``. Both denoisers see the same float64 array and the same settings:
    ``method="BayesShrink"``, ``mode="soft"``, ``wavelet``, ``wavelet_levels`` = ours
    (``levels``, default :func:`max_level`), ``rescale_sigma=True`` (a no-op for float
    input), sigma either given or estimated by each (ours: :func:`estimate_sigma` on the
    finest diagonal band of ``wavelet``; scikit-image: the same MAD rule). Outputs are not
    clipped. ``sk_default`` is scikit-image with its own default levels (``max - 3``).

    Returns
    -------
    list of dict
        Keys: ``image, sigma`` (x255), ``noisy, ours, skimage, ours_est, skimage_est,
        sk_default`` (PSNR in dB).
    """
    from skimage.restoration import denoise_wavelet

    from ..data import load_image
    from ..metrics import psnr

    rows = []
    for name in names:
        x = load_image(name, size=size)[0].double()
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(noise_seed(name)),
                            dtype=torch.float64)
        lv = resolve_levels(levels, x.shape, wavelet)
        xn = x.numpy()
        for s in sigmas:
            y = (x + float(s) * noise).numpy()
            sk = dict(wavelet=wavelet, method="BayesShrink", mode="soft", rescale_sigma=True)
            rows.append(dict(
                image=name, sigma=round(float(s) * 255, 2), noisy=psnr(y, xn),
                ours=psnr(denoise(y, float(s), wavelet, lv, "bayes", "soft"), xn),
                skimage=psnr(denoise_wavelet(y, sigma=float(s), wavelet_levels=lv, **sk), xn),
                ours_est=psnr(denoise(y, None, wavelet, lv, "bayes", "soft"), xn),
                skimage_est=psnr(denoise_wavelet(y, sigma=None, wavelet_levels=lv, **sk), xn),
                sk_default=psnr(denoise_wavelet(y, sigma=float(s), **sk), xn),
            ))
    return rows


def _diff(a: float, b: float) -> float:
    return float(np.round(a - b, 3)) + 0.0  # no "-0.00" from rounding noise


def comparison_table(rows: list[dict]) -> str:
    """:func:`compare_with_skimage`'s rows as a text table, with the mean per sigma."""
    from ..plotting import format_table

    keys = ["noisy", "ours", "skimage", "ours_est", "skimage_est", "sk_default"]
    out = []
    for s in sorted({r["sigma"] for r in rows}):
        sel = [r for r in rows if r["sigma"] == s]
        mean = {k: float(np.mean([r[k] for r in sel])) for k in keys}
        for r in sel + [dict(mean, image="mean", sigma=s)]:
            out.append([r["image"], f"{s:g}"] + [r[k] for k in keys]
                       + [_diff(r["ours"], r["skimage"]), _diff(r["ours_est"], r["skimage_est"])])
    header = ["image", "sigma*255", "noisy", "ours", "skimage", "ours(est)", "skimage(est)",
              "sk default", "diff", "diff(est)"]
    return format_table(out, header, ".2f")
