"""Exercises of chapter 00: Tikhonov in Fourier, the HQS data step."""

from __future__ import annotations

from typing import Callable

import torch

from .harness import CheckResult, check


def blur_case(generator: torch.Generator):
    from ..operators import gaussian_kernel

    h = int(torch.randint(16, 40, (1,), generator=generator))
    w = int(torch.randint(16, 40, (1,), generator=generator))
    std = 0.5 + 2 * float(torch.rand(1, generator=generator))
    return h, w, gaussian_kernel(std)


def reference_tikhonov_fourier(y: torch.Tensor, otf: torch.Tensor, lam: float) -> torch.Tensor:
    """``argmin_x ||k * x - y||^2 + lam ||x||^2`` for circular blur, by FFT.

    ``x = F^{-1}[ conj(K) Y / (|K|^2 + lam) ]`` with ``K = otf`` and ``Y = F y``.
    Shapes: ``y`` (H, W) real, ``otf`` (H, W) complex; returns (H, W) real.
    """
    return torch.fft.ifft2(otf.conj() * torch.fft.fft2(y) / (otf.abs() ** 2 + lam)).real


def check_tikhonov_fourier(fn: Callable) -> CheckResult:
    """Exercise: Tikhonov deconvolution in the Fourier domain, ``fn(y, otf, lam)``."""
    from ..operators import kernel_to_otf

    def make_case(generator):
        h, w, k = blur_case(generator)
        y = torch.rand(h, w, generator=generator, dtype=torch.float64)
        otf = kernel_to_otf(k.double(), (h, w))
        lam = float(10 ** (-3 * torch.rand(1, generator=generator)))
        return y, otf, lam

    return check(fn, reference_tikhonov_fourier, make_case, atol=1e-8, rtol=1e-6)


def reference_hqs_x_step(y, v, op, beta):
    """``argmin_x ||H x - y||^2 + beta ||x - v||^2 = (H^T H + beta I)^{-1}(H^T y + beta v)``."""
    return op.solve_normal(op.adjoint(y) + beta * v, beta)


def check_hqs_x_step(fn: Callable) -> CheckResult:
    """Exercise: the least-squares step of HQS, ``fn(y, v, op, beta)`` for a blur ``op``."""
    from ..operators import Blur

    def make_case(generator):
        h, w, k = blur_case(generator)
        op = Blur(k)
        y = torch.rand(1, 1, h, w, generator=generator, dtype=torch.float64)
        v = torch.rand(1, 1, h, w, generator=generator, dtype=torch.float64)
        beta = float(10 ** (-2 * torch.rand(1, generator=generator)))
        return y, v, op, beta

    return check(fn, reference_hqs_x_step, make_case, atol=1e-8, rtol=1e-6)
