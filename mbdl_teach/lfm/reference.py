"""The light-field PSF of :mod:`pyolaf`, the field's open implementation, in our layout.

`pyolaf <https://pypi.org/project/pyolaf/>`_ (the Python port of oLaF, Stefanoiu et al.
2019) computes the same wave-optics model as :func:`mbdl_teach.lfm.optics.psf`: the Debye
field of the objective at the native image plane, a microlens array there, angular-spectrum
propagation to the sensor. This module runs it for an :class:`~mbdl_teach.lfm.optics.Optics`
and returns its sensor patterns with the shape and layout of :func:`psf`, so the two can be
compared number for number (:func:`psf_correlation`).

Two conventions differ between pyolaf 0.2.1 as it is and this course, and
``pyolaf_psf(optics, corrected=...)`` gives either:

* **The lenslets' medium.** pyolaf writes the microlens phase as
  ``exp(-i k r^2 / (2 fm))`` with ``k = 2 pi n / lambda``, the wavenumber in the *immersion*
  medium, as if the lenslets sat in water; the propagation to the sensor then uses the
  vacuum wavelength (air). The course models the microlens array as it is built: glass
  lenslets in air behind the tube lens, nowhere near the immersion water, so their phase is
  ``exp(-i k0 r^2 / (2 f_ml))`` with ``k0 = 2 pi / lambda`` and the sensor sits one focal
  length ``f_ml`` behind them. With ``fm = f_ml`` pyolaf's lenslets are ``n`` times
  stronger (focal length ``f_ml / n``, 2.26 mm instead of 3 mm at n = 1.33), so the sensor
  is no longer in their back focal plane and every pattern is blurred, more so off focus.
  ``corrected=True`` describes the same physical lenslets to pyolaf as ``fm = n f_ml``
  (then its phase equals the air phase exactly) with ``mla2sensor = f_ml``.
* **The voxel positions.** pyolaf computes the forward pattern of voxel ``t`` (1-based,
  in a quarter of the lenslet) by shifting the native-plane field by
  ``t / texScaleFactor - Nnum_half_coord`` pixels, where
  ``Nnum_half_coord = TexNnum_half // texScaleFactor`` is meant to be the centre voxel's
  position in pixels. With 3 voxels and 15 pixels per lenslet ``texScaleFactor = 3 / 15``
  is not exact in binary and the floor division gives ``2 // 0.2 == 9.0``, not 10: every
  point sits one pixel off its voxel along each axis (at -4, +1 and, mirrored, +4 pixels
  instead of -5, 0 and +5) while its pattern is used, shifted back, as the voxel's. ``corrected=True`` moves the lenslet
  array by the same offset (the centres passed to pyolaf, ``LensletCenters['px']``), so
  each point sits where its voxel belongs relative to the lenslets.

pyolaf samples the field once per pixel (``Optics(oversample=1)`` in our terms), keeps
patterns only for a quarter of the voxel positions (the others are their mirror images),
stores each one shifted back to the centre by its voxel offset, sets values below 0.5 % of
a pattern's maximum to zero and scales each pattern to sum 1. :func:`pyolaf_psf` undoes the
shift (it places each pattern at its voxel's nominal position, as pyolaf's own forward
projector does), mirrors the quarter to all ``s x s`` positions and crops (or pads) to our
``K N x K N`` window; the clamping and per-pattern scaling stay, which a normalised
correlation per depth hardly notices.

Measured at the default optics (15 depths, -35..35 um): corrected pyolaf against
``psf(Optics(oversample=1))`` correlates 0.9993-1.0000 at every depth; pyolaf as it is,
0.94 in focus and 0.10 / 0.47 at -35 / +35 um. One field sample per pixel is too coarse
for either code (the in-focus spot at the lenslets is 2.6 pixels across, the lenslet
phase is nearly aliased at its rim): both correlate only 0.6-0.86 with our default
``oversample=3``, while pyolaf run on 3x finer pixels (45 per lenslet) and binned 3 x 3
correlates 0.9999 with it.

pyolaf 0.2.1 is a dependency of the course (pinned: the comparison above is with that version).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
import warnings

import numpy as np
import torch

from .optics import Optics

__all__ = ["pyolaf_psf", "psf_correlation"]

#: The pyolaf release this module was written and measured against.
PYOLAF_VERSION = "0.2.1"

#: Tube-lens focal length written into pyolaf's camera, um (a 165 mm tube lens). The
#: patterns do not depend on it: it fixes the objective's focal length ``ftl / M`` and so
#: only a constant factor per depth and pyolaf's estimate of the blur, i.e. its window.
TUBE_LENS_UM = 165_000.0


def _import_pyolaf():
    try:
        from pyolaf import geometry, lf
        import pyolaf
    except ImportError as exc:
        raise ImportError("pyolaf_psf needs pyolaf, the Python port of oLaF: "
                          f"pip install pyolaf=={PYOLAF_VERSION}") from exc
    version = getattr(pyolaf, "__version__", "unknown")
    if version != PYOLAF_VERSION:
        warnings.warn(f"pyolaf {version} is installed; mbdl_teach.lfm.reference was written "
                      f"for pyolaf {PYOLAF_VERSION} (pip install pyolaf=={PYOLAF_VERSION})",
                      stacklevel=4)
    return geometry, lf


def _depth_values(optics: Optics, depths) -> np.ndarray:
    """The requested depths in um: None = all of ``optics.z``, integers = indices into it,
    floats = depths in um."""
    if depths is None:
        return np.asarray(optics.z, dtype=np.float64)
    if isinstance(depths, torch.Tensor):
        depths = depths.detach().cpu().numpy()
    arr = np.atleast_1d(np.asarray(depths))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"depths must be None or a non-empty 1-D sequence, got shape {arr.shape}")
    if arr.dtype.kind in "iu":
        d = optics.n_depths
        if arr.min() < 0 or arr.max() >= d:
            raise IndexError(f"depth indices must lie in 0..{d - 1} (optics.n_depths = {d}), "
                             f"got {arr.tolist()}; pass floats for depths in um")
        return np.asarray(optics.z, dtype=np.float64)[arr]
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"depths in um must be finite, got {arr.tolist()}")
        return arr.astype(np.float64)
    raise TypeError("depths must be None, integer indices into optics.z or depths in um "
                    f"(floats), got dtype {arr.dtype}")


def _camera(optics: Optics, air_lenslets: bool) -> dict:
    """pyolaf's camera description (the keys of its YAML file) for ``optics``."""
    f_ml = float(optics.f_ml)
    return {
        "M": float(optics.magnification),
        "NA": float(optics.na),
        "ftl": TUBE_LENS_UM,
        "lensPitch": float(optics.pitch),
        "pixelPitch": float(optics.pixel_pitch),
        "gridType": "reg",
        "focus": "single",
        "fml": f_ml,  # documentation only: pyolaf reads fm
        # pyolaf's lenslet phase is exp(-i (2 pi n / lambda) r^2 / (2 fm)); fm = n f_ml makes
        # it the phase of a lenslet of focal length f_ml in air
        "fm": optics.n * f_ml if air_lenslets else f_ml,
        "uLensMask": 1,
        "n": float(optics.n),
        "WaveLength": float(optics.wavelength),
        "plenoptic": 1,
        "tube2mla": 0,  # 0: pyolaf sets it to ftl (the MLA in the native image plane)
        "mla2sensor": f_ml,
    }


