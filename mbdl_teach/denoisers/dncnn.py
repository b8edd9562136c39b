"""DnCNN (Zhang et al., IEEE TIP 2017), a small residual CNN that predicts the noise."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..checks import check_sigma
from .base import Denoiser, check_input


class DnCNN(Denoiser):
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

    blind = True  # it reads the noise level from the image: sigma is accepted and ignored

    def __init__(self, channels: int = 1, depth: int = 15, features: int = 32):
        super().__init__()
        for n, v, lo in (("channels", channels, 1), ("depth", depth, 2), ("features", features, 1)):
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ValueError(f"{n} must be an integer >= {lo}, got {v!r}")
        self.config = dict(channels=channels, depth=depth, features=features)
        self.name, self.channels = "dncnn", channels
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
        check_input(y, self.config["channels"])
        return self.body(y)

    def forward(self, y: torch.Tensor, sigma: Any = None) -> torch.Tensor:
        """Denoised ``y - R(y)``; ``sigma`` is checked and ignored (DnCNN is blind)."""
        check_sigma(sigma, y.shape[0] if isinstance(y, torch.Tensor) else 1, allow_none=True)
        return y - self.residual(y)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
