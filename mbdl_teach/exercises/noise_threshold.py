"""Exercises of chapter 04: WINNet's noise-scaled soft threshold."""

from __future__ import annotations

from typing import Callable

import torch

from .harness import CheckResult, check


def reference_noise_soft_threshold(x: torch.Tensor, theta: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """WINNet's noise-adaptive soft threshold.

    ``t[b, c] = softplus_20(theta[c]) * (255 sigma[b]) / 50`` with
    ``softplus_20(u) = log(1 + exp(20 u)) / 20``; returns ``sign(x) max(|x| - t, 0)``.
    Shapes: ``x`` (B, C, H, W), ``theta`` (C,), ``sigma`` (B,) on the [0, 1] scale.
    """
    from ..inn import NoiseSoftThreshold

    st = NoiseSoftThreshold(theta.numel()).to(x.dtype)
    with torch.no_grad():
        st.theta.copy_(theta)
        return st(x, sigma.to(x.dtype))


def check_noise_soft_threshold(fn: Callable) -> CheckResult:
    """Exercise: the threshold that scales with the noise level, ``fn(x, theta, sigma)``."""

    def make_case(generator):
        b, c = (int(v) for v in torch.randint(1, 5, (2,), generator=generator))
        h, w = (int(v) for v in torch.randint(2, 12, (2,), generator=generator))
        x = 0.2 * torch.randn(b, c, h, w, generator=generator, dtype=torch.float64)
        theta = 0.3 * torch.randn(c, generator=generator, dtype=torch.float64)
        sigma = 60 / 255 * torch.rand(b, generator=generator, dtype=torch.float64)
        return x, theta, sigma

    return check(fn, reference_noise_soft_threshold, make_case, n_cases=8, atol=1e-10, rtol=1e-8)