def _voxel_shift_error(resolution: dict, pixels: int, voxels: int) -> int:
    """Pixels by which pyolaf's points sit off their voxels (the same for every voxel).

    pyolaf shifts the point of voxel ``t`` (1-based, t <= TexNnum_half) by
    ``round(t / texScaleFactor - TexNnum_half // texScaleFactor)`` pixels; the voxel's
    nominal offset is ``(t - TexNnum_half) pixels / voxels``.
    """
    half = int(resolution["TexNnum_half"][0])
    tsf = float(resolution["texScaleFactor"][0])
    centre = np.floor_divide(float(half), tsf)  # the floor of the exact quotient, like //
    err = {int(np.round(t / tsf - centre)) - (t - half) * pixels // voxels
           for t in range(1, half + 1)}
    if len(err) != 1:  # cannot happen when voxels divides pixels; kept as a guard
        raise RuntimeError(f"pyolaf's voxel offsets are off by different amounts: {err}")
    return err.pop()


def _place(pattern: np.ndarray, dy: int, dx: int, size: int) -> np.ndarray:
    """A centred square pattern moved by (dy, dx) pixels into a centred size x size window
    (zeros where it does not reach, cropped where it is larger)."""
    out = np.zeros((size, size))
    spans = []
    for d, n_in in ((dy, pattern.shape[0]), (dx, pattern.shape[1])):
        q0 = n_in // 2 - size // 2 - d  # input index = output index + q0
        lo, hi = max(0, -q0), min(size, n_in - q0)
        if hi <= lo:
            return out
        spans.append((slice(lo, hi), slice(lo + q0, hi + q0)))
    (r_out, r_in), (c_out, c_in) = spans
    out[r_out, c_out] = pattern[r_in, c_in]
    return out


