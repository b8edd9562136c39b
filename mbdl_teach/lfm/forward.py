"""The light-field operator ``H``: a volume (B, D, H, W) to the sensor image (B, 1, h*N, w*N).

Per depth the microscope is *periodically* shift-invariant: moving a point by one lenslet
moves its light field by one lenslet. Split the volume into its ``s x s`` polyphase
components (voxel ``(i, j)`` of every lenslet) and the sensor into its ``N x N`` per-pixel
images (pixel ``(u, v)`` behind every lenslet): then ``H`` is a *filter bank*, a 2-D
convolution over the lenslet grid from ``D s^2`` input channels to ``N^2`` output channels,
with kernels of ``K x K`` lenslets cut from the PSF. Two implementations, held equal by the
tests:

* ``method="conv"`` - the readable one: one convolution of the volume with stride ``s``
  (``conv_transpose2d`` for the adjoint), circular boundary;
* ``method="fft"`` (default) - the fast one: on a circular lenslet grid every spatial
  frequency ``f`` of the lenslet grid is independent, and ``H`` is a small matrix ``A(f)``
  (``N^2 x D s^2``) per frequency. ``H^T H`` is ``G(f) = A(f)^H A(f)``, and
  ``(H^T H + beta I)^{-1}`` is exact through the eigen-decomposition of each ``G(f)``.
"""

from __future__ import annotations

import copy

from typing import Sequence

import torch
import torch.nn.functional as F

from ..operators.base import LinearOperator

__all__ = ["LightField", "polyphase", "unpolyphase"]


