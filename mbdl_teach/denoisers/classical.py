"""Classical denoisers behind the one interface: wavelet thresholding and BM3D."""

from __future__ import annotations

import numpy as np
import torch

from .. import wavelets
from .base import Denoiser


class WaveletDenoiser(Denoiser):
    """BayesShrink soft thresholding (:func:`mbdl_teach.wavelets.denoise`), per plane.

    Parameters
    ----------
    wavelet : str
        Orthogonal wavelet (default ``"db4"``).
    rule : {"bayes", "sure", "universal"}
    """

    blind = True
    differentiable = False

    def __init__(self, wavelet: str = "db4", rule: str = "bayes"):
        super().__init__()
        wavelets.check_wavelet(wavelet)
        wavelets.check_rule_mode(rule, "soft")
        self.wavelet, self.rule, self.name = wavelet, rule, "wavelet"

    def _denoise(self, x, sigma):
        x = x.detach()
        out = torch.empty_like(x)
        for b in range(x.shape[0]):
            s = None if sigma is None else float(sigma[b])
            out[b] = wavelets.denoise(x[b], s, wavelet=self.wavelet, rule=self.rule)
        return out


def bm3d_available() -> tuple[bool, str]:
    """``(True, version)`` when the ``bm3d`` package imports, else ``(False, reason)``."""
    try:
        import bm3d  # noqa: F401
    except Exception as err:  # pragma: no cover - depends on the environment
        return False, f"the bm3d package is not available ({type(err).__name__}: {err}); pip install bm3d"
    from importlib.metadata import version

    return True, version("bm3d")


class BM3DDenoiser(Denoiser):
    """BM3D (Dabov et al., IEEE TIP 2007) through the ``bm3d`` package, per plane.

    Blind calls estimate sigma with :func:`mbdl_teach.wavelets.estimate_sigma`.
    """

    blind = True
    differentiable = False

    def __init__(self):
        super().__init__()
        ok, msg = bm3d_available()
        if not ok:
            raise ImportError(msg)
        self.name = "bm3d"

    def _denoise(self, x, sigma):
        import bm3d

        arr = x.detach().cpu().double().numpy()
        out = np.empty_like(arr)
        for b in range(arr.shape[0]):
            for c in range(arr.shape[1]):
                s = wavelets.estimate_sigma(arr[b, c]) if sigma is None else float(sigma[b])
                out[b, c] = arr[b, c] if s == 0 else bm3d.bm3d(arr[b, c], sigma_psd=s)
        return torch.from_numpy(out)