def _pyolaf_patterns(optics: Optics, z: np.ndarray, air_lenslets: bool,
                     fix_offset: bool) -> np.ndarray:
    """Run pyolaf and return its forward patterns in our layout, (D, s, s, K N, K N)."""
    geometry, lf = _import_pyolaf()
    N, s, K = optics.pixels, optics.voxels, optics.window
    if s % 2 == 0 or N % s != 0:
        raise ValueError(f"pyolaf needs an odd number of voxels per lenslet that divides the "
                         f"pixels (its voxels sit on whole pixels); got {s} voxels for {N} "
                         "pixels")
    lo = float(min(optics.depths[0], z.min()))
    hi = float(max(optics.depths[1], z.max()))
    step = optics.voxel_size[1] if optics.n_depths > 1 else 1.0
    log = io.StringIO()
    try:
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(log), \
                contextlib.redirect_stderr(log), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            path = os.path.join(tmp, "camera.yaml")
            import yaml  # a dependency of pyolaf

            with open(path, "w") as f:
                yaml.safe_dump(_camera(optics, air_lenslets), f)
            camera = geometry.LFM_setCameraParams(path, N)
            # a simulated lenslet grid (no white image), wide enough for the lenslets pyolaf
            # uses: its PSF radius (in lenslets) + 3 on each side of the central one
            radius = int(lf.LFM_computePSFsize(lo if abs(lo) >= abs(hi) else hi, camera))
            n_lens = 2 * (radius + 3) + 3
            centres, resolution, _, _ = geometry.LFM_computeGeometryParameters(
                camera, np.array([]), [lo, hi], step, s, imgSize=np.array([n_lens * N] * 2))
            if int(resolution["Nnum"][0]) != N or int(resolution["TexNnum"][0]) != s:
                raise RuntimeError(f"pyolaf set up {resolution['Nnum']} pixels and "
                                   f"{resolution['TexNnum']} voxels, expected {N} and {s}")
            resolution["depths"] = np.asarray(z, dtype=np.float64)  # exactly our planes
            if fix_offset:
                err = _voxel_shift_error(resolution, N, s)
                centres["px"] = centres["px"] + err  # lenslets follow the shifted points
            H, _ = lf.LFM_computeLFMatrixOperators(camera, resolution, centres)
    except Exception as exc:
        tail = log.getvalue()[-3000:]
        if tail:
            exc.add_note("pyolaf's output before the error (last 3000 characters):\n" + tail)
        raise
    for w in caught:  # pass on what pyolaf warned about, less its sparse-matrix advice
        if w.category.__name__ != "SparseEfficiencyWarning":
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    half = int(resolution["TexNnum_half"][0])
    nominal = [(i - (s - 1) // 2) * (N // s) for i in range(s)]  # voxel offsets, pixels
    out = np.zeros((len(z), s, s, K * N, K * N))
    for d in range(len(z)):
        for i in range(s):
            iq, flip_i = (i, False) if i < half else (s - 1 - i, True)
            for j in range(s):
                jq, flip_j = (j, False) if j < half else (s - 1 - j, True)
                pattern = H[iq, jq, d].toarray()
                if flip_i:
                    pattern = pattern[::-1, :]
                if flip_j:
                    pattern = pattern[:, ::-1]
                out[d, i, j] = _place(pattern, nominal[i], nominal[j], K * N)
    return out


def pyolaf_psf(optics: Optics, corrected: bool = False, depths=None) -> torch.Tensor:
    """The light-field PSF computed by pyolaf, in the layout of :func:`psf`.

    Parameters
    ----------
    optics : Optics
        The microscope. pyolaf samples the field once per pixel whatever
        ``optics.oversample`` says; it needs an odd number of voxels ``s`` that divides the
        pixels ``N`` (the default 3 and 15 do).
    corrected : bool
        False: pyolaf 0.2.1 as it is (lenslet phase written with the immersion index, points
        one pixel off their voxels where its floor division rounds down). True: the
        lenslets in air (``fm = n f_ml``, ``mla2sensor = f_ml``) and every point on its
        voxel, the model of :func:`psf` (see the module docstring).
    depths : None, sequence of int or sequence of float
        None: all of ``optics.z``. Integers: indices into ``optics.z``. Floats (a list
        mixing both is read as floats): depths in um, any, the window staying that of
        ``optics``. Fewer depths run faster.

    Returns
    -------
    Tensor, float64, shape (D', s, s, K*N, K*N)
        ``[d, i, j]``: the sensor pattern of a point at the d-th requested depth and voxel
        ``(i, j)`` of the central lenslet, in the window of :func:`psf` (its central pixel
        on the central lenslet's axis). Each pattern is pyolaf's: values below 0.5 % of
        its maximum set to zero and scaled to sum 1 over pyolaf's window (which is larger
        than ours at the defaults, so the cropped patterns sum to a little less).

    Raises
    ------
    ImportError
        pyolaf is not installed.
    TypeError
        ``optics`` is not an :class:`Optics`, or ``depths`` is neither ints nor floats.
    ValueError, IndexError
        Voxels pyolaf cannot place, or bad depths.
    """
    if not isinstance(optics, Optics):
        raise TypeError(f"pyolaf_psf needs an lfm.Optics, got {type(optics).__name__}")
    if not isinstance(corrected, (bool, np.bool_)):
        raise TypeError(f"corrected must be a bool, got {corrected!r}")
    z = _depth_values(optics, depths)
    out = _pyolaf_patterns(optics, z, air_lenslets=bool(corrected), fix_offset=bool(corrected))
    return torch.from_numpy(out)


def psf_correlation(a, b) -> torch.Tensor:
    """Normalised (Pearson) correlation of two PSF stacks, one number per depth.

    Each depth's stack (all voxel positions and pixels) is flattened, its mean removed
    and scaled to unit norm; the correlation is the dot product of the two. It ignores
    one overall scale and offset per depth, so stacks normalised differently compare.

    Parameters
    ----------
    a, b : Tensor or array, shape (D, ...)
        Two stacks of the same shape, e.g. (D, s, s, K*N, K*N) from :func:`psf` and
        :func:`pyolaf_psf`.

    Returns
    -------
    Tensor, float64, shape (D,)
        In [-1, 1]; NaN for a depth where either stack is constant.
    """
    a = torch.as_tensor(a).detach().to(torch.float64)
    b = torch.as_tensor(b).detach().to(torch.float64)
    if a.shape != b.shape:
        raise ValueError(f"psf_correlation needs stacks of the same shape, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    if a.ndim < 2:
        raise ValueError(f"psf_correlation needs stacks of shape (D, ...), got {tuple(a.shape)}")
    a = a.reshape(a.shape[0], -1)
    b = b.to(a.device).reshape(b.shape[0], -1)
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    num = (a * b).sum(dim=1)
    den = a.norm(dim=1) * b.norm(dim=1)
    return torch.where(den > 0, num / den, torch.full_like(num, math.nan))
