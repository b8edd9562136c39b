"""The lifting scheme in torch: Haar, LeGall 5/3, CDF 9/7 and learnable lifting.

A lifting transform splits a signal into its even and odd samples (the *lazy wavelet*),
then alternates **predict** steps, which replace the odd samples by what the even ones fail
to predict (the details ``d``), and **update** steps, which correct the even samples so
that they keep the signal's average (the coarse part ``s``)
{cite}`sweldens1998lifting,daubechies1998factoring`::

    s, d = x[0::2], x[1::2]
    d <- d + P(s)            (predict, e.g. P(s)[k] = -(s[k] + s[k+1]) / 2)
    s <- s + U(d)            (update,  e.g. U(d)[k] = (d[k-1] + d[k]) / 4)
    s, d <- K s, d / K       (scaling, fixed schemes only)

Each step is inverted by subtracting what was added, in reverse order, whatever ``P`` and
``U`` are: this is why the scheme is perfectly invertible even with rounding
(integer-to-integer lifting) or with neural networks as ``P`` and ``U``.

Conventions
-----------
* **Axis.** :meth:`LiftingScheme.forward` works along one axis (``dim``) of a tensor of any
  shape, vectorised over all other axes (batch, channels, rows).
* **Boundary.** ``boundary="periodic"`` (default) extends even-length signals periodically;
  this is PyWavelets' ``mode="periodization"``. An odd-length signal cannot be split
  periodically into two interleaved sequences, so odd lengths are always extended
  *whole-sample symmetrically* (``x[-n] = x[n]``, ``x[N-1+n] = x[N-1-n]``) as in JPEG 2000;
  ``boundary="symmetric"`` uses that extension for every length. In the lifting domain this
  means the neighbours of ``s`` and ``d`` beyond the ends are read from their mirror images;
  for the symmetric schemes (5/3, 9/7) that is exactly lifting the symmetrically extended
  signal. Haar's steps are one-sided: the only neighbour it ever needs beyond an end is
  for the last even sample of an odd-length signal, which is updated with the last detail.
  A signal of length ``N``
  gives ``ceil(N/2)`` coarse and ``floor(N/2)`` detail coefficients (non-expansive), and the
  inverse rebuilds length ``len(s) + len(d)`` exactly.
* **Scaling and PyWavelets.** With the scaling step (``K = sqrt(2)`` for Haar and LeGall
  5/3, ``K = zeta = 1.149604398`` for CDF 9/7), and for even lengths with periodic
  boundary, the transform equals PyWavelets' ``dwt(x, w, mode="periodization")`` for
  ``w = "haar"``, ``"bior2.2"``, ``"bior4.4"`` with **no shift**: ``cA = s`` and
  ``cD = -d`` (lifting's detail is "odd minus prediction", PyWavelets' high-pass has the
  opposite sign). In 2-D the bands therefore agree with signs ``(+1, -1, -1, +1)`` for
  ``(cA, cH, cV, cD)`` (:data:`PYWT_SIGNS`).
* **2-D bands** (:func:`dwt2`): the rows are transformed first (along the width, ``dim=-1``),
  then the columns (along the height, ``dim=-2``). As in PyWavelets, ``cH`` is low-pass
  along the width and high-pass along the height (it responds to *horizontal* edges),
  ``cV`` is high-pass along the width (vertical edges), ``cD`` is high-pass along both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence, Union

import torch
from torch import Tensor, nn

__all__ = [
    "SCHEMES",
    "PYWT_NAMES",
    "PYWT_SIGNS",
    "LiftingStep",
    "IntegerStep",
    "LiftingScheme",
    "LearnableLifting",
    "MedianPredict",
    "dwt2",
    "idwt2",
    "max_level",
]

#: CDF 9/7 lifting coefficients (Daubechies & Sweldens 1998).
CDF97 = dict(alpha=-1.586134342, beta=-0.05298011854, gamma=0.8829110762, delta=0.4435068522,
             zeta=1.149604398)

#: The PyWavelets wavelet each fixed scheme reproduces (mode ``"periodization"``).
PYWT_NAMES = {"haar": "haar", "legall53": "bior2.2", "cdf97": "bior4.4"}
#: Sign relating each 2-D band to PyWavelets': ``pywt_band = sign * lifting_band``,
#: in the order ``(cA, cH, cV, cD)``.
PYWT_SIGNS = (1.0, -1.0, -1.0, 1.0)


@dataclass(frozen=True)
class LiftingStep:
    """One linear lifting step: ``target[k] += sum_j taps[j] * source[k + offsets[j]]``.

    ``target`` is ``"d"`` for a predict step (the source is ``s``) and ``"s"`` for an
    update step (the source is ``d``).
    """

    target: str
    offsets: tuple[int, ...]
    taps: tuple[float, ...]


@dataclass(frozen=True)
class IntegerStep:
    """One integer lifting step: ``target += sign * floor((sum_j w_j src[k+o_j] + bias) / 2**shift)``."""

    target: str
    offsets: tuple[int, ...]
    weights: tuple[int, ...]
    bias: int
    shift: int
    sign: int


def _predict(c: float) -> LiftingStep:  # d[k] += c (s[k] + s[k+1])
    return LiftingStep("d", (0, 1), (c, c))


def _update(c: float) -> LiftingStep:  # s[k] += c (d[k-1] + d[k])
    return LiftingStep("s", (-1, 0), (c, c))


#: Fixed schemes: lifting steps, scaling constant K and integer (reversible) steps.
SCHEMES: dict[str, dict] = {
    "haar": dict(
        steps=(LiftingStep("d", (0,), (-1.0,)), LiftingStep("s", (0,), (0.5,))),
        scale=math.sqrt(2.0),
        # S-transform: d = x1 - x0; s = x0 + floor(d / 2)
        integer=(IntegerStep("d", (0,), (1,), 0, 0, -1), IntegerStep("s", (0,), (1,), 0, 1, 1)),
    ),
    "legall53": dict(
        steps=(_predict(-0.5), _update(0.25)),
        scale=math.sqrt(2.0),
        # JPEG 2000 reversible 5/3: d -= floor((s0 + s1) / 2); s += floor((d-1 + d0 + 2) / 4)
        integer=(IntegerStep("d", (0, 1), (1, 1), 0, 1, -1), IntegerStep("s", (-1, 0), (1, 1), 2, 2, 1)),
    ),
    "cdf97": dict(
        steps=(_predict(CDF97["alpha"]), _update(CDF97["beta"]), _predict(CDF97["gamma"]),
               _update(CDF97["delta"])),
        scale=CDF97["zeta"],
        integer=None,
    ),
}

BOUNDARIES = ("periodic", "symmetric")


# ------------------------------------------------------------------ index helpers
def _extend(n: Tensor, length: int, periodic: bool) -> Tensor:
    """Map signal indices ``n`` (any integers) into ``[0, length)`` by the extension."""
    if periodic:
        return n % length
    period = 2 * length - 2  # whole-sample symmetric: x[-n] = x[n], x[L-1+n] = x[L-1-n]
    n = n % period
    return torch.where(n > length - 1, period - n, n)


def _neighbours(v: Tensor, dim: int, parity: int, offset: int, out_len: int, n: int,
                periodic: bool) -> tuple[Tensor, bool]:
    """``u[k] = v[k + offset]`` for ``k < out_len``, along ``dim``, extended at the ends.

    ``v`` holds the samples ``x[2k + parity]`` of a signal of length ``n``. Returns ``u``
    and whether it is a fresh tensor (``False``: a view of ``v``).
    """
    m = v.shape[dim]
    if offset == 0 and out_len == m:
        return v, False
    if periodic and out_len == m:
        return torch.roll(v, -offset, dims=dim), True
    k = torch.arange(out_len) + offset
    idx = _extend(2 * k + parity, n, periodic) // 2
    start = int(idx[0])
    if bool((idx == torch.arange(start, start + out_len)).all()):
        return v.narrow(dim, start, out_len), False
    return v.index_select(dim, idx.to(v.device)), True


def _pair_sum(v: Tensor, dim: int, parity: int, offsets: tuple, out_len: int, n: int, periodic: bool) -> Tensor:
    """A new tensor ``u[k] = v[k + offsets[0]] + v[k + offsets[1]]`` (extended at the ends)."""
    a, fresh_a = _neighbours(v, dim, parity, offsets[0], out_len, n, periodic)
    b, fresh_b = _neighbours(v, dim, parity, offsets[1], out_len, n, periodic)
    if fresh_a:
        return a.add_(b)  # reuse the rolled / gathered copy's memory
    if fresh_b:
        return b.add_(a)
    return a + b


def _apply_linear(s: Tensor, d: Tensor, step: LiftingStep, dim: int, n: int, periodic: bool,
                  sign: float, owned: dict) -> tuple[Tensor, Tensor]:
    """One linear step. ``owned[name]`` says the tensor was made here and may be updated in
    place (large out-of-place results cost more in fresh memory than in arithmetic)."""
    if step.target == "d":
        src, tgt, parity = s, d, 0
    else:
        src, tgt, parity = d, s, 1
    out_len = tgt.shape[dim]
    if len(step.taps) == 2 and step.taps[0] == step.taps[1]:  # symmetric: one multiply
        acc = _pair_sum(src, dim, parity, step.offsets, out_len, n, periodic)
        if owned[step.target]:
            new = tgt.add_(acc, alpha=sign * step.taps[0])
        else:
            new = acc.mul_(sign * step.taps[0]).add_(tgt)
    else:
        new = tgt
        for o, c in zip(step.offsets, step.taps):
            nb, _ = _neighbours(src, dim, parity, o, out_len, n, periodic)
            new = new.add_(nb, alpha=sign * c) if owned[step.target] else torch.add(new, nb, alpha=sign * c)
            owned[step.target] = True
    owned[step.target] = True
    return (s, new) if step.target == "d" else (new, d)


def _apply_integer(s: Tensor, d: Tensor, step: IntegerStep, dim: int, n: int, periodic: bool, sign: int):
    if step.target == "d":
        src, tgt, parity = s, d, 0
    else:
        src, tgt, parity = d, s, 1
    out_len = tgt.shape[dim]
    acc = torch.full_like(tgt, step.bias)
    for o, w in zip(step.offsets, step.weights):
        acc = acc + w * _neighbours(src, dim, parity, o, out_len, n, periodic)[0]
    new = tgt + sign * step.sign * torch.div(acc, 2**step.shift, rounding_mode="floor")
    return (s, new) if step.target == "d" else (new, d)


# ------------------------------------------------------------------ fixed schemes
def _check_tensor(x, name: str = "x") -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")


def _check_dim(x: Tensor, dim: int) -> int:
    if x.ndim == 0:
        raise ValueError("expected a tensor with at least one axis, got a 0-d tensor")
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"dim={dim} is out of range for a tensor of shape {tuple(x.shape)}")
    return dim % x.ndim


class LiftingScheme:
    """A fixed lifting scheme: ``"haar"``, ``"legall53"`` or ``"cdf97"``.

    Parameters
    ----------
    name : str
        The scheme. ``SCHEMES[name]["steps"]`` lists its predict/update steps.
    boundary : {"periodic", "symmetric"}
        Extension at the ends. ``"periodic"`` (PyWavelets' ``periodization``) is used for
        even lengths; odd lengths always use the whole-sample symmetric extension.
    integer : bool
        Integer-to-integer lifting (``"haar"``: the S-transform; ``"legall53"``: the
        reversible 5/3 of JPEG 2000): each step's update is rounded down, there is no
        scaling step, inputs must be integer tensors and reconstruction is exact.
    scale : bool
        Apply the scaling step ``s <- K s, d <- d / K`` (float schemes only). With it the
        transform matches PyWavelets (see the module's docstring) and ``s`` has gain
        ``sqrt(2)`` on constants for every scheme; without it the gain is 1 for Haar and
        LeGall 5/3 (``s`` keeps the local mean) and ``sqrt(2) / zeta = 1.23`` for CDF 9/7.

    Examples
    --------
    >>> x = torch.randn(4, 3, 64, dtype=torch.float64)
    >>> cdf = LiftingScheme("cdf97")
    >>> s, d = cdf.forward(x)          # along the last axis: shapes (4, 3, 32) each
    >>> torch.allclose(cdf.inverse(s, d), x)
    True
    """

    def __init__(self, name: str, boundary: str = "periodic", integer: bool = False, scale: bool = True):
        if not isinstance(name, str) or name.lower() not in SCHEMES:
            raise ValueError(f"unknown lifting scheme {name!r}; expected one of {tuple(SCHEMES)}")
        if boundary not in BOUNDARIES:
            raise ValueError(f"unknown boundary {boundary!r}; expected one of {BOUNDARIES}")
        self.name = name.lower()
        spec = SCHEMES[self.name]
        if integer and spec["integer"] is None:
            with_int = tuple(k for k, v in SCHEMES.items() if v["integer"] is not None)
            raise ValueError(f"scheme {name!r} has no integer-to-integer version; use one of {with_int}")
        self.boundary = boundary
        self.integer = bool(integer)
        self.scaled = bool(scale) and not self.integer
        self.steps: tuple = spec["integer"] if self.integer else spec["steps"]
        self.K: float = spec["scale"] if self.scaled else 1.0

    def __repr__(self) -> str:
        return (f"LiftingScheme({self.name!r}, boundary={self.boundary!r}, integer={self.integer}, "
                f"scale={self.scaled})")

    @property
    def pywt_name(self) -> str:
        """The PyWavelets wavelet this scheme reproduces (``mode="periodization"``)."""
        return PYWT_NAMES[self.name]

    def _check_dtype(self, x: Tensor, name: str) -> None:
        if self.integer and (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool):
            raise TypeError(f"integer lifting expects an integer tensor for {name}, got {x.dtype}")
        if not self.integer and not x.is_floating_point():
            raise TypeError(
                f"{self.name} lifting expects a floating-point tensor for {name}, got {x.dtype} "
                "(convert with .float() / .double(), or use integer=True for lossless integer lifting)"
            )

    def forward(self, x: Tensor, dim: int = -1) -> tuple[Tensor, Tensor]:
        """One level of the transform along ``dim``.

        Parameters
        ----------
        x : Tensor, shape (..., N, ...)
            Any shape; ``N = x.shape[dim] >= 2``. Integer tensors (``uint8`` included) when
            ``integer=True``; they are computed in ``int32`` (``int64`` stays ``int64``).

        Returns
        -------
        s, d : Tensor, shapes (..., ceil(N/2), ...) and (..., floor(N/2), ...)
            Coarse and detail coefficients.
        """
        _check_tensor(x)
        dim = _check_dim(x, dim)
        self._check_dtype(x, "x")
        n = x.shape[dim]
        if n < 2:
            raise ValueError(f"cannot split a signal of length {n} along dim {dim}: need at least 2 samples")
        if self.integer and x.dtype != torch.int64:
            x = x.to(torch.int32)
        s, d = _split(x, dim)
        periodic = self.boundary == "periodic" and n % 2 == 0
        owned = {"s": False, "d": False}  # s and d are views of x: never write into them
        for step in self.steps:
            if self.integer:
                s, d = _apply_integer(s, d, step, dim, n, periodic, +1)
            else:
                s, d = _apply_linear(s, d, step, dim, n, periodic, +1.0, owned)
        if self.scaled:
            s = s.mul_(self.K) if owned["s"] else s * self.K
            d = d.mul_(1.0 / self.K) if owned["d"] else d * (1.0 / self.K)
        return s, d

    __call__ = forward

    def inverse(self, s: Tensor, d: Tensor, dim: int = -1) -> Tensor:
        """Undo :meth:`forward`: rebuild the signal of length ``len(s) + len(d)`` along ``dim``.

        Parameters
        ----------
        s, d : Tensor, shapes (..., ceil(N/2), ...) and (..., floor(N/2), ...)
            Equal shapes elsewhere; ``s`` has as many samples as ``d`` or one more.

        Returns
        -------
        x : Tensor, shape (..., N, ...)
        """
        _check_tensor(s, "s")
        _check_tensor(d, "d")
        dim = _check_dim(s, dim)
        _check_pair(s, d, dim)
        self._check_dtype(s, "s")
        self._check_dtype(d, "d")
        n = s.shape[dim] + d.shape[dim]
        periodic = self.boundary == "periodic" and n % 2 == 0
        if self.integer:
            dt = torch.promote_types(torch.promote_types(s.dtype, d.dtype), torch.int32)
            s, d = s.to(dt), d.to(dt)
        owned = {"s": False, "d": False}  # the caller's tensors: never write into them
        if self.scaled:
            s, d = s * (1.0 / self.K), d * self.K
            owned = {"s": True, "d": True}
        for step in reversed(self.steps):
            if self.integer:
                s, d = _apply_integer(s, d, step, dim, n, periodic, -1)
            else:
                s, d = _apply_linear(s, d, step, dim, n, periodic, -1.0, owned)
        return _merge(s, d, dim)


def _check_pair(s: Tensor, d: Tensor, dim: int) -> None:
    if s.ndim != d.ndim:
        raise ValueError(f"s and d must have the same number of axes, got {tuple(s.shape)} and {tuple(d.shape)}")
    ok_other = all(a == b for i, (a, b) in enumerate(zip(s.shape, d.shape)) if i != dim)
    if not ok_other or s.shape[dim] - d.shape[dim] not in (0, 1) or d.shape[dim] < 1:
        raise ValueError(
            f"s and d must agree except along dim {dim}, where s has as many samples as d or one "
            f"more (and d at least one); got s {tuple(s.shape)} and d {tuple(d.shape)}"
        )


def _split(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Even and odd samples of ``x`` along ``dim`` (views, no copy)."""
    idx = [slice(None)] * x.ndim
    even, odd = list(idx), list(idx)
    even[dim], odd[dim] = slice(0, None, 2), slice(1, None, 2)
    return x[tuple(even)], x[tuple(odd)]


def _merge(s: Tensor, d: Tensor, dim: int) -> Tensor:
    """Interleave ``s`` (even samples) and ``d`` (odd samples) along ``dim``."""
    dim = dim % s.ndim
    ns, nd = s.shape[dim], d.shape[dim]
    x = torch.stack((s.narrow(dim, 0, nd), d), dim=dim + 1).flatten(dim, dim + 1)
    if ns > nd:
        x = torch.cat((x, s.narrow(dim, nd, 1)), dim=dim)
    return x


# ------------------------------------------------------------------ learnable lifting
def _as_modules(m, what: str) -> list:
    mods = list(m) if isinstance(m, (list, tuple, nn.ModuleList)) else [m]
    for i, f in enumerate(mods):
        if not callable(f):
            raise TypeError(f"{what}[{i}] must be an nn.Module or a callable, got {type(f).__name__}")
    return mods


class LearnableLifting(nn.Module):
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

    @staticmethod
    def _checked(out, like: Tensor, what: str) -> Tensor:
        if not isinstance(out, Tensor) or out.shape != like.shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"{what} must return a tensor of shape {tuple(like.shape)}, got {got}")
        return out

    def lift(self, s: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
        """Apply the predict/update pairs: returns the new ``(s, d)``."""
        for i, (p, u) in enumerate(zip(self.predict, self.update)):
            d = d - self._checked(p(s), d, f"predict[{i}]")
            s = s + self._checked(u(d), s, f"update[{i}]")
        return s, d

    def unlift(self, s: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
        """Undo :meth:`lift` exactly: returns the original ``(s, d)``."""
        for i in reversed(range(len(self.predict))):
            s = s - self._checked(self.update[i](d), s, f"update[{i}]")
            d = d + self._checked(self.predict[i](s), d, f"predict[{i}]")
        return s, d

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


# ------------------------------------------------------------------ 2-D transform
Scheme = Union[str, LiftingScheme, LearnableLifting]


def _as_scheme(scheme) -> LiftingScheme | LearnableLifting:
    if isinstance(scheme, (LiftingScheme, LearnableLifting)):
        return scheme
    if isinstance(scheme, str):
        return LiftingScheme(scheme)
    if hasattr(scheme, "forward") and hasattr(scheme, "inverse"):
        return scheme
    raise TypeError(
        f"scheme must be a name {tuple(SCHEMES)}, a LiftingScheme or a LearnableLifting, "
        f"got {type(scheme).__name__}"
    )


def max_level(n: int) -> int:
    """Most levels a length ``n`` allows: each level needs at least 2 samples to split."""
    levels = 0
    while n >= 2:
        n = (n + 1) // 2
        levels += 1
    return levels


def dwt2(x: Tensor, scheme: Scheme = "cdf97", levels: int = 1) -> list:
    """Multi-level 2-D lifting transform of a batch of images (rows, then columns).

    Parameters
    ----------
    x : Tensor, shape (B, C, H, W)
        A batch of images (``H, W >= 2``, any parity). Floating point for the float
        schemes, integer for ``LiftingScheme(..., integer=True)``.
    scheme : str, LiftingScheme or LearnableLifting
        ``"haar"``, ``"legall53"``, ``"cdf97"`` or a scheme object.
    levels : int
        Number of levels, ``1 <= levels <= min(max_level(H), max_level(W))``.

    Returns
    -------
    list
        ``[cA_n, (cH_n, cV_n, cD_n), ..., (cH_1, cV_1, cD_1)]`` as in PyWavelets'
        ``wavedec2``: ``cA`` coarse in both directions, ``cH`` detail along the height
        (horizontal edges), ``cV`` detail along the width (vertical edges), ``cD`` both.
        With an image of size (h, w) at a level, ``cA`` is (ceil(h/2), ceil(w/2)),
        ``cH`` (floor(h/2), ceil(w/2)), ``cV`` (ceil(h/2), floor(w/2)), ``cD``
        (floor(h/2), floor(w/2)). For even sizes and a fixed scheme the bands equal
        PyWavelets' times :data:`PYWT_SIGNS`.
    """
    _check_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"dwt2 expects a batch of images of shape (B, C, H, W), got shape {tuple(x.shape)}")
    sch = _as_scheme(scheme)
    if isinstance(levels, bool) or not isinstance(levels, int):
        raise TypeError(f"levels must be an int, got {type(levels).__name__}")
    h, w = x.shape[-2:]
    most = min(max_level(h), max_level(w))
    if not 1 <= levels <= most:
        raise ValueError(
            f"levels must be between 1 and {most} for images of size {h}x{w} (each level halves "
            f"the size and needs at least 2 samples per axis), got {levels}"
        )
    coeffs = []
    a = x
    for _ in range(levels):
        lo, hi = sch.forward(a, dim=-1)  # rows: along the width
        ca, ch = sch.forward(lo, dim=-2)  # columns: along the height
        cv, cd = sch.forward(hi, dim=-2)
        coeffs.append((ch, cv, cd))
        a = ca
    return [a] + coeffs[::-1]


def idwt2(coeffs: Sequence, scheme: Scheme = "cdf97") -> Tensor:
    """Inverse of :func:`dwt2`: rebuilds the images (their exact original size).

    Parameters
    ----------
    coeffs : list
        ``[cA_n, (cH_n, cV_n, cD_n), ..., (cH_1, cV_1, cD_1)]`` as returned by :func:`dwt2`.
    scheme : str, LiftingScheme or LearnableLifting
        The scheme used by :func:`dwt2`.

    Returns
    -------
    x : Tensor, shape (B, C, H, W)
    """
    sch = _as_scheme(scheme)
    if not isinstance(coeffs, (list, tuple)) or len(coeffs) < 2:
        raise ValueError("coeffs must be a list [cA_n, (cH_n, cV_n, cD_n), ..., (cH_1, cV_1, cD_1)]")
    a = coeffs[0]
    _check_tensor(a, "cA")
    for j, bands in enumerate(coeffs[1:]):
        if not isinstance(bands, (list, tuple)) or len(bands) != 3:
            raise ValueError(f"coeffs[{j + 1}] must be a tuple (cH, cV, cD), got {type(bands).__name__}")
        ch, cv, cd = bands
        for nm, b in zip(("cA", "cH", "cV", "cD"), (a, ch, cv, cd)):
            _check_tensor(b, nm)
            if b.ndim != 4:
                raise ValueError(f"{nm} at level {len(coeffs) - 1 - j} must have shape (B, C, h, w), got {tuple(b.shape)}")
        want_a = (ch.shape[:-2] + (cv.shape[-2], ch.shape[-1]))
        if tuple(a.shape) != tuple(want_a):
            raise ValueError(
                f"at level {len(coeffs) - 1 - j} the coarse band has shape {tuple(a.shape)} but the "
                f"detail bands (cH {tuple(ch.shape)}, cV {tuple(cv.shape)}) need {tuple(want_a)}"
            )
        lo = sch.inverse(a, ch, dim=-2)
        hi = sch.inverse(cv, cd, dim=-2)
        a = sch.inverse(lo, hi, dim=-1)
    return a
