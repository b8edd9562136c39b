"""Exercises of chapter 06: an ISTA step, a LISTA layer."""

from __future__ import annotations

from typing import Callable

import torch

from .harness import CheckResult, check


def _sparse_case(generator: torch.Generator):
    m = int(torch.randint(5, 30, (1,), generator=generator))
    n = m + int(torch.randint(1, 40, (1,), generator=generator))
    b = int(torch.randint(1, 6, (1,), generator=generator))
    D = torch.randn(m, n, generator=generator, dtype=torch.float64)
    D = D / D.norm(dim=0, keepdim=True)
    x = torch.randn(b, n, generator=generator, dtype=torch.float64) * (torch.rand(b, n, generator=generator) < 0.3)
    y = torch.randn(b, m, generator=generator, dtype=torch.float64)
    return D, x, y


def reference_ista_step(x, y, D, lam, L):
    """One ISTA step ``S_{lam/L}(x + D^T (y - D x) / L)``; x (B, n), y (B, m), D (m, n)."""
    v = x + (y - x @ D.T) @ D / L
    return torch.sign(v) * torch.clamp(v.abs() - lam / L, min=0)


def check_ista_step(fn: Callable) -> CheckResult:
    """Exercise: one ISTA step, ``fn(x, y, D, lam, L)`` with rows as examples."""

    def make_case(generator):
        D, x, y = _sparse_case(generator)
        L = float(torch.linalg.matrix_norm(D, ord=2) ** 2)
        lam = float(0.5 * torch.rand(1, generator=generator))
        return x, y, D, lam, L

    return check(fn, reference_ista_step, make_case, atol=1e-10, rtol=1e-8)


def reference_lista_layer(x, y, W_e, S, theta):
    """One LISTA layer ``S_theta(W_e y + S x)``; x (B, n), y (B, m), W_e (n, m), S (n, n)."""
    v = y @ W_e.T + x @ S.T
    return torch.sign(v) * torch.clamp(v.abs() - theta, min=0)


def check_lista_layer(fn: Callable) -> CheckResult:
    """Exercise: the forward pass of one LISTA layer, ``fn(x, y, W_e, S, theta)``."""

    def make_case(generator):
        D, x, y = _sparse_case(generator)
        m, n = D.shape
        W_e = 0.3 * torch.randn(n, m, generator=generator, dtype=torch.float64)
        S = 0.3 * torch.randn(n, n, generator=generator, dtype=torch.float64)
        theta = float(0.5 * torch.rand(1, generator=generator))
        return x, y, W_e, S, theta

    return check(fn, reference_lista_layer, make_case, atol=1e-10, rtol=1e-8)
