"""Lifting with learnable (or any) predict and update operators, and a median predictor."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from .schemes import _check_dim, _check_tensor, _merge, _split


def _as_modules(m, what: str) -> list:
    mods = list(m) if isinstance(m, (list, tuple, nn.ModuleList)) else [m]
    for i, f in enumerate(mods):
        if not callable(f):
            raise TypeError(f"{what}[{i}] must be an nn.Module or a callable, got {type(f).__name__}")
    return mods


def checked(out, like: Tensor, what: str) -> Tensor:
    """``out`` if it is a tensor shaped like ``like``, else a clear error naming ``what``."""
    if not isinstance(out, Tensor) or out.shape != like.shape:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"{what} must return a tensor of shape {tuple(like.shape)}, got {got}")
    return out


class LiftingCoupling(nn.Module):
    """The lifting steps on a split ``(s, d)``: the coupling layer every learned lifting of
    the course uses (:class:`LearnableLifting` on a polyphase split, the LINN and WINNet
    steps of :mod:`mbdl_teach.inn` on a filter-bank split).

    Subclasses say what their ``(predict, update)`` pairs are (:meth:`pairs`). Extra
    arguments of :meth:`lift` and :meth:`unlift` (a noise level) go to every ``P`` and ``U``.
    """

    def pairs(self) -> list[tuple[nn.Module, nn.Module]]:  # pragma: no cover - abstract
        """The ``(P_i, U_i)`` pairs, in the order :meth:`lift` applies them."""
        raise NotImplementedError

    def lift(self, s: Tensor, d: Tensor, *args) -> tuple[Tensor, Tensor]:
        """Apply the predict/update pairs: returns the new ``(s, d)``."""
        for i, (p, u) in enumerate(self.pairs()):
            d = d - checked(p(s, *args), d, f"predict[{i}]")
            s = s + checked(u(d, *args), s, f"update[{i}]")
        return s, d

    def unlift(self, s: Tensor, d: Tensor, *args) -> tuple[Tensor, Tensor]:
        """Undo :meth:`lift` exactly: returns the original ``(s, d)``."""
        for i, (p, u) in reversed(list(enumerate(self.pairs()))):
            s = s - checked(u(d, *args), s, f"update[{i}]")
            d = d + checked(p(s, *args), d, f"predict[{i}]")
        return s, d


class LearnableLifting(LiftingCoupling):
    """Lifting with arbitrary (learnable) predict and update operators.

    For each pair ``(P_i, U_i)`` in turn::

        d <- d - P_i(s)
        s <- s + U_i(d)

    and :meth:`unlift` undoes the pairs in reverse order (``s <- s - U_i(d)``,
    ``d <- d + P_i(s)``). The inverse is exact (to floating-point rounding) for *any*
    deterministic ``P_i`` and ``U_i``: they are never inverted, only re-evaluated. This is
    the coupling layer of invertible networks (LINN, WINNet {cite}`huang2021linn,huang2022winnet`).

    Parameters
    ----------
    predict, update : nn.Module or callable, or sequences of them (same length)
        ``P_i`` maps a tensor shaped like ``s`` to one shaped like ``d``; ``U_i`` the reverse.
        Avoid anything random at evaluation time (dropout in training mode).

    Notes
    -----
    :meth:`forward` / :meth:`inverse` add the polyphase split along one axis, which is moved
    last before ``P`` and ``U`` see it (so a ``Conv1d`` acts along the lifting axis). With
    this interface a ``LearnableLifting`` can be passed to :func:`dwt2` in place of a fixed
    scheme. Other splits (a channel split, a DCT filter bank) use :meth:`lift` and
    :meth:`unlift` directly on ``(s, d)``.
    """

    def __init__(self, predict, update):
        super().__init__()
        p, u = _as_modules(predict, "predict"), _as_modules(update, "update")
        if len(p) != len(u) or not p:
            raise ValueError(f"need as many predict as update operators (at least one), got {len(p)} and {len(u)}")
        self.predict = nn.ModuleList([_wrap(f) for f in p])
        self.update = nn.ModuleList([_wrap(f) for f in u])

    def pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """The ``(P_i, U_i)`` pairs given at construction."""
        return list(zip(self.predict, self.update))

    def forward(self, x: Tensor, dim: int = -1) -> tuple[Tensor, Tensor]:
        """Split ``x`` into even/odd samples along ``dim`` (even length) and lift.

        Parameters
        ----------
        x : Tensor, shape (..., N, ...), N even

        Returns
        -------
        s, d : Tensor, shape (..., N/2, ...) each
        """
        _check_tensor(x)
        dim = _check_dim(x, dim)
        n = x.shape[dim]
        if n < 2 or n % 2:
            raise ValueError(
                f"LearnableLifting splits into two equal halves: the length along dim {dim} must be "
                f"even and at least 2, got {n} (crop or pad the input)"
            )
        s, d = _split(x.movedim(dim, -1), -1)
        s, d = self.lift(s, d)
        return s.movedim(-1, dim), d.movedim(-1, dim)

    def inverse(self, s: Tensor, d: Tensor, dim: int = -1) -> Tensor:
        """Undo :meth:`forward`: returns ``x`` of length ``2 N/2`` along ``dim``."""
        _check_tensor(s, "s")
        _check_tensor(d, "d")
        dim = _check_dim(s, dim)
        if s.shape != d.shape:
            raise ValueError(f"s and d must have the same shape, got {tuple(s.shape)} and {tuple(d.shape)}")
        s, d = self.unlift(s.movedim(dim, -1), d.movedim(dim, -1))
        return _merge(s, d, -1).movedim(-1, dim)


class _Lambda(nn.Module):
    def __init__(self, fn: Callable):
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


def _wrap(f) -> nn.Module:
    return f if isinstance(f, nn.Module) else _Lambda(f)


class MedianPredict(nn.Module):
    """A non-linear predictor: the cubic prediction clipped to its two neighbours.

    ``P(s)[k] = median(s[k], s[k+1], (-s[k-1] + 9 s[k] + 9 s[k+1] - s[k+2]) / 16)``
    along the last axis, periodic. In smooth regions it is the 4-point (cubic) prediction;
    at an edge it never overshoots the range of its neighbours. Used with
    :class:`LearnableLifting` as ``P`` (the sign convention there is ``d <- d - P(s)``).
    """

    def forward(self, s: Tensor) -> Tensor:
        """``s`` : Tensor, shape (..., M) -> prediction of the odd samples, (..., M)."""
        s1 = torch.roll(s, -1, dims=-1)
        s0, s2 = torch.roll(s, 1, dims=-1), torch.roll(s, -2, dims=-1)
        cubic = (9.0 * (s + s1) - s0 - s2) / 16.0
        return torch.clamp(cubic, torch.minimum(s, s1), torch.maximum(s, s1))
