"""Exercises of chapter 05: the HQS data step in Fourier."""

from __future__ import annotations

from typing import Callable

import torch

from .harness import CheckResult, check
from .inverse import blur_case


def reference_hqs_fourier_x_step(y: torch.Tensor, z: torch.Tensor, otf: torch.Tensor, beta: float) -> torch.Tensor:
    """The HQS data step for circular blur, in the Fourier domain.

    ``argmin_x ||k * x - y||^2 + beta ||x - z||^2
    = F^{-1}[ (conj(K) Y + beta Z) / (|K|^2 + beta) ]``; ``y``, ``z`` (H, W) real,
    ``otf`` (H, W) complex; returns (H, W) real.
    """
    num = otf.conj() * torch.fft.fft2(y) + beta * torch.fft.fft2(z)
    return torch.fft.ifft2(num / (otf.abs() ** 2 + beta)).real


def check_hqs_fourier_x_step(fn: Callable) -> CheckResult:
    """Exercise: the plug-and-play HQS x-update for circular blur, ``fn(y, z, otf, beta)``."""
    from ..operators import kernel_to_otf

    def make_case(generator):
        h, w, k = blur_case(generator)
        y = torch.rand(h, w, generator=generator, dtype=torch.float64)
        z = torch.rand(h, w, generator=generator, dtype=torch.float64)
        otf = kernel_to_otf(k.double(), (h, w))
        beta = float(10 ** (-3 * torch.rand(1, generator=generator)))
        return y, z, otf, beta

    return check(fn, reference_hqs_fourier_x_step, make_case, atol=1e-8, rtol=1e-6)
