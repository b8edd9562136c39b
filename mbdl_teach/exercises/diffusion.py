"""Exercises of chapter 07: closed-form noising, DDNM's projection."""

from __future__ import annotations

from typing import Callable

import torch

from .harness import CheckResult, check


def reference_q_sample(x0: torch.Tensor, t: torch.Tensor, betas: torch.Tensor,
                       noise: torch.Tensor) -> torch.Tensor:
    """``sqrt(abar_t) x0 + sqrt(1 - abar_t) noise`` with ``abar_t = prod_{s <= t} (1 - beta_s)``."""
    abar = torch.cumprod(1 - betas, 0)[t].reshape(-1, 1, 1, 1)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def check_q_sample(fn: Callable) -> CheckResult:
    """Exercise: ``fn(x0, t, betas, noise)`` draws ``x_t`` from ``q(x_t | x_0)`` in one step
    (``x0`` and ``noise`` (B, 1, H, W), ``t`` (B,) integer steps, ``betas`` (T,))."""

    def make_case(generator):
        T = int(torch.randint(10, 200, (1,), generator=generator))
        b = int(torch.randint(1, 5, (1,), generator=generator))
        betas = torch.linspace(1e-4, 0.02 + 0.1 * float(torch.rand(1, generator=generator)), T,
                               dtype=torch.float64)
        x0 = 2 * torch.rand(b, 1, 8, 8, generator=generator, dtype=torch.float64) - 1
        t = torch.randint(T, (b,), generator=generator)
        return x0, t, betas, torch.randn(b, 1, 8, 8, generator=generator, dtype=torch.float64)

    return check(fn, reference_q_sample, make_case, atol=1e-10, rtol=1e-8,
                 name=getattr(fn, "__name__", "q_sample"))


def reference_ddnm_projection(x0: torch.Tensor, y: torch.Tensor, op, delta: float) -> torch.Tensor:
    """``x0 + A+ (y - H x0)`` with ``A+ = (H^T H + delta I)^{-1} H^T``."""
    return x0 + op.solve_normal(op.T(y - op(x0)), delta)


def check_ddnm_projection(fn: Callable) -> CheckResult:
    """Exercise: ``fn(x0, y, op, delta)``, DDNM's range-null-space step on [0, 1] images."""
    from ..operators import Blur, Downsample, box_kernel

    def make_case(generator):
        if int(torch.randint(2, (1,), generator=generator)):
            k = torch.rand(5, 5, generator=generator, dtype=torch.float64) + 0.1
            op, shape = Blur((k / k.sum()).float()), (1, 1, 16, 16)
        else:
            f = int(torch.randint(2, 5, (1,), generator=generator))
            op, shape = Downsample(f, box_kernel(f)), (1, 1, 4 * f, 4 * f)
        x0 = torch.rand(shape, generator=generator, dtype=torch.float64)
        y = op(torch.rand(shape, generator=generator, dtype=torch.float64))
        return x0, y, op, float(10 ** (-4 + 3 * torch.rand(1, generator=generator)))

    return check(fn, reference_ddnm_projection, make_case, atol=1e-7, rtol=1e-6,
                 name=getattr(fn, "__name__", "ddnm_projection"))
