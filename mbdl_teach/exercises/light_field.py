"""Exercises of chapter 10: the strided convolution's adjoint, the ISRA update."""

from __future__ import annotations

from typing import Callable

import torch

from .harness import CheckResult, check


def reference_strided_adjoint(y: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
    """The adjoint of ``x -> conv2d(x, weight, stride=stride)`` (no padding)."""
    import torch.nn.functional as F

    return F.conv_transpose2d(y, weight, stride=stride)


class _NoTranspose:
    """Inside the check, ``conv_transpose2d`` (which computes the answer) raises."""

    MESSAGE = ("this exercise asks for the adjoint without conv_transpose2d, which computes "
               "it: scatter each kernel tap back with strided slices")

    def __enter__(self):
        import torch.nn.functional as F

        def refuse(*args, **kw):
            raise RuntimeError(self.MESSAGE)

        self.saved = F.conv_transpose2d, torch.conv_transpose2d
        F.conv_transpose2d = torch.conv_transpose2d = refuse
        return self

    def __exit__(self, *exc):
        import torch.nn.functional as F

        F.conv_transpose2d, torch.conv_transpose2d = self.saved
        return False


def check_strided_adjoint(fn: Callable) -> CheckResult:
    """Exercise: ``fn(y, weight, stride)`` is the adjoint of one depth's strided convolution
    ``x (B, 1, P, Q) -> conv2d(x, weight (C, 1, k, k), stride) (B, C, h, w)``, returning
    (B, 1, P, Q) with ``P = (h - 1) stride + k``, written without ``conv_transpose2d``
    (which the checker disables while it runs ``fn``)."""
    if not callable(fn):
        raise TypeError(f"expected a function to check, got {type(fn).__name__}")
    name = getattr(fn, "__name__", "strided_adjoint")

    def guarded(*args):
        code = getattr(fn, "__code__", None)
        if code is not None and "conv_transpose2d" in code.co_names:
            raise RuntimeError(_NoTranspose.MESSAGE)
        with _NoTranspose():
            return fn(*args)

    def make_case(generator):  # strides 2 and 3: the point of the exercise
        s = int(torch.randint(2, 4, (1,), generator=generator))
        k = s * int(torch.randint(1, 4, (1,), generator=generator))
        c = int(torch.randint(1, 6, (1,), generator=generator))
        h = int(torch.randint(2, 6, (1,), generator=generator))
        w = torch.rand(c, 1, k, k, generator=generator, dtype=torch.float64)
        return torch.randn(2, c, h, h + 1, generator=generator, dtype=torch.float64), w, s

    return check(guarded, reference_strided_adjoint, make_case, atol=1e-10, rtol=1e-8,
                 name=name)


def reference_isra_update(x: torch.Tensor, y: torch.Tensor, op) -> torch.Tensor:
    """One ISRA step ``x * H^T y / H^T H x``."""
    return x * op.adjoint(y) / op.adjoint(op(x))


def check_isra_update(fn: Callable) -> CheckResult:
    """Exercise: ``fn(x, y, op)`` makes one ISRA update with a light-field operator."""
    from ..lfm import LightField

    def make_case(generator):
        D, s, K, N = (int(torch.randint(1, 3, (1,), generator=generator)), 2, 3, 3)
        psf = torch.rand(D, s, s, K * N, K * N, generator=generator, dtype=torch.float64)
        op = LightField(psf, pixels=N)
        x = torch.rand(1, D, 4 * s, 3 * s, generator=generator, dtype=torch.float64) + 0.1
        y = op(torch.rand(x.shape, generator=generator, dtype=torch.float64))
        return x, y, op

    return check(fn, reference_isra_update, make_case, atol=1e-10, rtol=1e-8,
                 name=getattr(fn, "__name__", "isra_update"))
