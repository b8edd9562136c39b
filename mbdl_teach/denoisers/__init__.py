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
* :class:`WINNet` (Huang & Dragotti, IEEE TIP 2022): the invertible wavelet-like transform
  of :mod:`mbdl_teach.inn` with a convolutional LISTA whose thresholds scale with ``sigma``.

The networks *are* denoisers (one face each): ``weights.load("winnet")`` and
:func:`load` give the same module. :func:`load` also builds the classical ones by name, on
the device asked for; the networks come with weights trained on this machine's CPU
(:mod:`mbdl_teach.weights`, checked against their sha256; how they were trained:
:mod:`mbdl_teach.recipes`).
"""

from __future__ import annotations

import torch

from .. import weights
from .base import Denoiser, check_gain, check_input, denoising_loss
from .classical import BM3DDenoiser, WaveletDenoiser, bm3d_available
from .dncnn import DnCNN
from .winnet import WINNet

__all__ = ["Denoiser", "WaveletDenoiser", "BM3DDenoiser", "bm3d_available", "DnCNN", "WINNet",
           "denoising_loss", "check_gain", "check_input", "load"]

weights.register_model("dncnn", DnCNN, check=check_gain, module="mbdl_teach.denoisers")
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
        For a network, the module :func:`mbdl_teach.weights.load` builds, with its name and
        its manifest entry (``.info``: steps, training time, data).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if name == "wavelet":
        return WaveletDenoiser(**kwargs)
    if name == "bm3d":
        return BM3DDenoiser()
    model, info = weights.load(name, device=device)
    if not isinstance(model, Denoiser):
        raise ValueError(f"{name!r} is a {info['model']!r} model, not a denoiser")
    model.name, model.info = name, info
    return model
