"""The harness of every exercise checker: :func:`check` runs the learner's function and a
reference on random cases and prints either a pass or what differs (shapes, dtype, the
worst error and where)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch


@dataclass
class CheckResult:
    """Outcome of :func:`check`: ``passed``, the number of cases and a message."""

    passed: bool
    n_cases: int
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"CheckResult(passed={self.passed}, n_cases={self.n_cases})"

    def _ipython_display_(self) -> None:
        """Show nothing as a cell's last value: the verdict was already printed."""


def _as_tensor(v: Any) -> torch.Tensor | None:
    if isinstance(v, torch.Tensor):
        return v.detach()
    if isinstance(v, np.ndarray):
        return torch.from_numpy(v)
    if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool):
        return torch.tensor(float(v))
    return None


def describe(v: Any) -> str:
    if isinstance(v, (torch.Tensor, np.ndarray)):
        return f"{type(v).__name__} of shape {tuple(v.shape)}, dtype {v.dtype}"
    return type(v).__name__


def _compare(got: Any, want: Any, atol: float, rtol: float, path: str = "output") -> str | None:
    """None when equal within tolerance, else a sentence saying what differs."""
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            return f"{path}: expected a sequence of {len(want)} items, got {describe(got)}"
        for i, (g, w) in enumerate(zip(got, want)):
            why = _compare(g, w, atol, rtol, f"{path}[{i}]")
            if why:
                return why
        return None
    w = _as_tensor(want)
    if w is None:
        return None if got == want else f"{path}: expected {want!r}, got {got!r}"
    g = _as_tensor(got)
    if g is None:
        return f"{path}: expected {describe(want)}, got {describe(got)}"
    if isinstance(want, (torch.Tensor, np.ndarray)) and tuple(g.shape) != tuple(w.shape):
        return f"{path}: expected shape {tuple(w.shape)}, got shape {tuple(g.shape)}"
    if g.is_complex() != w.is_complex():
        return f"{path}: expected {'complex' if w.is_complex() else 'real'} values, got {g.dtype}"
    g64 = g.to(torch.complex128 if g.is_complex() else torch.float64).cpu()
    w64 = w.to(g64.dtype).cpu()
    if not torch.isfinite(g64).all():
        return f"{path}: contains NaN or inf"
    err = (g64 - w64).abs()
    bound = atol + rtol * w64.abs()
    if bool((err <= bound).all()):
        return None
    worst = int(torch.argmax(err - bound))
    idx = tuple(int(i) for i in np.unravel_index(worst, tuple(err.shape))) if err.ndim else ()
    return (
        f"{path}: values differ; worst absolute error {float(err.max()):.3g} at index {idx} "
        f"(got {complex(g64.reshape(-1)[worst]) if g64.is_complex() else float(g64.reshape(-1)[worst]):.6g}, "
        f"expected {complex(w64.reshape(-1)[worst]) if w64.is_complex() else float(w64.reshape(-1)[worst]):.6g}; "
        f"tolerance atol={atol:g}, rtol={rtol:g})"
    )


def check(
    fn: Callable,
    reference: Callable,
    make_case: Callable[[torch.Generator], Sequence[Any]],
    n_cases: int = 5,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    name: str | None = None,
    seed: int = 1234,
    verbose: bool = True,
) -> CheckResult:
    """Compare a learner's function with a reference on random cases.

    Parameters
    ----------
    fn : callable
        The learner's function.
    reference : callable
        The correct implementation (same signature).
    make_case : callable
        ``make_case(generator) -> args``: a tuple of positional arguments.
    n_cases : int
        Number of random cases.
    atol, rtol : float
        Tolerances of the comparison (as ``torch.allclose``).
    name : str, optional
        Name shown in messages (default: ``fn.__name__``).
    seed : int
        Seed of the case generator (cases are the same on every run).
    verbose : bool
        Print the verdict.

    Returns
    -------
    CheckResult
        Truthy when every case passed.
    """
    if not callable(fn):
        raise TypeError(f"expected a function to check, got {type(fn).__name__}")
    name = name or getattr(fn, "__name__", "your function")
    generator = torch.Generator().manual_seed(seed)
    message = f"PASS {name}: {n_cases} random cases agree with the reference"
    passed = True
    for k in range(n_cases):
        args = tuple(make_case(generator))
        want = reference(*args)
        shapes = ", ".join(describe(a) for a in args)
        try:
            got = fn(*[a.clone() if isinstance(a, torch.Tensor) else a for a in args])
        except NotImplementedError:
            passed, message = False, f"NOT YET {name}: it raises NotImplementedError; fill it in above"
            break
        except Exception as err:  # the learner's bug: say what and where
            passed = False
            message = f"FAIL {name}: case {k + 1} raised {type(err).__name__}: {err}\n  inputs: {shapes}"
            break
        why = _compare(got, want, atol, rtol)
        if why:
            passed = False
            message = f"FAIL {name}: case {k + 1} of {n_cases}: {why}\n  inputs: {shapes}"
            break
    if verbose:
        print(message)
    return CheckResult(passed, n_cases, message)
