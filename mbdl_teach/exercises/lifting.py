"""Exercises of chapter 02: Haar lifting, LeGall 5/3 predict and update."""

from __future__ import annotations

from typing import Callable

import torch

from .harness import CheckResult, check


def _even_signal(generator: torch.Generator) -> torch.Tensor:
    """A batch of 1-D float64 signals of random even length, shape (B, 2n)."""
    batch = int(torch.randint(1, 4, (1,), generator=generator))
    n = int(torch.randint(2, 33, (1,), generator=generator))
    return torch.randn(batch, 2 * n, generator=generator, dtype=torch.float64)


def reference_haar_lift(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unnormalised Haar lifting along the last axis.

    ``s, d = x[..., 0::2], x[..., 1::2]``; predict ``d <- d - s``; update ``s <- s + d / 2``.
    Shapes: ``x`` (..., 2n) -> ``s, d`` (..., n) each (``s`` is the pairwise mean).
    """
    s, d = x[..., 0::2], x[..., 1::2]
    d = d - s
    s = s + d / 2
    return s, d


def reference_haar_unlift(s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`reference_haar_lift`: undo the update, then the predict, then merge."""
    s = s - d / 2
    d = d + s
    return torch.stack((s, d), dim=-1).flatten(-2)


def check_haar_lifting(lift: Callable, unlift: Callable) -> CheckResult:
    """Exercise: Haar lifting ``lift(x) -> (s, d)`` and its inverse ``unlift(s, d) -> x``."""
    r1 = check(lift, reference_haar_lift, lambda g: (_even_signal(g),), atol=1e-10, rtol=1e-8)
    r2 = check(unlift, reference_haar_unlift, lambda g: reference_haar_lift(_even_signal(g)), atol=1e-10,
               rtol=1e-8)
    return CheckResult(r1.passed and r2.passed, r1.n_cases + r2.n_cases, r1.message + "\n" + r2.message)


def reference_legall53_predict(s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """LeGall 5/3 predict, periodic: ``d[k] - (s[k] + s[k+1]) / 2`` with ``s[n] = s[0]``.

    Shapes: ``s, d`` (..., n) -> new ``d`` (..., n).
    """
    return d - (s + torch.roll(s, -1, dims=-1)) / 2


def reference_legall53_update(s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """LeGall 5/3 update, periodic: ``s[k] + (d[k-1] + d[k]) / 4`` with ``d[-1] = d[n-1]``.

    Shapes: ``s, d`` (..., n) -> new ``s`` (..., n).
    """
    return s + (torch.roll(d, 1, dims=-1) + d) / 4


def check_legall53_steps(predict: Callable, update: Callable) -> CheckResult:
    """Exercise: the LeGall 5/3 steps ``predict(s, d) -> d`` and ``update(s, d) -> s``."""

    def make_case(generator):
        x = _even_signal(generator)
        return x[..., 0::2].clone(), x[..., 1::2].clone()

    r1 = check(predict, reference_legall53_predict, make_case, atol=1e-10, rtol=1e-8)
    r2 = check(update, reference_legall53_update, make_case, atol=1e-10, rtol=1e-8)
    return CheckResult(r1.passed and r2.passed, r1.n_cases + r2.n_cases, r1.message + "\n" + r2.message)
