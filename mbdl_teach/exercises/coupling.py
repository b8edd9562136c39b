"""Exercises of chapter 03: a lifting coupling layer and its inverse."""

from __future__ import annotations

from typing import Callable

import torch

from .harness import CheckResult, check


def coupling_case(generator: torch.Generator):
    """``c`` (B, 1, H, W), ``d`` (B, 3, H, W) in float64 and two random nonlinear CNNs
    ``P`` (1 -> 3 channels) and ``U`` (3 -> 1)."""
    b = int(torch.randint(1, 4, (1,), generator=generator))
    h, w = (int(v) for v in torch.randint(3, 12, (2,), generator=generator))
    c = torch.randn(b, 1, h, w, generator=generator, dtype=torch.float64)
    d = torch.randn(b, 3, h, w, generator=generator, dtype=torch.float64)
    wp = torch.randn(3, 1, 3, 3, generator=generator, dtype=torch.float64) / 3
    wu = torch.randn(1, 3, 3, 3, generator=generator, dtype=torch.float64) / 5

    def P(c):  # noqa: N802 (the book's notation)
        return torch.tanh(torch.nn.functional.conv2d(c, wp, padding=1))

    def U(d):  # noqa: N802
        return torch.relu(torch.nn.functional.conv2d(d, wu, padding=1))

    return c, d, P, U


def reference_coupling_forward(c, d, P, U):
    """One lifting (additive coupling) step: ``d <- d - P(c)``, then ``c <- c + U(d)``.

    Shapes: ``c`` (B, Cc, H, W), ``d`` (B, Cd, H, W) -> the new ``(c, d)``, same shapes.
    """
    d = d - P(c)
    c = c + U(d)
    return c, d


def reference_coupling_inverse(c, d, P, U):
    """Inverse of :func:`reference_coupling_forward`: ``c <- c - U(d)``, then ``d <- d + P(c)``."""
    c = c - U(d)
    d = d + P(c)
    return c, d


def check_lifting_coupling(forward: Callable, inverse: Callable) -> CheckResult:
    """Exercise: a lifting coupling layer ``forward(c, d, P, U) -> (c, d)`` and its inverse
    ``inverse(c, d, P, U) -> (c, d)``, for any predictor ``P`` and updater ``U``."""
    r1 = check(forward, reference_coupling_forward, coupling_case, n_cases=6, atol=1e-10, rtol=1e-8)

    def forward_case(generator):
        c, d, P, U = coupling_case(generator)
        return (*reference_coupling_forward(c, d, P, U), P, U)

    r2 = check(inverse, reference_coupling_inverse, forward_case, n_cases=6, atol=1e-10, rtol=1e-8)
    return CheckResult(r1.passed and r2.passed, r1.n_cases + r2.n_cases, r1.message + "\n" + r2.message)