def polyphase(x: torch.Tensor, s: int) -> torch.Tensor:
    """(B, D, h*s, w*s) -> (B, D*s*s, h, w): channel ``(d, i, j)`` is ``x[:, d, i::s, j::s]``."""
    B, D, H, W = x.shape
    return x.reshape(B, D, H // s, s, W // s, s).permute(0, 1, 3, 5, 2, 4).reshape(
        B, D * s * s, H // s, W // s)


def unpolyphase(x: torch.Tensor, s: int) -> torch.Tensor:
    """Inverse of :func:`polyphase`: (B, D*s*s, h, w) -> (B, D, h*s, w*s)."""
    B, C, h, w = x.shape
    D = C // (s * s)
    return x.reshape(B, D, s, s, h, w).permute(0, 1, 4, 2, 5, 3).reshape(B, D, h * s, w * s)


class LightField(LinearOperator):
    """The light-field microscope as a linear operator.

    Parameters
    ----------
    psf : Tensor, shape (D, s, s, K*N, K*N)
        From :func:`mbdl_teach.lfm.psf` (its dtype and device are the operator's).
    pixels : int, optional
        N, pixels per lenslet (default: the ``pixels`` that :func:`~mbdl_teach.lfm.psf`
        records on its result). The window is then ``K = psf.shape[-1] / N`` lenslets.
    method : {"fft", "conv"}

    Shapes
    ------
    ``forward``: volume (B, D, h*s, w*s) -> sensor (B, 1, h*N, w*N), ``h, w >= K`` lenslets;
    ``adjoint``: the reverse.
    """

    def __init__(self, psf: torch.Tensor, pixels: int | None = None, method: str = "fft"):
        super().__init__()
        if not isinstance(psf, torch.Tensor) or psf.ndim != 5 or psf.shape[1] != psf.shape[2] \
                or psf.shape[3] != psf.shape[4]:
            raise ValueError("psf must be a tensor of shape (D, s, s, K*N, K*N), got "
                             f"{tuple(psf.shape) if isinstance(psf, torch.Tensor) else type(psf).__name__}")
        N = pixels if pixels is not None else getattr(psf, "pixels", None)
        if N is None:
            raise ValueError("LightField needs the pixels per lenslet: pass pixels=N (lfm.psf "
                             "records it on its result, but a converted copy loses it)")
        if isinstance(N, bool) or not isinstance(N, int) or N < 1 or psf.shape[3] % N \
                or (psf.shape[3] // N) % 2 == 0:
            raise ValueError(f"pixels={N!r} must divide the PSF window {psf.shape[3]} into an odd "
                             "number of lenslets")
        K = psf.shape[3] // N
        if method not in ("fft", "conv"):
            raise ValueError(f"method must be 'fft' or 'conv', got {method!r}")
        if (psf < 0).any():
            raise ValueError("a PSF is an intensity: it must be >= 0")
        self.n_depths, self.voxels = psf.shape[0], psf.shape[1]
        self.lenslets, self.pixels = K, N
        self.method = method
        D, s, N = self.n_depths, self.voxels, self.pixels
        # conv weight (N*N, D, K*s, K*s):
        # w[(u,v), d, m*s+i, n*s+j] = psf[d, i, j, (K-1-m)N+u, (K-1-n)N+v]
        p = psf.reshape(D, s, s, K, N, K, N).flip(3, 5)
        weight = p.permute(4, 6, 0, 3, 1, 5, 2).reshape(N * N, D, K * s, K * s).contiguous()
        self.register_buffer("weight", weight, persistent=False)
        self._cache: dict = {}

    def twin(self) -> "LightField":
        """Another operator with the same PSF that shares this one's cache of per-frequency
        matrices (computed once for both) but not its device: moving one moves only it."""
        other = copy.copy(self)
        other._buffers, other._parameters, other._modules = (
            dict(self._buffers), dict(self._parameters), dict(self._modules))
        return other

    # ------------------------------------------------------------------ shapes and checks
    def _check_volume(self, x: torch.Tensor) -> tuple[int, int]:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or not torch.is_floating_point(x):
            raise ValueError("a volume must be a floating-point tensor (B, D, H, W), got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        D, s = self.n_depths, self.voxels
        if x.shape[1] != D:
            raise ValueError(f"the volume has {x.shape[1]} depth planes but the PSF has {D}")
        if x.shape[2] % s or x.shape[3] % s:
            raise ValueError(f"the volume's lateral size {tuple(x.shape[2:])} must be a multiple of "
                             f"{s} voxels per lenslet")
        return self._check_grid(x.shape[2] // s, x.shape[3] // s)

    def _check_sensor(self, y: torch.Tensor) -> tuple[int, int]:
        if not isinstance(y, torch.Tensor) or y.ndim != 4 or y.shape[1] != 1 \
                or not torch.is_floating_point(y):
            raise ValueError("a light field must be a floating-point tensor (B, 1, h*N, w*N), got "
                             f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}")
        N = self.pixels
        if y.shape[2] % N or y.shape[3] % N:
            raise ValueError(f"the sensor size {tuple(y.shape[2:])} must be a multiple of {N} "
                             "pixels per lenslet")
        return self._check_grid(y.shape[2] // N, y.shape[3] // N)

    def _check_grid(self, h: int, w: int) -> tuple[int, int]:
        if h < self.lenslets or w < self.lenslets:
            raise ValueError(f"the grid of {h}x{w} lenslets is smaller than the PSF window "
                             f"({self.lenslets} lenslets)")
        return h, w

    def output_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        B, D, H, W = shape
        s, N = self.voxels, self.pixels
        return (B, 1, H // s * N, W // s * N)

    def input_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        B, _, H, W = shape
        s, N = self.voxels, self.pixels
        return (B, self.n_depths, H // N * s, W // N * s)

    # ------------------------------------------------------------------ conv reference
    def forward_conv(self, x: torch.Tensor) -> torch.Tensor:
        """``H x`` by one strided convolution (circular boundary)."""
        self._check_volume(x)
        P, s = self.lenslets // 2, self.voxels
        xp = F.pad(x, (P * s, P * s, P * s, P * s), mode="circular")
        return F.pixel_shuffle(F.conv2d(xp, self.weight.to(x.dtype), stride=s), self.pixels)

    def adjoint_conv(self, y: torch.Tensor) -> torch.Tensor:
        """``H^T y`` by the transposed convolution, the circular padding folded back."""
        h, w = self._check_sensor(y)
        P, s = self.lenslets // 2, self.voxels
        z = F.conv_transpose2d(F.pixel_unshuffle(y, self.pixels), self.weight.to(y.dtype), stride=s)
        H, W, p = h * s, w * s, P * s
        # fold the 2p border back onto the periodic volume (rows, then columns)
        z = z[..., p:p + H, :] + _wrap(z, H, p, dim=2)
        z = z[..., p:p + W] + _wrap(z, W, p, dim=3)
        return z

    # ------------------------------------------------------------------ FFT form
    def spectra(self, h: int, w: int) -> dict:
        """Per-frequency matrices for an ``h x w`` lenslet grid (cached per size and dtype).

        Returns
        -------
        dict with ``A`` (h, w//2+1, N*N, D*s*s), its conjugate transpose ``AH``,
        ``G = A^H A`` (h, w//2+1, D*s*s, D*s*s),
        and, on first use of :meth:`eig`, its eigen-decomposition (``eig``, and ``UH``, the
        eigenvectors' conjugate transpose).
        """
        key = (h, w, self.weight.device, self.weight.dtype)
        if key not in self._cache:
            self._cache.clear()
            D, s, N, K = self.n_depths, self.voxels, self.pixels, self.lenslets
            # kernel over lenslet offsets delta in [-P, P]: k[(u,v), (d,i,j), delta]
            w8 = self.weight.reshape(N * N, D, K, s, K, s).flip(2, 4)
            k = w8.permute(0, 1, 3, 5, 2, 4).reshape(N * N, D * s * s, K, K)
            P = K // 2
            grid = torch.zeros(N * N, D * s * s, h, w, dtype=k.dtype, device=k.device)
            idx_h = torch.arange(-P, P + 1, device=k.device) % h
            idx_w = torch.arange(-P, P + 1, device=k.device) % w
            grid[:, :, idx_h[:, None], idx_w[None, :]] = k
            A = torch.fft.rfft2(grid).permute(2, 3, 0, 1).contiguous()
            AH = A.mH.contiguous()  # a conjugate view would be re-materialised at every use
            self._cache[key] = {"A": A, "AH": AH, "G": AH @ A}
        return self._cache[key]

    def eig(self, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Eigenvalues (descending) and eigenvectors of every ``G(f)``: (h, w', M), (h, w', M, M)."""
        c = self.spectra(h, w)
        if "eig" not in c:
            lam, U = torch.linalg.eigh(c["G"])
            c["eig"] = (lam.flip(-1).clamp_min(0), U.flip(-1).contiguous())
            c["UH"] = c["eig"][1].mH.contiguous()
        return c["eig"]

    def to_spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """Volume (B, D, H, W) -> its polyphase spectrum (h, w//2+1, D*s*s, B)."""
        return torch.fft.rfft2(polyphase(x, self.voxels)).permute(2, 3, 1, 0).contiguous()

    def from_spectrum(self, X: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Inverse of :meth:`to_spectrum`."""
        return unpolyphase(torch.fft.irfft2(X.permute(3, 2, 0, 1), s=(h, w)), self.voxels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.method == "conv":
            return self.forward_conv(x)
        h, w = self._check_volume(x)
        A = self.spectra(h, w)["A"]
        Y = A @ self.to_spectrum(x)
        y = torch.fft.irfft2(Y.permute(3, 2, 0, 1), s=(h, w))
        return F.pixel_shuffle(y, self.pixels)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        if self.method == "conv":
            return self.adjoint_conv(y)
        h, w = self._check_sensor(y)
        return self.from_spectrum(self.adjoint_spectrum(y), h, w)

    def sensor_spectrum(self, y: torch.Tensor) -> torch.Tensor:
        """Light field (B, 1, h*N, w*N) -> the spectrum of its per-pixel images
        (h, w//2+1, N*N, B)."""
        return torch.fft.rfft2(F.pixel_unshuffle(y, self.pixels)).permute(2, 3, 1, 0).contiguous()

    def adjoint_spectrum(self, y: torch.Tensor) -> torch.Tensor:
        """The polyphase spectrum of ``H^T y`` (h, w//2+1, D*s*s, B), without leaving Fourier."""
        h, w = self._check_sensor(y)
        return self.spectra(h, w)["AH"] @ self.sensor_spectrum(y)

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """``H^T H x``: one small matrix per frequency (cheaper than forward then adjoint)."""
        if self.method == "conv":
            return self.adjoint_conv(self.forward_conv(x))
        h, w = self._check_volume(x)
        return self.from_spectrum(self.spectra(h, w)["G"] @ self.to_spectrum(x), h, w)

    closed_form_solve = True

    def solve_normal(self, rhs: torch.Tensor, beta: float, x0=None, **kwargs) -> torch.Tensor:
        """``(H^T H + beta I)^{-1} rhs``, exact, through each frequency's eigen-decomposition."""
        beta = float(beta)
        if not beta > 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        h, w = self._check_volume(rhs)
        lam, U = self.eig(h, w)
        UH = self.spectra(h, w)["UH"]
        Z = U @ ((UH @ self.to_spectrum(rhs)) / (lam + beta).unsqueeze(-1).to(U.dtype))
        return self.from_spectrum(Z, h, w)

    def norm(self, shape: Sequence[int] | None = None, **kwargs) -> float:
        """``||H||_2``: by power iteration (the base class) when ``exact=False``; else the
        largest eigenvalue of every ``G(f)``, square-rooted (needs ``shape``)."""
        exact = kwargs.pop("exact", True)
        if shape is None:
            raise ValueError("LightField.norm needs the volume shape, e.g. op.norm((1, D, H, W))")
        if not exact:
            return super().norm(shape, **kwargs)
        h, w = shape[2] // self.voxels, shape[3] // self.voxels
        lam, _ = self.eig(h, w)
        return float(lam[..., 0].max()) ** 0.5

    def __repr__(self):
        return (f"LightField(D={self.n_depths}, voxels={self.voxels}, pixels={self.pixels}, "
                f"lenslets={self.lenslets}, method={self.method!r})")


def _wrap(z: torch.Tensor, n: int, p: int, dim: int) -> torch.Tensor:
    """The two borders of width p of ``z`` (length n + 2p along ``dim``) added circularly
    onto a length-n signal: the leading border lands at the end, the trailing one at the start."""
    out = torch.zeros_like(z.narrow(dim, p, n))
    if p == 0:
        return out
    lead, trail = z.narrow(dim, 0, p), z.narrow(dim, p + n, p)
    out.narrow(dim, n - p, p).add_(lead)
    out.narrow(dim, 0, p).add_(trail)
    return out
