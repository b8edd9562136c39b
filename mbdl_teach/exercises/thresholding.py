"""Exercises of chapter 01: soft thresholding, the MAD noise estimate, BayesShrink."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .harness import CheckResult, check, describe


def reference_soft_threshold(x: torch.Tensor, t: float) -> torch.Tensor:
    """``sign(x) * max(|x| - t, 0)``; ``x`` any shape, ``t >= 0``."""
    from ..wavelets import soft_threshold

    return soft_threshold(x, t)


def check_soft_threshold(fn: Callable) -> CheckResult:
    """Exercise: soft thresholding ``fn(x, t)`` of a tensor by a number ``t >= 0``.

    Besides the values, the answer must be a tensor of ``x``'s dtype that is differentiable
    in ``x`` (later chapters train through it). An answer written with NumPy is rejected
    with a message that says so: it returns an ndarray, or (through NumPy's conversion of
    tensors) a tensor without gradient, which fails once ``x`` requires grad.
    """
    name = getattr(fn, "__name__", "soft_threshold")
    outputs = []

    def recorded(x, t):
        out = fn(x, t)
        outputs.append((x.dtype, out))
        return out

    def make_case(generator):
        ndim = int(torch.randint(1, 4, (1,), generator=generator))
        shape = tuple(int(s) for s in torch.randint(1, 9, (ndim,), generator=generator))
        x = 2 * torch.randn(shape, generator=generator, dtype=torch.float64)
        t = float(torch.rand(1, generator=generator)) * 2
        return x, t

    result = check(recorded, reference_soft_threshold, make_case, n_cases=8, atol=1e-12,
                   rtol=1e-10, name=name, verbose=False)
    why = None
    for dtype, out in outputs:
        if not isinstance(out, torch.Tensor) or out.dtype != dtype:
            why = f"expected a torch.Tensor of x's dtype ({dtype}), got {describe(out)}"
            break
    if why is None and result.passed:  # the gradient: 1 where |x| > t, else 0
        x = torch.tensor([-2.5, -1.2, -0.3, 0.4, 1.1, 2.2], dtype=torch.float64,
                         requires_grad=True)
        try:
            fn(x, 0.7).sum().backward()
            want = (x.detach().abs() > 0.7).to(x.dtype)
            if x.grad is None or not torch.allclose(x.grad, want):
                why = f"expected the gradient {want.tolist()}, got {x.grad}"
        except Exception as err:
            why = (f"expected a function differentiable in x; with x.requires_grad=True "
                   f"it raised {type(err).__name__}: {err}")
    if why:
        result = CheckResult(False, result.n_cases, (
            f"FAIL {name}: {why}\n  use torch operations (torch.sign, torch.clamp, "
            f"x.abs()), not NumPy: the result must stay a differentiable tensor"))
    print(result.message)
    return result


def reference_mad_sigma(d: torch.Tensor) -> float:
    """``median(|d|) / 0.6745`` for the finest diagonal details ``d`` (any shape)."""
    from ..wavelets import MAD_CONSTANT

    return float(np.median(np.abs(d.detach().cpu().numpy())) / MAD_CONSTANT)


def check_mad_sigma(fn: Callable) -> CheckResult:
    """Exercise: the MAD noise estimate ``fn(d) -> float`` from a band of details.

    ``rtol=1e-4`` accepts the rounded constant 0.6745 as well as Phi^{-1}(3/4). The answer
    must be a float (Python's, or a NumPy floating scalar): a tensor, even one of shape
    (), is rejected with a message that says a float was expected.
    """
    name = getattr(fn, "__name__", "mad_sigma")
    outputs = []

    def recorded(d):
        out = fn(d)
        outputs.append(out)
        return out

    def make_case(generator):
        h = 2 * int(torch.randint(8, 40, (1,), generator=generator)) + 1  # odd count: one middle value
        w = 2 * int(torch.randint(8, 40, (1,), generator=generator)) + 1
        sigma = 0.02 + 0.2 * float(torch.rand(1, generator=generator))
        d = sigma * torch.randn(h, w, generator=generator, dtype=torch.float64)
        edges = torch.rand(h, w, generator=generator) < 0.05  # a few large edge coefficients
        d[edges] += 5 * torch.randn(int(edges.sum()), generator=generator, dtype=torch.float64)
        return (d,)

    result = check(recorded, reference_mad_sigma, make_case, n_cases=6, atol=1e-9, rtol=1e-4,
                   name=name, verbose=False)
    for out in outputs:
        if not isinstance(out, (float, np.floating)):
            result = CheckResult(False, result.n_cases, (
                f"FAIL {name}: expected a float, got {describe(out)}; "
                f"convert the result with float(...) or .item()"))
            break
    print(result.message)
    return result


def reference_bayes_threshold(band: torch.Tensor, sigma: float) -> float:
    """BayesShrink: ``sigma^2 / sigma_x``, ``sigma_x = sqrt(max(mean(band^2) - sigma^2, 0))``;
    ``max |band|`` when ``sigma_x = 0``."""
    from ..wavelets import bayes_threshold

    return bayes_threshold(band.detach().cpu().numpy(), sigma)


def check_bayes_threshold(fn: Callable) -> CheckResult:
    """Exercise: BayesShrink's threshold ``fn(band, sigma) -> float`` for one detail band."""

    def make_case(generator):
        h, w = (int(v) for v in torch.randint(8, 48, (2,), generator=generator))
        sigma = 0.02 + 0.2 * float(torch.rand(1, generator=generator))
        signal = float(torch.rand(1, generator=generator)) * 3 * sigma  # sometimes weaker than noise
        x = signal * torch.randn(h, w, generator=generator, dtype=torch.float64)
        x[torch.rand(h, w, generator=generator) < 0.7] = 0  # sparse signal
        noise = sigma * torch.randn(h, w, generator=generator, dtype=torch.float64)
        if float(torch.rand(1, generator=generator)) < 0.3:  # a pure-noise band, shrunk: sigma_x = 0
            noise = 0.8 * noise
            x = 0 * x
        return x + noise, sigma

    return check(fn, reference_bayes_threshold, make_case, n_cases=10, atol=1e-10, rtol=1e-8)
