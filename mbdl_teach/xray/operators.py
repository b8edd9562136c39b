"""The physics as operators: a convolutional dictionary ``Xi`` and its DCT start."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..operators import LinearOperator


def _dct_atoms(f: int) -> torch.Tensor:
    """The f*f orthonormal 2-D DCT-II atoms, lowest frequencies first, shape (f*f, f, f)."""
    n = torch.arange(f, dtype=torch.float64)
    c = torch.cos(math.pi * (2 * n[None] + 1) * n[:, None] / (2 * f)) * math.sqrt(2 / f)
    c[0] /= math.sqrt(2)
    atoms = torch.einsum("um,vn->uvmn", c, c).reshape(f * f, f, f)
    order = sorted(range(f * f), key=lambda k: (k // f + k % f, k))
    return atoms[order]


class ConvDictionary(LinearOperator):
    """A convolutional dictionary as an operator: ``Xi z = sum_k xi_k * z_k``.

    Circular convolutions (computed with FFTs), so the adjoint is exact and the normal
    operator is diagonal in Fourier: ``(Xi Xi^T)`` has symbol ``sum_k |xi_k(w)|^2``.

    Parameters
    ----------
    n_atoms : int
        Number of code channels K.
    filter_size : int
        Side f of each filter.
    out_channels : int
        Channels of ``Xi z`` (1 for an X-ray, 3 for a photograph).
    init : {"dct", "zeros"} or Tensor (out_channels, K, f, f)
        ``"dct"``: the f*f DCT atoms divided by f (a Parseval frame when ``K >= f*f``;
        further atoms start at zero), one copy per output channel.
    """

    closed_form_solve = True

    def __init__(self, n_atoms: int, filter_size: int, out_channels: int = 1,
                 init: str | torch.Tensor = "dct"):
        super().__init__()
        for v, name in ((n_atoms, "n_atoms"), (filter_size, "filter_size"), (out_channels, "out_channels")):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        shape = (out_channels, n_atoms, filter_size, filter_size)
        if isinstance(init, torch.Tensor):
            if tuple(init.shape) != shape:
                raise ValueError(f"init filters must have shape {shape}, got {tuple(init.shape)}")
            w = init.float().clone()
        elif init == "dct":
            w = torch.zeros(shape)
            atoms = _dct_atoms(filter_size).float() / filter_size
            k = min(n_atoms, filter_size**2)
            w[:, :k] = atoms[:k]
        elif init == "zeros":
            w = torch.zeros(shape)
        else:
            raise ValueError(f"init must be 'dct', 'zeros' or a tensor, got {init!r}")
        self.filters = nn.Parameter(w)
        self.n_atoms, self.filter_size, self.out_channels = n_atoms, filter_size, out_channels

    def symbol(self, h: int, w: int) -> torch.Tensor:
        """The filters' 2-D DFT on an h x w grid (centred taps), shape (C, K, h, w//2+1)."""
        f = self.filter_size
        if h < f or w < f:
            raise ValueError(f"images must be at least {f}x{f} for {f}x{f} filters, got {h}x{w}")
        pad = F.pad(self.filters, (0, w - f, 0, h - f))
        pad = torch.roll(pad, (-(f // 2), -(f // 2)), dims=(-2, -1))
        return torch.fft.rfft2(pad)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 4 or z.shape[1] != self.n_atoms:
            raise ValueError(f"codes must have shape (B, {self.n_atoms}, H, W), got {tuple(z.shape)}")
        h, w = z.shape[-2:]
        s = self.symbol(h, w)
        out = torch.einsum("bkhw,ckhw->bchw", torch.fft.rfft2(z), s)
        return torch.fft.irfft2(out, s=(h, w))

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        if y.ndim != 4 or y.shape[1] != self.out_channels:
            raise ValueError(f"images must have shape (B, {self.out_channels}, H, W), got {tuple(y.shape)}")
        h, w = y.shape[-2:]
        s = self.symbol(h, w)
        out = torch.einsum("bchw,ckhw->bkhw", torch.fft.rfft2(y), s.conj())
        return torch.fft.irfft2(out, s=(h, w))

    def output_shape(self, shape):
        return (shape[0], self.out_channels, *shape[2:])

    def input_shape(self, shape):
        return (shape[0], self.n_atoms, *shape[2:])

    def solve_normal(self, rhs: torch.Tensor, beta: float, x0=None, **kwargs) -> torch.Tensor:
        """``(Xi^T Xi + beta I)^{-1} rhs`` in closed form: per frequency ``Xi^T Xi = S^H S``
        with ``S`` the (C, K) symbol, so by Woodbury
        ``(S^H S + beta I)^{-1} = (I - S^H (beta I + S S^H)^{-1} S) / beta`` (a C x C solve)."""
        if not beta > 0:
            raise ValueError(f"beta must be > 0, got {beta!r}")
        if rhs.ndim != 4 or rhs.shape[1] != self.n_atoms:
            raise ValueError(f"codes must have shape (B, {self.n_atoms}, H, W), got "
                             f"{tuple(rhs.shape)}")
        h, w = rhs.shape[-2:]
        S = self.symbol(h, w).permute(2, 3, 0, 1).to(torch.complex128)  # (h, w', C, K)
        R = torch.fft.rfft2(rhs.double()).permute(2, 3, 1, 0)  # (h, w', K, B)
        eye = torch.eye(S.shape[-2], dtype=S.dtype, device=S.device)
        inner = torch.linalg.solve(beta * eye + S @ S.mH, S @ R)
        out = (R - S.mH @ inner) / beta
        return torch.fft.irfft2(out.permute(3, 2, 0, 1), s=(h, w)).to(rhs.dtype)

    def pinv(self, y: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
        """The minimum-norm code of ``y``: ``Xi^T (Xi Xi^T + eps)^{-1} y`` (one channel)."""
        if self.out_channels != 1:
            raise ValueError("pinv is defined for a one-channel dictionary")
        h, w = y.shape[-2:]
        s = self.symbol(h, w)[0]  # (K, h, w')
        energy = (s.abs() ** 2).sum(0)
        yf = torch.fft.rfft2(y) / (energy + eps)
        return torch.fft.irfft2(yf * s.conj()[None], s=(h, w))


class SeparationOperator(LinearOperator):
    """The forward model of the separation, on the two components' codes.

    ``A (z1, z2) = (Xi z1 + Xi z2, sqrt(gamma) Omega z1)``: the mixed X-ray, and the
    photograph term weighted by ``gamma``. Codes are stacked as (B, 2K, H, W), the output as
    (B, 1 + C, H, W) (C = 3 for an RGB photograph), so that
    ``1/2 ||A z - (x, sqrt(gamma) r1)||^2`` is the data term of the separation.

    Parameters
    ----------
    Xi : ConvDictionary
        The shared dictionary of both components (one output channel).
    Omega : ConvDictionary
        The photograph's dictionary, on ``z1``'s codes.
    gamma : float or Tensor
        Weight of the photograph term (>= 0).
    """

    def __init__(self, Xi: ConvDictionary, Omega: ConvDictionary, gamma=0.0):
        super().__init__()
        if Xi.out_channels != 1 or Omega.n_atoms != Xi.n_atoms:
            raise ValueError("Xi must have one output channel and Omega as many atoms as Xi")
        self.Xi, self.Omega, self.gamma = Xi, Omega, gamma
        self.K, self.C = Xi.n_atoms, Omega.out_channels

    def _weight(self):
        g = self.gamma
        return g.clamp(min=0).sqrt() if isinstance(g, torch.Tensor) else math.sqrt(max(g, 0.0))

    def measurement(self, x: torch.Tensor, r1: torch.Tensor) -> torch.Tensor:
        """``(x, sqrt(gamma) r1)``, the right-hand side for this operator."""
        return torch.cat([x, self._weight() * r1], 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z1, z2 = z[:, :self.K], z[:, self.K:]
        return torch.cat([self.Xi(z1) + self.Xi(z2), self._weight() * self.Omega(z1)], 1)

    def adjoint(self, v: torch.Tensor) -> torch.Tensor:
        g = self.Xi.adjoint(v[:, :1])
        return torch.cat([g + self._weight() * self.Omega.adjoint(v[:, 1:]), g], 1)

    def output_shape(self, shape):
        return (shape[0], 1 + self.C, *shape[2:])

    def input_shape(self, shape):
        return (shape[0], 2 * self.K, *shape[2:])
