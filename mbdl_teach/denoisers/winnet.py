"""WINNet {cite}`huang2022winnet` as a denoiser: the learned lifting transform of
:mod:`mbdl_teach.inn`, a convolutional LISTA on its details, and the noise estimate for blind
use."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_sigma
from ..inn import LINN, ConvLISTA, estimate_sigma
from ..inn.blocks import SigmaLike, check_image, check_int
from .base import Denoiser


def _largest_singular_value(m: Tensor) -> Tensor:
    """``||m||_2`` from the eigenvalues of the smaller Gram matrix (cheaper than an SVD)."""
    g = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    return torch.linalg.eigvalsh(g)[-1].clamp_min(0).sqrt()


class WINNet(Denoiser):
    """Wavelet-inspired invertible network for denoising {cite}`huang2022winnet`.

    ``levels`` LINNs give a redundant multi-scale transform; a convolutional LISTA removes
    noise from each level's detail channels; the inverse LINNs rebuild the image from the
    denoised details and the untouched coarse channel.

    Parameters
    ----------
    in_channels : int
    levels : int
        Scales ``K``; level ``i`` re-decomposes level ``i - 1``'s coarse channel with
        dilation ``min(2**i, 2)``.
    steps, hidden, blocks : int
        Lifting steps per level and the size of each predictor / updater.
    lista_iters, lista_channels : int
        Iterations and code channels of the convolutional LISTA (``lista_iters = 0``: one
        learned soft threshold per detail channel).
    split : {"dct4", "haar"}
    sigma_train_max : float, optional
        When set, the transform uses ``max(sigma, sigma_train_max)`` (the authors' rule
        that makes WINNet robust to noise levels below the training one); the LISTA
        always sees the actual ``sigma``.
    ortho_weight, spectral_weight : float
        Weights of :meth:`orthogonality_loss` and :meth:`spectral_penalty` in
        :meth:`loss`. The authors weigh them 10 and 0.1 against a data term
        ``sum of squares / (2 B)`` on 40x40 patches (800 times a mean square); the
        defaults are these weights rescaled to the mean-square error of :meth:`loss`.

    It is a :class:`~mbdl_teach.denoisers.Denoiser`: ``net(y, sigma)``, blind with
    ``sigma=None``.

    Notes
    -----
    The default configuration has 173,440 parameters, the count the authors' code gives
    for ``K = 1``.
    """

    blind = True  # sigma=None: estimated from the image

    def __init__(self, in_channels: int = 1, levels: int = 1, steps: int = 4, hidden: int = 32, blocks: int = 4,
                 lista_iters: int = 4, lista_channels: int = 64, split: str = "dct4",
                 sigma_train_max: float | None = None, ortho_weight: float = 10.0 / 800,
                 spectral_weight: float = 0.1 / 800):
        super().__init__()
        check_int("levels", levels, 1)
        check_int("lista_iters", lista_iters, 0)
        check_int("lista_channels", lista_channels, 1)
        if sigma_train_max is not None:
            sigma_train_max = float(sigma_train_max)
            if not math.isfinite(sigma_train_max) or sigma_train_max < 0:
                raise ValueError(f"sigma_train_max must be a number >= 0 or None, got {sigma_train_max}")
            if sigma_train_max > 1:
                raise ValueError(f"sigma_train_max is on the [0, 1] scale (25/255 for sigma 25), got {sigma_train_max}")
        self.in_channels, self.levels, self.split_name = in_channels, levels, split
        self.name, self.channels = "winnet", in_channels
        self.sigma_train_max = sigma_train_max
        self.ortho_weight, self.spectral_weight = float(ortho_weight), float(spectral_weight)
        self.linns = nn.ModuleList(
            LINN(in_channels, steps, hidden, blocks, split, dilation=min(2**i, 2)) for i in range(levels)
        )
        nd = self.linns[0].split.detail_channels
        self.denoisers = nn.ModuleList(ConvLISTA(nd, lista_channels, lista_iters) for _ in range(levels))

    @property
    def min_size(self) -> int:
        """Smallest height and width the transform accepts."""
        return max(linn.min_size for linn in self.linns)

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    # -------------------------------------------------------------- inputs
    def _inputs(self, y: Tensor, sigma: SigmaLike, name: str = "y") -> Tensor:
        check_image(y, self.in_channels, self.min_size, name)
        return check_sigma(sigma, y.shape[0], like=y)

    def _sigma_transform(self, s: Tensor) -> Tensor:
        if self.sigma_train_max is None:
            return s
        return s.clamp_min(self.sigma_train_max)

    # -------------------------------------------------------------- transform
    def transform(self, x: Tensor, sigma: SigmaLike) -> list[tuple[Tensor, Tensor]]:
        """Multi-scale forward transform.

        Parameters
        ----------
        x : Tensor, shape (B, C, H, W)
        sigma : float or Tensor of shape (B,)
            Noise level; the transform uses ``max(sigma, sigma_train_max)`` when set.

        Returns
        -------
        list of (c, d), one per level
            ``c`` (B, C, H, W), ``d`` (B, 15 C, H, W); level ``i`` splits level ``i-1``'s ``c``.
        """
        s = self._sigma_transform(self._inputs(x, sigma, "x"))
        coeffs, c = [], x
        for linn in self.linns:
            c, d = linn(c, s)
            coeffs.append((c, d))
        return coeffs

    def inverse_transform(self, coeffs: Sequence[tuple[Tensor, Tensor]], sigma: SigmaLike) -> Tensor:
        """Exact inverse of :meth:`transform`.

        Only the last level's ``c`` is used: each level's coarse channel is rebuilt from the
        next level's coefficients (as in a wavelet reconstruction).
        """
        if not isinstance(coeffs, (list, tuple)) or len(coeffs) != self.levels:
            raise ValueError(f"coeffs must be a list of {self.levels} (c, d) pairs, got "
                             f"{len(coeffs) if isinstance(coeffs, (list, tuple)) else type(coeffs).__name__}")
        c = coeffs[-1][0]
        s = self._sigma_transform(check_sigma(sigma, c.shape[0], like=c))
        for linn, (_, d) in zip(reversed(self.linns), reversed(list(coeffs))):
            c = linn.inverse(c, d, s)
        return c

    # -------------------------------------------------------------- denoising
    def forward(self, y: Tensor, sigma: SigmaLike | None = None) -> Tensor:
        """Denoising: transform, LISTA on the details, inverse transform.

        Parameters
        ----------
        y : Tensor, shape (B, C, H, W)
            Noisy images.
        sigma : float or Tensor of shape (B,), optional
            Noise standard deviation on the [0, 1] scale; None (blind): estimated from the
            image by :meth:`estimate_sigma`.

        Returns
        -------
        Tensor, shape (B, C, H, W)
        """
        if sigma is None:
            check_image(y, self.in_channels, self.min_size, "y")
            sigma = self.estimate_sigma(y)
        s = self._inputs(y, sigma)
        coeffs = self.transform(y, s)
        clean = [(c, dn(d, s)) for (c, d), dn in zip(coeffs, self.denoisers)]
        return self.inverse_transform(clean, s)

    @staticmethod
    def estimate_sigma(y: Tensor, method: str = "mad") -> Tensor:
        """Noise level of each image, shape (B,): see :func:`mbdl_teach.inn.estimate_sigma`."""
        return estimate_sigma(y, method)

    # -------------------------------------------------------------- training
    def orthogonality_loss(self) -> Tensor:
        """Mean over levels of ``||delta - S * A||^2`` of each LISTA (zero without LISTA)."""
        return torch.stack([dn.orthogonality() for dn in self.denoisers]).mean()

    def spectral_penalty(self) -> Tensor:
        """Mean over the predictors / updaters of the sum of their convolutions' largest
        singular values (each weight matricised as ``(out, in * k * k)``): a simplified form
        of the authors' penalty on the linearised P/U networks, which keeps the lifting
        steps, and so the inverse, well conditioned."""
        terms = []
        for linn in self.linns:
            for step in linn.steps:
                for net in (step.predict, step.update):
                    ws = [m.weight for m in net.modules() if isinstance(m, nn.Conv2d) and m is not net.conv_out]
                    terms.append(sum(_largest_singular_value(w.flatten(1)) for w in ws))
        if not terms:
            return next(self.parameters()).new_zeros(())
        return torch.stack(terms).mean()

    def loss(self, clean: Tensor, noisy: Tensor, sigma: SigmaLike) -> Tensor:
        """Training loss: ``MSE(forward(noisy, sigma), clean)`` plus the weighted regularisers."""
        check_image(clean, self.in_channels, self.min_size, "clean")
        if clean.shape != getattr(noisy, "shape", None):
            raise ValueError(f"clean and noisy must have the same shape, got {tuple(clean.shape)} and "
                             f"{tuple(getattr(noisy, 'shape', ()))}")
        out = F.mse_loss(self(noisy, sigma), clean)
        if self.ortho_weight:
            out = out + self.ortho_weight * self.orthogonality_loss()
        if self.spectral_weight:
            out = out + self.spectral_weight * self.spectral_penalty()
        return out
