"""The light-field microscope's point-spread function, from wave optics (Broxton et al. 2013).

A point source at depth ``z`` (um, 0 = the focal plane) makes a field at the *native image
plane* given by the Debye integral of the objective (radially symmetric, one 1-D integral
per radius). The microlens array sits at that plane: each lenslet multiplies the field by
the phase of a thin lens in air, ``exp(-i k0 |x - c|^2 / (2 f_ml))``, and the sensor one focal
length behind records the intensity after free-space (angular-spectrum) propagation,
integrated over each pixel. Per depth the light field of a point depends only on where the
point sits *inside* its lenslet (the array is periodic), so :func:`psf` returns one sensor
pattern per depth and per voxel position in a lenslet: shape ``(D, s, s, K*N, K*N)``, a
window of ``K x K`` lenslets of ``N x N`` pixels centred on the point's lenslet.

Units: micrometres throughout.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import special

__all__ = ["Optics", "psf", "native_field", "airy_radius"]


@dataclass(frozen=True)
class Optics:
    """A light-field microscope (defaults: a 20x / 0.5 NA water-dipping objective).

    Attributes
    ----------
    magnification : float
        Objective magnification M (20).
    na : float
        Numerical aperture (0.5); must be below ``n``.
    n : float
        Immersion index (1.33, water).
    wavelength : float
        Emission wavelength in vacuum, um (0.525, GFP).
    pitch : float
        Lenslet pitch, um (150).
    f_ml : float
        Lenslet focal length, um (3000: f/20, matching the objective's image-side
        NA/M = 0.025).
    pixels : int
        Sensor pixels per lenslet, N (15, odd so a pixel sits on each lenslet's axis).
    depths : tuple of float
        ``(z_min, z_max)`` in um (-35, 35).
    n_depths : int
        Number of depth planes D (15: 5 um apart).
    voxels : int
        Voxels per lenslet side, s (3): lateral voxel ``pitch / (M s)`` = 2.5 um.
    oversample : int
        Field samples per pixel side for propagation and pixel integration (3, odd).
    lenslets : int or None
        Window of the PSF in lenslets, K (odd); None sizes it from the widest
        geometric blur plus a margin.
    """

    magnification: float = 20.0
    na: float = 0.5
    n: float = 1.33
    wavelength: float = 0.525
    pitch: float = 150.0
    f_ml: float = 3000.0
    pixels: int = 15
    depths: tuple[float, float] = (-35.0, 35.0)
    n_depths: int = 15
    voxels: int = 3
    oversample: int = 3
    lenslets: int | None = None

    def __post_init__(self):
        for name in ("magnification", "na", "n", "wavelength", "pitch", "f_ml"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"Optics.{name} must be a finite number > 0, got {v!r}")
        if self.na >= self.n:
            raise ValueError(f"the numerical aperture NA = {self.na} must be below the immersion "
                             f"index n = {self.n} (NA = n sin(alpha) with alpha < 90 degrees)")
        for name in ("pixels", "voxels", "oversample", "n_depths"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Optics.{name} must be an int >= 1, got {v!r}")
        if self.pixels % 2 == 0 or self.oversample % 2 == 0:
            raise ValueError("Optics.pixels and Optics.oversample must be odd (a sample on "
                             f"each lenslet's axis), got {self.pixels} and {self.oversample}")
        if len(self.depths) != 2 or not self.depths[0] <= self.depths[1]:
            raise ValueError(f"Optics.depths must be (z_min, z_max) with z_min <= z_max, got {self.depths}")
        if self.lenslets is not None and (not isinstance(self.lenslets, int) or self.lenslets < 1
                                          or self.lenslets % 2 == 0):
            raise ValueError(f"Optics.lenslets must be None or an odd int, got {self.lenslets!r}")

    # ---------------------------------------------------------------- derived
    @property
    def z(self) -> np.ndarray:
        """The depth planes, um, shape (D,)."""
        return np.linspace(self.depths[0], self.depths[1], self.n_depths)

    @property
    def alpha(self) -> float:
        """Half-angle of the objective's acceptance cone, rad."""
        return math.asin(self.na / self.n)

    @property
    def pixel_pitch(self) -> float:
        """Sensor pixel, um."""
        return self.pitch / self.pixels

    @property
    def voxel_size(self) -> tuple[float, float]:
        """Voxel (lateral, axial) in the specimen, um."""
        dz = (self.depths[1] - self.depths[0]) / max(self.n_depths - 1, 1)
        return self.pitch / (self.magnification * self.voxels), dz

    @property
    def window(self) -> int:
        """K, the PSF window in lenslets (odd)."""
        if self.lenslets is not None:
            return self.lenslets
        zmax = max(abs(self.depths[0]), abs(self.depths[1]))
        blur = self.magnification * zmax * math.tan(self.alpha) / self.pitch
        return 2 * math.ceil(blur + 1.0) + 1

    def describe(self) -> str:
        lat, ax = self.voxel_size
        return (f"{self.magnification:g}x / {self.na:g} NA (n = {self.n:g}), "
                f"lambda = {self.wavelength:g} um; lenslets {self.pitch:g} um, f = {self.f_ml:g} um; "
                f"{self.pixels}x{self.pixels} px per lenslet; {self.n_depths} depths "
                f"{self.depths[0]:g}..{self.depths[1]:g} um; voxels {lat:.2f} um x {ax:.2f} um; "
                f"PSF window {self.window}x{self.window} lenslets")


def airy_radius(optics: Optics) -> float:
    """First zero of the in-focus spot in the specimen, ``0.61 lambda / NA`` (um)."""
    return 0.61 * optics.wavelength / optics.na


def native_field(optics: Optics, z: float, r: np.ndarray, n_theta: int = 256) -> np.ndarray:
    """The Debye field at the native image plane of a point at depth ``z``.

    ``U(r) = int_0^alpha sqrt(cos t) (1 + cos t) exp(i u sin^2(t/2) / (2 sin^2(alpha/2)))
    J0(k r_o sin t) sin t dt`` with ``k = 2 pi n / lambda``, ``u = 4 k z sin^2(alpha/2)`` and
    ``r_o = r / M`` the radius back in the specimen (Gauss-Legendre quadrature).

    Parameters
    ----------
    optics : Optics
    z : float
        Depth of the point, um.
    r : ndarray
        Radii at the native image plane (sensor side), um, any shape.

    Returns
    -------
    ndarray, complex128, shape of ``r``
    """
    k = 2 * math.pi * optics.n / optics.wavelength
    a = optics.alpha
    s2 = math.sin(a / 2) ** 2
    u = 4 * k * z * s2
    nodes, w = np.polynomial.legendre.leggauss(n_theta)
    t = 0.5 * a * (nodes + 1)
    w = 0.5 * a * w
    pupil = np.sqrt(np.cos(t)) * (1 + np.cos(t)) * np.exp(1j * u * np.sin(t / 2) ** 2 / (2 * s2))
    pupil = pupil * np.sin(t) * w
    r = np.asarray(r, dtype=np.float64)
    ro = r.reshape(-1, 1) / optics.magnification
    return (special.j0(k * ro * np.sin(t)) @ pupil).reshape(r.shape)


def _lenslet_phase(optics: Optics, x: np.ndarray) -> np.ndarray:
    """Phase of the microlens array (lenslets in air) at sample positions ``x`` (1-D, um)."""
    k0 = 2 * math.pi / optics.wavelength
    local = x - optics.pitch * np.round(x / optics.pitch)
    return np.exp(-1j * k0 * local**2 / (2 * optics.f_ml))


def _propagator(optics: Optics, n: int, dx: float) -> np.ndarray:
    """Angular-spectrum transfer function over ``f_ml`` in air on an n x n grid of step dx."""
    f = np.fft.fftfreq(n, d=dx)
    fx2 = f[:, None] ** 2 + f[None, :] ** 2
    arg = 1 - (optics.wavelength**2) * fx2
    kz = 2 * math.pi / optics.wavelength * np.sqrt(np.maximum(arg, 0))
    return np.where(arg > 0, np.exp(1j * kz * optics.f_ml), 0)


def psf(optics: Optics, unnormalised: bool = False) -> torch.Tensor:
    """The light-field PSF, one sensor pattern per depth and voxel position in a lenslet.

    Parameters
    ----------
    optics : Optics
    unnormalised : bool
        Return raw intensities (for the energy check). By default the whole stack is
        divided by one number, the energy of the in-focus central voxel, so a point's
        light field sums to about 1 at every depth (optics conserves energy: the window
        loses only the far tails).

    Returns
    -------
    Tensor, float64, shape (D, s, s, K*N, K*N)
        ``[d, i, j]`` is the light field of a point at depth ``optics.z[d]`` placed at voxel
        ``(i, j)`` of the central lenslet (voxel centres at ``(i - (s-1)/2) pitch / s``
        from the lenslet axis, in image-side units). Results are cached per optics (a
        fresh copy is returned each time).
    """
    if not isinstance(optics, Optics):
        raise TypeError(f"psf needs an lfm.Optics, got {type(optics).__name__}")
    out = _psf(optics, bool(unnormalised)).clone()
    out.pixels = optics.pixels  # read by LightField (a converted copy loses it)
    return out


@functools.lru_cache(maxsize=4)
def _psf(optics: Optics, unnormalised: bool) -> torch.Tensor:
    K, N, q, s = optics.window, optics.pixels, optics.oversample, optics.voxels
    n = K * N * q
    dx = optics.pixel_pitch / q
    x = (np.arange(n) - n // 2) * dx  # sample centres; 0 is the central lenslet's axis
    mla = _lenslet_phase(optics, x)
    mla = mla[:, None] * mla[None, :]
    prop = _propagator(optics, n, dx)
    rmax = float(np.hypot(x[-1], x[-1]) + optics.pitch)
    dr = dx / 8
    radii = np.arange(0, rmax + 2 * dr, dr)
    offsets = (np.arange(s) - (s - 1) / 2) * optics.pitch / s
    out = np.zeros((optics.n_depths, s, s, K * N, K * N))
    for d, z in enumerate(optics.z):
        table = native_field(optics, float(z), radii)
        for i, oy in enumerate(offsets):
            for j, ox in enumerate(offsets):
                r = np.hypot((x - oy)[:, None], (x - ox)[None, :])
                field0 = radial_profile(table, radii, r)  # native-plane field of the point
                sensor = np.fft.ifft2(np.fft.fft2(field0 * mla) * prop)
                inten = np.abs(sensor) ** 2
                out[d, i, j] = inten.reshape(K * N, q, K * N, q).sum(axis=(1, 3))
    if not unnormalised:
        ref = _in_focus_energy(optics, radii, x, mla, prop)
        out = out / ref
    return torch.from_numpy(out)


def radial_profile(table: np.ndarray, radii: np.ndarray, r: np.ndarray) -> np.ndarray:
    """A radial complex profile ``table`` (sampled at ``radii``) evaluated at radii ``r``."""
    return np.interp(r, radii, table.real) + 1j * np.interp(r, radii, table.imag)


def _in_focus_energy(optics, radii, x, mla, prop) -> float:
    """Energy of the in-focus point on the lenslet axis (the normalising constant)."""
    table = native_field(optics, 0.0, radii)
    field0 = radial_profile(table, radii, np.hypot(x[:, None], x[None, :]))
    return float((np.abs(np.fft.ifft2(np.fft.fft2(field0 * mla) * prop)) ** 2).sum())
