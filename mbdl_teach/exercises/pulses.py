"""Exercises of chapter 09: the annihilating filter, Gaussian pre-weighting."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .harness import CheckResult, check


def _exp_case(generator: torch.Generator):
    K = int(torch.randint(1, 4, (1,), generator=generator))
    N = 2 * K + 1 + int(torch.randint(0, 8, (1,), generator=generator))
    z = 0.5 + torch.rand(K, generator=generator, dtype=torch.float64)
    z = z + 0.3 * torch.arange(K, dtype=torch.float64)  # distinct roots
    c = 0.5 + torch.rand(K, generator=generator, dtype=torch.float64)
    n = torch.arange(N, dtype=torch.float64)
    h = (c[None] * z[None] ** n[:, None]).sum(1)
    return h, K


def reference_annihilating_filter(h: torch.Tensor, K: int) -> torch.Tensor:
    """The annihilating filter ``(1, a_1, ..., a_K)`` of ``h[n] = sum_k c_k z_k^n``:
    the coefficients of ``prod_k (1 - z_k x^-1)``, i.e. ``sum_i a_i h[n - i] = 0``."""
    from ..xrf.fri import annihilating_filter

    return torch.from_numpy(np.real(annihilating_filter(h.numpy(), K)).astype(np.float64))


def check_annihilating_filter(fn: Callable) -> CheckResult:
    """Exercise: ``fn(h, K)`` returns the annihilating filter (K + 1,), first entry 1, of a
    sum of K exponentials ``h`` (N,)."""
    return check(fn, reference_annihilating_filter, _exp_case, atol=1e-6, rtol=1e-6)


def reference_gaussian_preweight(samples: torch.Tensor, t: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian-kernel FRI pre-weighting: ``samples * exp(t^2 / (2 sigma^2))``."""
    return samples * torch.exp(t**2 / (2 * sigma**2))


def check_gaussian_preweight(fn: Callable) -> CheckResult:
    """Exercise: ``fn(samples, t, sigma)`` turns Gaussian pulses sampled at ``t`` into a sum
    of exponentials."""

    def make_case(generator):
        N = int(torch.randint(5, 15, (1,), generator=generator))
        sigma = float(0.5 + torch.rand(1, generator=generator))
        t = (torch.arange(N, dtype=torch.float64) - N // 2) * 0.4 * sigma
        uk = (torch.rand(2, generator=generator, dtype=torch.float64) - 0.5) * sigma
        s = torch.exp(-((t[:, None] - uk[None]) ** 2) / (2 * sigma**2)).sum(1)
        return s, t, sigma

    return check(fn, reference_gaussian_preweight, make_case, atol=1e-9, rtol=1e-8)
