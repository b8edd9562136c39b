"""Invertible networks built from lifting steps: LINN and the parts of WINNet.

An *invertible network* is a map whose inverse is known in closed form, whatever its
weights. The lifting scheme gives one for free {cite}`sweldens1998lifting`: split the
input into a coarse part ``c`` and a detail part ``d``, then alternate

    d <- d - P(c)        (predict)
    c <- c + U(d)        (update)

with *any* functions ``P`` and ``U`` (here small CNNs). Each step is undone by running it
backwards with the sign swapped (``c <- c - U(d)``, then ``d <- d + P(c)``), because the
step only ever adds to one half a function of the other half, which it leaves unchanged.
This is the additive coupling layer of RealNVP {cite}`dinh2017realnvp`.

This module builds, in small form, the networks of Huang and Dragotti:

* :class:`FixedSplit`: the fixed first stage, a 4x4 DCT-II filter bank (or 2x2 Haar) applied
  as a stride-1, undecimated, circularly padded convolution: 1 coarse + 15 detail channels
  per input channel. The 16 filters form an orthonormal basis of 4x4 patches, so
  ``T^T T = 16 I`` and the inverse is the transposed convolution divided by 16 (exact).
* :class:`LINN` (lifting-inspired invertible network {cite}`huang2021linn`): the split
  followed by ``steps`` :class:`LearnedLiftingStep` s whose predictor (1 -> 15 channels) and
  updater (15 -> 1) are :class:`PUNet` s with soft thresholds driven by the noise level.
  Their output convolutions start at zero, so an untrained LINN is the plain split.
* :class:`ConvLISTA`, the convolutional LISTA that WINNet (wavelet-inspired invertible
  network {cite}`huang2022winnet`) runs on each level's detail channels, and
  :func:`estimate_sigma` for blind use. WINNet itself, ``levels`` LINNs (level ``i``
  re-decomposes the previous coarse channel with dilation ``min(2**i, 2)``), a ConvLISTA on
  each level's details and the inverse LINNs, is a denoiser:
  :class:`mbdl_teach.denoisers.WINNet`.

Noise levels
------------
``sigma`` is always on the image's [0, 1] scale (``25 / 255`` for "sigma 25"). The soft
thresholds follow the authors' rule ``t = softplus(theta) * sigma_255 / 50`` with
``sigma_255 = 255 * sigma`` and one learned ``theta`` per channel, so a network trained at
one noise level scales its thresholds with the noise.

:class:`DegradationINN` (in :mod:`mbdl_teach.inn.degradation`) is a decimated cousin trained
to *simulate* a degradation, the INN that INDigo (chapter 07) inverts.

The package has two parts: :mod:`mbdl_teach.inn.blocks` (the fixed split, the predict /
update networks, the learned lifting step and LINN) and :mod:`mbdl_teach.inn.details` (the
convolutional LISTA on the details and noise estimation); everything is available from
``mbdl_teach.inn``.
"""

from .blocks import (SPLITS, FixedSplit, LearnedLiftingStep, LINN, NoiseSoftThreshold, PUNet,
                     dct_matrix, split_filters)
from .details import ConvLISTA, estimate_sigma
from .degradation import DegradationINN, degradation_loss, inverse_gain, train_degradation_inn

__all__ = [
    "SPLITS",
    "dct_matrix",
    "split_filters",
    "FixedSplit",
    "NoiseSoftThreshold",
    "PUNet",
    "LearnedLiftingStep",
    "LINN",
    "ConvLISTA",
    "estimate_sigma",
    "DegradationINN",
    "degradation_loss",
    "inverse_gain",
    "train_degradation_inn",
]
