"""Exercises of chapter 08: the exclusion loss, an ISTA layer on two components' codes."""

from __future__ import annotations

from typing import Callable

import torch

from .harness import CheckResult, check


def _xray_images(generator: torch.Generator):
    """Two smooth random images with a few shared and a few separate edges, (B, 1, H, W)."""
    b = int(torch.randint(1, 3, (1,), generator=generator))
    h, w = (int(v) * 8 for v in torch.randint(3, 7, (2,), generator=generator))
    a = torch.rand(b, 1, h // 4, w // 4, generator=generator, dtype=torch.float64)
    c = torch.rand(b, 1, h // 4, w // 4, generator=generator, dtype=torch.float64)
    up = dict(size=(h, w), mode="nearest")
    a = torch.nn.functional.interpolate(a, **up) + 0.05 * torch.rand(b, 1, h, w, generator=generator)
    c = torch.nn.functional.interpolate(c, **up) + 0.05 * torch.rand(b, 1, h, w, generator=generator)
    return a, 0.5 * c + 0.3 * a


def reference_exclusion_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The exclusion loss over 3 scales (``mbdl_teach.xray.exclusion_loss``)."""
    from .. import xray

    return xray.exclusion_loss(a, b, levels=3)


def check_exclusion_loss(fn: Callable) -> CheckResult:
    """Exercise: the exclusion loss ``fn(a, b)`` of two (B, 1, H, W) images (3 scales)."""
    return check(fn, reference_exclusion_loss, _xray_images, atol=1e-8, rtol=1e-6,
                 name=getattr(fn, "__name__", "exclusion_loss"))


def reference_xray_ista_layer(z1, z2, x, r1, Xi, Omega, step, theta1, theta2, gamma):
    """One ISTA step on the codes (``mbdl_teach.xray.ista_codes_step``)."""
    from .. import xray

    return xray.ista_codes_step(z1, z2, x, r1, Xi, Omega, step, theta1, theta2, gamma)


def check_xray_ista_layer(fn: Callable) -> CheckResult:
    """Exercise: ``fn(z1, z2, x, r1, Xi, Omega, step, theta1, theta2, gamma) -> (z1, z2)``."""
    from .. import xray

    def make_case(generator):
        k, f = int(torch.randint(4, 10, (1,), generator=generator)), int(torch.randint(3, 6, (1,), generator=generator))
        h, w = (int(v) * 2 for v in torch.randint(6, 12, (2,), generator=generator))
        Xi = xray.ConvDictionary(k, f, 1, init=0.3 * torch.randn(1, k, f, f, generator=generator)).double()
        Omega = xray.ConvDictionary(k, f, 3, init=0.3 * torch.randn(3, k, f, f, generator=generator)).double()
        z1, z2 = (0.2 * torch.randn(1, k, h, w, generator=generator, dtype=torch.float64) for _ in range(2))
        x = torch.rand(1, 1, h, w, generator=generator, dtype=torch.float64)
        r1 = torch.rand(1, 3, h, w, generator=generator, dtype=torch.float64)
        step = float(0.2 + 0.3 * torch.rand(1, generator=generator))
        theta1, theta2 = (0.05 * torch.rand(k, 1, 1, generator=generator, dtype=torch.float64) for _ in range(2))
        gamma = float(0.5 * torch.rand(1, generator=generator))
        return z1, z2, x, r1, Xi, Omega, step, theta1, theta2, gamma

    with torch.no_grad():
        return check(fn, reference_xray_ista_layer, make_case, n_cases=4, atol=1e-9, rtol=1e-7,
                     name=getattr(fn, "__name__", "ista_layer"))
