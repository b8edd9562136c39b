"""Fixed lifting schemes (Haar, LeGall 5/3, CDF 9/7), float and integer, along one axis."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


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
