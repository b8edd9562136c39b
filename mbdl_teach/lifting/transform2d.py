"""The separable 2-D transform of any lifting scheme, fixed or learnable, over levels."""

from __future__ import annotations

from typing import Sequence, Union

from torch import Tensor

from .learnable import LearnableLifting
from .schemes import SCHEMES, LiftingScheme, _check_tensor


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
