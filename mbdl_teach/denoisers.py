"""One interface for every denoiser of the course: ``denoiser(x, sigma) -> x_hat``.

A :class:`Denoiser` is an ``nn.Module`` whose ``forward(x, sigma)`` takes a batch ``x`` of
shape ``(B, C, H, W)`` (floats, images in [0, 1]) and the noise standard deviation ``sigma``
on the same scale (``25 / 255``; a float, a ``(B,)`` tensor, or ``None`` for blind
denoising where the denoiser supports it, checked by :func:`mbdl_teach.checks.check_sigma`)
and returns a tensor of the same shape, on ``x``'s device. Gradients flow to ``x`` wherever
the model is differentiable (the attribute ``differentiable`` says; wavelet thresholding
and BM3D run in NumPy and are not): running without gradients is the caller's choice
(``with torch.no_grad():``), as plug-and-play's solvers do. Plug-and-play (chapter 05),
diffusion guidance and unrolled solvers take any of them.

* :class:`WaveletDenoiser`: BayesShrink soft thresholding in an orthogonal wavelet basis
  (:func:`mbdl_teach.wavelets.denoise`), no learned parameter.
* :class:`BM3DDenoiser`: BM3D through the ``bm3d`` package when it is installed.
* :class:`DnCNN`: a small residual CNN (Zhang et al., IEEE TIP 2017) that predicts the
  noise; blind (it reads the noise level from the image itself, ``sigma`` is not used).
* WINNet (:class:`mbdl_teach.inn.WINNet`, Huang & Dragotti, IEEE TIP 2022): invertible
  wavelet-like network whose thresholds scale with ``sigma``.

:func:`load` returns a ready denoiser by name, on the device asked for; the networks come
with weights trained on this machine's CPU (:mod:`mbdl_teach.weights`, checked against their
sha256; how they were trained: :mod:`mbdl_teach.recipes`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from . import weights, wavelets
from .inn import WINNet
from .checks import check_sigma

#: Names accepted by :func:`load` besides the manifest's (``"dncnn50"``, ...).
NAMES = ("wavelet", "bm3d", "dncnn", "winnet")


# ------------------------------------------------------------------ input checks
def _check_input(x, channels: int | None = None, multiple: int = 1) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"x must have shape (B, C, H, W), got {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"this denoiser expects {channels} channel(s), got x with "
                         f"{x.shape[1]} (shape {tuple(x.shape)})")
    if multiple > 1 and (x.shape[-2] % multiple or x.shape[-1] % multiple):
        raise ValueError(f"this denoiser needs H and W divisible by {multiple}, got "
                         f"{x.shape[-2]}x{x.shape[-1]}; crop or pad the image")


# ------------------------------------------------------------------ the interface
class Denoiser(nn.Module):
    """Base class: ``denoiser(x, sigma) -> x_hat`` on ``(B, C, H, W)`` tensors.

    Subclasses implement :meth:`_denoise` (inputs already checked; ``sigma`` a float64
    ``(B,)`` CPU tensor or None). :meth:`forward` checks ``x`` and ``sigma`` and returns the
    result in ``x``'s dtype and on its device.

    Attributes
    ----------
    name : str
    channels : int or None
        Channel count the denoiser accepts (``None``: any).
    blind : bool
        Whether ``sigma=None`` is accepted.
    differentiable : bool
        Whether gradients flow from the output to ``x``.
    """

    name: str = "denoiser"
    channels: int | None = None
    blind: bool = False
    multiple: int = 1
    differentiable: bool = True

    def forward(self, x: torch.Tensor, sigma: float | torch.Tensor | None = None) -> torch.Tensor:
        """Denoise ``x`` of shape (B, C, H, W) at noise level ``sigma`` -> (B, C, H, W)."""
        _check_input(x, self.channels, self.multiple)
        s = check_sigma(sigma, x.shape[0], allow_none=self.blind)
        return self._denoise(x, s).to(dtype=x.dtype, device=x.device)

    def _denoise(self, x: torch.Tensor, sigma: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def num_parameters(self) -> int:
        """Number of learned parameters (0 for classical denoisers)."""
        return sum(p.numel() for p in self.parameters())

    def extra_repr(self) -> str:
        return f"name={self.name!r}, parameters={self.num_parameters()}"


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
        wavelets._check_wavelet(wavelet)
        wavelets._check_rule_mode(rule, "soft")
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


class NetworkDenoiser(Denoiser):
    """A trained ``nn.Module`` (DnCNN or WINNet) in the common interface.

    The network is a submodule: ``den.to(device)`` moves it. Inputs go to the network's
    device and dtype (and the output comes back to ``x``'s).

    Parameters
    ----------
    model : nn.Module
        ``model(x)`` (when ``uses_sigma`` is False) or ``model(x, sigma)``; a model with a
        ``denoise(y, sigma=None)`` method is used for blind calls.
    name : str
    channels : int
    uses_sigma : bool
    multiple : int
        H and W must be multiples of this.
    info : dict, optional
        Manifest entry of the weights (steps, training time, data).
    """

    def __init__(self, model: nn.Module, name: str, channels: int, uses_sigma: bool,
                 multiple: int = 1, info: dict | None = None):
        super().__init__()
        self.model = model.eval()
        self.name, self.channels, self.uses_sigma, self.multiple = name, channels, uses_sigma, multiple
        self.blind = (not uses_sigma) or hasattr(model, "denoise")
        self.info = info or {}

    def _denoise(self, x, sigma):
        p = next(self.model.parameters())
        xin = x.to(p.device, p.dtype)
        if not self.uses_sigma:
            return self.model(xin)
        if sigma is None:
            return self.model.denoise(xin, None)
        return self.model(xin, sigma.to(p.device, p.dtype))


# ------------------------------------------------------------------ DnCNN
class DnCNN(nn.Module):
    """Small DnCNN: ``x_hat = y - R(y)`` with ``R`` a plain CNN that predicts the noise.

    Zhang, Zuo, Chen, Meng & Zhang, "Beyond a Gaussian denoiser: residual learning of deep
    CNN for image denoising", IEEE TIP 2017. The first layer is conv + ReLU, the middle
    ``depth - 2`` layers conv + ReLU (no batch normalisation here: with Adam and small
    batches it trains as fast without it and behaves the same in train and eval mode), the
    last layer a conv back to ``channels`` without activation. All convolutions are 3x3
    with zero padding, so any image size works.

    Parameters
    ----------
    channels : int
        Image channels (1 for gray).
    depth : int
        Number of convolution layers (>= 2; the paper uses 17 or 20).
    features : int
        Width of the hidden layers (the paper uses 64).
    """

    def __init__(self, channels: int = 1, depth: int = 15, features: int = 32):
        super().__init__()
        for n, v, lo in (("channels", channels, 1), ("depth", depth, 2), ("features", features, 1)):
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ValueError(f"{n} must be an integer >= {lo}, got {v!r}")
        self.config = dict(channels=channels, depth=depth, features=features)
        layers: list[nn.Module] = [nn.Conv2d(channels, features, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(features, features, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(features, channels, 3, padding=1))
        self.body = nn.Sequential(*layers)
        for m in self.body:  # He initialisation: without batch norm, PyTorch's default
            if isinstance(m, nn.Conv2d):  # init shrinks the signal ~6x per layer
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def residual(self, y: torch.Tensor) -> torch.Tensor:
        """The predicted noise ``R(y)``, shape (B, C, H, W)."""
        _check_input(y, self.config["channels"])
        return self.body(y)

    def forward(self, y: torch.Tensor, sigma: Any = None) -> torch.Tensor:
        """Denoised ``y - R(y)``; ``sigma`` is accepted and ignored (DnCNN is blind)."""
        return y - self.residual(y)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def denoising_loss(model: nn.Module, batch) -> torch.Tensor:
    """The training loss of a denoiser on ``(clean, noisy, sigma)`` batches.

    The model's own ``loss(clean, noisy, sigma)`` when it has one (WINNet adds its
    regularisers), else the mean squared error of ``model(noisy)``.
    """
    clean, noisy, sigma = batch
    if hasattr(model, "loss"):
        return model.loss(clean, noisy, sigma)
    return torch.mean((model(noisy) - clean) ** 2)


def check_gain(model: nn.Module, info: dict, min_gain_db: float = 4.0) -> None:
    """The check of a shipped denoiser: it gains > ``min_gain_db`` dB on a training crop.

    The noise level is the top of the range it was trained on (``info["data"]``).
    """
    from . import data, metrics

    sigma = info["data"]["sigma_range_255"][1] / 255
    x = data.load_image("aero", 64)[None]
    y = data.add_gaussian_noise(x, sigma, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(y, torch.full((1,), sigma)) if _uses_sigma(model) else model(y)
    gain = float(metrics.psnr(out.clamp(0, 1), x) - metrics.psnr(y, x))
    assert gain > min_gain_db, f"{info.get('file')}: gains {gain:.2f} dB at sigma {sigma * 255:g}"


def _uses_sigma(model: nn.Module) -> bool:
    return not isinstance(model, DnCNN)


weights.register_model("dncnn", DnCNN, check=check_gain)
# WINNet is a transform (mbdl_teach.inn); as a shipped denoiser its kind is registered here,
# with the denoisers' check, so that no transform imports a prior
weights.register_model("winnet", WINNet, check=check_gain, module="mbdl_teach.denoisers")


def load(name: str, device: str | torch.device | None = None, **kwargs) -> Denoiser:
    """A ready denoiser by name.

    Parameters
    ----------
    name : str
        ``"wavelet"`` (BayesShrink, db4), ``"bm3d"``, ``"dncnn"`` or ``"winnet"`` (shipped
        weights, trained on sigma uniform in [0, 25]/255), or any other manifest key such as
        ``"dncnn50"`` / ``"winnet50"`` (trained at sigma 50/255 only).
    device : str or torch.device, optional
        Where the network runs (default: the CPU).
    **kwargs
        Passed to :class:`WaveletDenoiser` for ``"wavelet"``.

    Returns
    -------
    Denoiser
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if name == "wavelet":
        return WaveletDenoiser(**kwargs)
    if name == "bm3d":
        return BM3DDenoiser()
    model, info = weights.load(name, device=device)
    if info["model"] == "dncnn":
        den = NetworkDenoiser(model, name, model.config["channels"], uses_sigma=False, info=info)
    else:
        den = NetworkDenoiser(model, name, info["config"].get("in_channels", 1), uses_sigma=True,
                              info=info)
    return den.to(device or "cpu")
