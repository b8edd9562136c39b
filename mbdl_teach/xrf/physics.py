"""XRF physics: emission lines from xraylib, the detector, and a synthetic painting cube.

Units: energies in keV, spectra in counts per channel, element maps in counts (the expected
number of counts an element contributes to a pixel's spectrum, before the detector's
efficiency, i.e. proportional to its areal density).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

__all__ = ["Lines", "Detector", "PIGMENTS", "synthetic_cube", "simulate_spectra",
           "save_cube", "load_cube", "check_cube", "atomic_number", "Cube"]

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))  # 1 / 2.3548
SI_EPSILON_KEV = 0.00385  # energy per electron-hole pair in Si (keV)
SI_K_ESCAPE_KEV = 1.740  # Si K-alpha: an escape peak sits this far below its parent


def _xraylib():
    try:
        import xraylib
    except ImportError as err:  # pragma: no cover - a dependency of the package
        raise ImportError("mbdl_teach.xrf needs xraylib: pip install xraylib") from err
    return xraylib


def atomic_number(symbol: str) -> int:
    """Atomic number of an element symbol ('Pb' -> 82); ValueError for an unknown one."""
    if not isinstance(symbol, str):
        raise TypeError(f"an element symbol must be a str, got {type(symbol).__name__}")
    try:
        return int(_xraylib().SymbolToAtomicNumber(symbol))
    except ValueError:
        raise ValueError(f"unknown element symbol {symbol!r} (expected e.g. 'Pb', 'Fe')") from None


def _raw_lines(z: int, excitation_kev: float, window_kev: tuple[float, float],
               min_rel: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every K, L, M line of element ``z`` in the window: energies, Kissel cross sections."""
    xrl = _xraylib()
    names = {getattr(xrl, n): n[:-5] for n in dir(xrl) if n.endswith("_LINE")}
    en, cs, lab = [], [], []
    for line in range(-1, -400, -1):  # xraylib's IUPAC transitions K-L1 ... M5-...
        try:
            e = xrl.LineEnergy(z, line)
            c = xrl.CS_FluorLine_Kissel(z, line, float(excitation_kev))
        except ValueError:
            continue
        if c > 0 and window_kev[0] <= e <= window_kev[1]:
            en.append(e), cs.append(c), lab.append(names.get(line, str(line)))
    en, cs = np.array(en), np.array(cs)
    if len(cs):
        keep = cs >= min_rel * cs.max()
        en, cs, lab = en[keep], cs[keep], [l for l, k in zip(lab, keep) if k]
    return en, cs, lab


class Lines:
    """Emission lines of a list of elements, from xraylib.

    For each element the K, L and M lines inside ``window_kev`` that ``excitation_kev``
    excites, with relative intensities from ``xraylib.CS_FluorLine_Kissel`` (photo-ionisation
    cross section x fluorescence yield x radiative rate, cascades included). Lines closer
    than ``merge_kev`` are merged (intensity-weighted energy), and intensities are normalised
    to sum to 1 per element: a unit of an element gives one count in total (before the
    detector's efficiency).

    Parameters
    ----------
    elements : sequence of str
        Element symbols ('Pb', 'Fe', ...).
    excitation_kev : float
        Energy of the exciting beam (a monochromatic approximation of the tube).
    window_kev : (float, float)
        The energy range fitted.
    merge_kev : float
        Lines closer than this are merged (a detector resolves ~0.13 keV: 0.05 keeps the
        L-alpha1/alpha2 pair apart only in name).
    min_rel : float
        Lines weaker than this fraction of the element's strongest are dropped.

    Attributes
    ----------
    elements : list of str
    energies, intensities : dict str -> ndarray
    """

    def __init__(self, elements: Sequence[str], excitation_kev: float = 20.0,
                 window_kev: tuple[float, float] = (1.0, 19.0), merge_kev: float = 0.05,
                 min_rel: float = 0.01):
        if isinstance(elements, str):
            elements = [elements]
        elements = list(elements)
        if not elements:
            raise ValueError("elements must name at least one element")
        if len(set(elements)) != len(elements):
            raise ValueError(f"elements must be distinct, got {elements}")
        if not (len(window_kev) == 2 and 0 <= window_kev[0] < window_kev[1]):
            raise ValueError(f"window_kev must be (low, high) with 0 <= low < high, got {window_kev}")
        if excitation_kev <= 0:
            raise ValueError(f"excitation_kev must be positive, got {excitation_kev}")
        self.elements = elements
        self.excitation_kev = float(excitation_kev)
        self.window_kev = (float(window_kev[0]), float(window_kev[1]))
        self.merge_kev, self.min_rel = float(merge_kev), float(min_rel)
        self.energies, self.intensities, self.labels = {}, {}, {}
        for el in elements:
            z = atomic_number(el)
            en, cs, lab = _raw_lines(z, excitation_kev, self.window_kev, min_rel)
            if not len(en):
                raise ValueError(f"{el} has no line in {self.window_kev} keV excited at "
                                 f"{excitation_kev} keV")
            en, cs, lab = _merge(en, cs, lab, merge_kev)
            self.energies[el], self.intensities[el], self.labels[el] = en, cs / cs.sum(), lab

    def main_line(self, element: str) -> float:
        """Energy (keV) of the element's strongest (merged) line."""
        return float(self.energies[element][np.argmax(self.intensities[element])])

    def __len__(self) -> int:
        return len(self.elements)

    def __repr__(self) -> str:
        n = sum(len(v) for v in self.energies.values())
        return (f"Lines({len(self.elements)} elements, {n} lines, {self.window_kev[0]:g}-"
                f"{self.window_kev[1]:g} keV, excitation {self.excitation_kev:g} keV)")


def _merge(en, cs, lab, tol):
    order = np.argsort(en)
    en, cs, lab = en[order], cs[order], [lab[i] for i in order]
    out_e, out_c, out_l = [], [], []
    for e, c, l in zip(en, cs, lab):
        if out_e and e - out_e[-1] < tol:
            tot = out_c[-1] + c
            out_e[-1] = (out_e[-1] * out_c[-1] + e * c) / tot
            out_c[-1] = tot
            if c > 0.5 * out_c[-1]:
                out_l[-1] = out_l[-1] + "+" + l
        else:
            out_e.append(e), out_c.append(c), out_l.append(l)
    return np.array(out_e), np.array(out_c), out_l


@dataclass
class Detector:
    """An energy-dispersive Si detector.

    Channel ``i`` measures energy ``zero + gain * i`` keV; a line at ``E`` is a Gaussian of
    ``FWHM(E) = sqrt(noise^2 + 2.3548^2 * 0.00385 * fano * E)`` keV.

    Parameters
    ----------
    n_channels : int
    zero, gain : float
        Energy calibration (keV, keV per channel).
    noise : float
        Electronic noise (FWHM, keV); 0.07 gives 137 eV at Mn K-alpha.
    fano : float
        Fano factor of silicon.
    """

    n_channels: int = 1024
    zero: float = 0.0
    gain: float = 0.02
    noise: float = 0.07
    fano: float = 0.114

    def __post_init__(self):
        if int(self.n_channels) != self.n_channels or self.n_channels < 8:
            raise ValueError(f"n_channels must be an integer >= 8, got {self.n_channels}")
        if self.gain <= 0 or self.noise <= 0 or self.fano <= 0:
            raise ValueError("gain, noise and fano must be positive")
        self.n_channels = int(self.n_channels)

    @property
    def energies(self) -> np.ndarray:
        """Centre energy (keV) of each channel, shape (n_channels,)."""
        return self.zero + self.gain * np.arange(self.n_channels)

    def channel(self, energy_kev):
        """The (fractional) channel of an energy."""
        return (np.asarray(energy_kev) - self.zero) / self.gain

    def fwhm(self, energy_kev):
        """FWHM (keV) of a line at ``energy_kev``."""
        e = np.asarray(energy_kev, dtype=float)
        return np.sqrt(self.noise**2 + (2.3548**2) * SI_EPSILON_KEV * self.fano * e)

    def sigma(self, energy_kev):
        """Standard deviation (keV) of a line at ``energy_kev``."""
        return self.fwhm(energy_kev) * FWHM_TO_SIGMA

    def peaks(self, energies, amplitudes) -> np.ndarray:
        """Gaussian lines of the given areas (counts), integrated over each channel.

        Returns
        -------
        ndarray, shape (n_channels,)
        """
        from scipy.special import erf

        edges = self.zero + self.gain * (np.arange(self.n_channels + 1) - 0.5)
        out = np.zeros(self.n_channels)
        for e, a in zip(np.atleast_1d(energies), np.atleast_1d(amplitudes)):
            s = self.sigma(e) * np.sqrt(2.0)
            cdf = 0.5 * (1 + erf((edges - e) / s))
            out += a * np.diff(cdf)
        return out

    def library(self, lines: Lines, n_background: int = 6, dtype=torch.float64) -> torch.Tensor:
        """The line library: one column per element (its lines, total area 1), then
        ``n_background`` broad smooth columns for the continuum.

        Returns
        -------
        Tensor, shape (n_channels, len(lines) + n_background)
        """
        cols = [self.peaks(lines.energies[el], lines.intensities[el]) for el in lines.elements]
        cols += list(background_basis(self, lines.window_kev, n_background).T)
        return torch.tensor(np.stack(cols, 1), dtype=dtype)

    def check_cube(self, cube) -> None:
        """Raise ValueError unless ``cube`` is (H, W, n_channels) of finite counts >= 0."""
        check_cube(cube, self)


def background_basis(detector: Detector, window_kev, n: int) -> np.ndarray:
    """``n`` broad Gaussian bumps (sigma = spacing) spanning the window, peak 1: shape
    (n_channels, n). The continuum is modelled as a non-negative sum of them."""
    if n == 0:
        return np.zeros((detector.n_channels, 0))
    e = detector.energies
    centres = np.linspace(window_kev[0], window_kev[1], n)
    width = (window_kev[1] - window_kev[0]) / max(n - 1, 1)
    return np.exp(-0.5 * ((e[:, None] - centres[None]) / width) ** 2)


def check_cube(cube, detector: Detector | None = None) -> None:
    """Check an XRF cube: a float array or tensor (H, W, channels), finite, no negative counts,
    and as many channels as the detector's calibration has."""
    if not isinstance(cube, (np.ndarray, torch.Tensor)):
        raise TypeError(f"cube must be a NumPy array or torch tensor (H, W, channels), got "
                        f"{type(cube).__name__}")
    if cube.ndim != 3:
        raise ValueError(f"cube must have shape (H, W, channels), got {tuple(cube.shape)}")
    if detector is not None and cube.shape[-1] != detector.n_channels:
        raise ValueError(f"cube has {cube.shape[-1]} channels but the detector's calibration has "
                         f"{detector.n_channels}")
    arr = cube if isinstance(cube, torch.Tensor) else torch.from_numpy(np.asarray(cube))
    if arr.numel() == 0:
        return
    lo, hi = (float(v) for v in torch.aminmax(arr))  # one pass; NaN propagates to both
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("cube contains NaN or inf")
    if lo < 0:
        raise ValueError("cube has negative counts; expected raw counts >= 0")


# --------------------------------------------------------------------------- the finer model
def efficiency(energies_kev, be_um: float = 8.0, si_mm: float = 1.0) -> np.ndarray:
    """Detector efficiency: transmission of the Be window times absorption in the Si crystal
    (mass attenuation coefficients from xraylib)."""
    xrl = _xraylib()
    e = np.atleast_1d(np.asarray(energies_kev, dtype=float))
    e = np.clip(e, 0.5, None)
    mu_be = np.array([xrl.CS_Total(4, float(v)) for v in e]) * xrl.ElementDensity(4)
    mu_si = np.array([xrl.CS_Total(14, float(v)) for v in e]) * xrl.ElementDensity(14)
    return np.exp(-mu_be * be_um * 1e-4) * (1 - np.exp(-mu_si * si_mm * 0.1))


def _escape_fraction(e: np.ndarray) -> np.ndarray:
    """Fraction of counts of a line at ``e`` keV that leave as Si escape (about 1 % above
    the Si K edge, falling with energy as photons go deeper)."""
    return np.where(e > 1.84, 0.012 * (1.84 / np.maximum(e, 1.84)) ** 1.5, 0.0)


def fine_response(detector: Detector, energies, amplitudes, tail: float = 0.04,
                  tail_slope_kev: float = 0.25) -> np.ndarray:
    """One element's spectrum under the finer model: Gaussians x efficiency, a low-energy
    exponential tail of area ``tail`` and Si escape peaks."""
    e = np.atleast_1d(energies).astype(float)
    a = np.atleast_1d(amplitudes) * efficiency(e)
    esc = _escape_fraction(e)
    spec = detector.peaks(e, a * (1 - tail - esc))
    ok = e - SI_K_ESCAPE_KEV > detector.zero
    spec += detector.peaks(e[ok] - SI_K_ESCAPE_KEV, (a * esc)[ok])
    ch = detector.energies
    for ei, ai in zip(e, a):  # tail: exp((E - ei)/slope) below the line, smoothed by the peak
        t = np.where(ch < ei, np.exp((ch - ei) / tail_slope_kev), 0.0)
        if t.sum() > 0:
            t = np.convolve(t, detector.peaks([detector.zero + 20 * detector.gain], [1.0])[:41],
                            mode="same")
            spec += ai * tail * t / t.sum()
    return spec


def continuum(detector: Detector, excitation_kev: float) -> np.ndarray:
    """Scattered continuum shape (counts per channel, unit total): rising with energy up to
    the excitation, with a Rayleigh + Compton scatter bump below it."""
    e = detector.energies
    c = np.clip(e - 0.8, 0, None) ** 1.5 * np.exp(-((e / (0.75 * excitation_kev)) ** 4))
    c *= efficiency(e)
    return c / c.sum()


# Pigments: element weight fractions (approximate stoichiometry).
PIGMENTS: dict[str, dict[str, float]] = {
    "lead white": {"Pb": 0.80},
    "vermilion": {"Hg": 0.86, "S": 0.14},
    "azurite": {"Cu": 0.55},
    "lead-tin yellow": {"Pb": 0.70, "Sn": 0.20},
    "ochre": {"Fe": 0.40, "K": 0.02, "Ca": 0.02},
    "umber": {"Fe": 0.30, "Mn": 0.10},
    "smalt": {"Co": 0.06, "K": 0.10, "As": 0.02, "Fe": 0.01},
    "zinc white": {"Zn": 0.80},
    "titanium white": {"Ti": 0.60},
    "orpiment": {"As": 0.61, "S": 0.39},
    "chalk": {"Ca": 0.40},
}
ELEMENTS = ["S", "K", "Ca", "Ti", "Mn", "Fe", "Co", "Cu", "Zn", "As", "Sn", "Hg", "Pb"]
# region -> pigments (weights) of the painting; each row plants an overlap
PALETTE = [
    {"lead white": 1.0},                     # Pb L-alpha under As K-alpha, Pb M under S K
    {"orpiment": 0.4, "chalk": 0.5},         # As K-alpha on Pb L-alpha
    {"vermilion": 1.0},                      # S K / Hg M
    {"azurite": 1.0},
    {"lead-tin yellow": 1.0},                # Sn L beside K K
    {"ochre": 1.0},                          # Fe K-beta under Co K-alpha
    {"smalt": 1.0},                          # Co K-alpha, K K
    {"umber": 1.0},
    {"zinc white": 1.0, "titanium white": 0.4},
]
GROUND = {"chalk": 0.5}


@dataclass
class Cube:
    """A synthetic MA-XRF scan: ``counts`` (H, W, channels) and the true element maps
    (counts each element contributes to a pixel before the detector's efficiency)."""

    counts: np.ndarray
    maps: dict[str, np.ndarray]
    detector: Detector
    lines: Lines
    regions: np.ndarray = field(repr=False, default=None)


def _regions(image: str, size: int, k: int) -> np.ndarray:
    """Segment a bundled colour image into ``k`` regions (k-means on colour, deterministic)."""
    from ..data import load_image

    img = load_image(image, size, gray=False).numpy().reshape(3, -1).T
    lum = img.mean(1)
    centres = np.stack([img[(lum >= np.quantile(lum, q)) & (lum <= np.quantile(lum, q + 1 / k))].mean(0)
                        for q in np.arange(k) / k])
    for _ in range(20):
        lab = ((img[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        centres = np.stack([img[lab == j].mean(0) if (lab == j).any() else centres[j] for j in range(k)])
    return lab.reshape(size, size), lum.reshape(size, size)


def mixture_amounts(weights: dict[str, float]) -> dict[str, float]:
    """Element amounts of a pigment mixture ``{pigment: weight}``."""
    out: dict[str, float] = {}
    for pig, w in weights.items():
        for el, f in PIGMENTS[pig].items():
            out[el] = out.get(el, 0.0) + w * f
    return out


def simulate_spectra(amounts: np.ndarray, lines: Lines, detector: Detector,
                     background: np.ndarray | None = None, counts: float | None = None,
                     rng: np.random.Generator | None = None, fine: bool = True):
    """Spectra of element amounts: (N, n_el) amounts -> (N, n_channels) expected counts or
    Poisson draws.

    ``fine=True`` is the finer model (efficiency, tails, escape peaks, and every xraylib
    line above 0.1 % with no merging); the continuum is added with weight ``background``
    (N,) times the element total. With ``counts`` the spectra are scaled so their mean total
    is ``counts`` (the same factor scales the returned amounts) and Poisson noise is drawn
    from ``rng``.

    Returns
    -------
    spectra : ndarray (N, n_channels)
    amounts : ndarray (N, n_el), in counts
    """
    amounts = np.asarray(amounts, dtype=float)
    if fine:
        fl = _fine_lines(lines)
        resp = np.stack([fine_response(detector, fl.energies[el], fl.intensities[el])
                         for el in lines.elements])
    else:
        resp = detector.library(lines, 0).numpy().T
    spec = amounts @ resp
    if background is not None:
        spec += (np.asarray(background) * amounts.sum(1))[:, None] * continuum(
            detector, lines.excitation_kev)[None]
    if counts is not None:
        s = counts / spec.sum(1).mean()
        spec, amounts = spec * s, amounts * s
        rng = rng or np.random.default_rng(0)
        spec = rng.poisson(spec).astype(np.float64)
    return spec, amounts


_FINE_CACHE: dict = {}


def _fine_lines(lines: Lines) -> Lines:
    key = (tuple(lines.elements), lines.excitation_kev, lines.window_kev)
    if key not in _FINE_CACHE:
        w = (max(lines.window_kev[0] - 0.5, 0.0), lines.window_kev[1] + 0.5)
        _FINE_CACHE[key] = Lines(lines.elements, lines.excitation_kev, w, merge_kev=0.0,
                                 min_rel=1e-3)
    return _FINE_CACHE[key]


def synthetic_cube(size: int = 64, counts: float = 2e4, detector: Detector | None = None,
                   image: str = "astronaut", seed: int = 0, excitation_kev: float = 20.0,
                   window_kev: tuple[float, float] = (1.0, 19.0),
                   background: float = 0.3) -> Cube:
    """A painting scanned by MA-XRF, from a bundled colour image.

    The image is segmented into 9 colour regions; each region gets a pigment mixture of
    :data:`PALETTE` (planting the overlaps Pb L-alpha / As K-alpha, Sn L / K K, Co K-alpha /
    Fe K-beta and S K / Pb M / Hg M) on a chalk ground; amounts follow the image's brightness
    and mix across region borders. Spectra come from the finer model
    (:func:`simulate_spectra`): efficiency curve, peak tails and escape peaks that no
    fitting method here models, a continuum, and Poisson counts with a mean of ``counts``
    per pixel. Deterministic given ``seed``.

    Overlapping elements sit in different regions, so a method that mixes them up shows
    one element's region in the other's map.

    Returns
    -------
    Cube
        ``counts`` (size, size, n_channels) float64, ``maps`` {element: (size, size)};
        a list of them, one per level, when ``counts`` is a sequence (the same scan at
        several dwell times).
    """
    from scipy.ndimage import gaussian_filter

    if np.any(np.asarray(counts) <= 0):
        raise ValueError(f"counts must be positive, got {counts}")
    detector = detector or Detector()
    lines = Lines(ELEMENTS, excitation_kev, window_kev)
    lab, lum = _regions(image, size, len(PALETTE))
    rng = np.random.default_rng(seed)
    amounts = np.zeros((size, size, len(ELEMENTS)))
    for r, mix in enumerate(PALETTE):
        soft = gaussian_filter((lab == r).astype(float), 0.8)
        for el, a in mixture_amounts(mix).items():
            amounts[..., ELEMENTS.index(el)] += soft * a * (0.6 + 0.8 * lum)
    for el, a in mixture_amounts(GROUND).items():
        amounts[..., ELEMENTS.index(el)] += a * (0.7 + 0.3 * rng.random((size, size)))
    levels = [counts] if np.isscalar(counts) else list(counts)
    mean, amounts = simulate_spectra(amounts.reshape(-1, len(ELEMENTS)), lines, detector,
                                     background=np.full(size * size, background))
    cubes = []
    for level in levels:  # one noise-free scan, Poisson counts at each level
        f = level / mean.sum(1).mean()
        spec = rng.poisson(mean * f).astype(np.float64)
        maps = {el: f * amounts[:, i].reshape(size, size) for i, el in enumerate(ELEMENTS)}
        cubes.append(Cube(spec.reshape(size, size, -1), maps, detector, lines, lab))
    return cubes[0] if np.isscalar(counts) else cubes


# --------------------------------------------------------------------------- files
def save_cube(path, counts, maps: dict | None = None, detector: Detector | None = None) -> None:
    """Save a cube to HDF5 (``.h5``/``.hdf5``) or NumPy (``.npz``).

    Layout (both): ``counts`` (H, W, channels); ``energy`` (channels,) keV; attributes /
    scalars ``zero``, ``gain`` (keV); ``maps/<element>`` (H, W) (``map_<element>`` in npz).
    """
    path = Path(path)
    check_cube(counts, detector)
    counts = np.asarray(counts)
    det = detector or Detector(counts.shape[-1])
    maps = maps or {}
    if path.suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "w") as f:
            f["counts"] = counts
            f["energy"] = det.energies
            f.attrs["zero"], f.attrs["gain"] = det.zero, det.gain
            f.attrs["noise"], f.attrs["fano"] = det.noise, det.fano
            for el, m in maps.items():
                f[f"maps/{el}"] = np.asarray(m)
    elif path.suffix == ".npz":
        np.savez(path, counts=counts, energy=det.energies,
                 calib=np.array([det.zero, det.gain, det.noise, det.fano]),
                 **{f"map_{el}": np.asarray(m) for el, m in maps.items()})
    else:
        raise ValueError(f"unknown cube file type {path.suffix!r}: use .h5, .hdf5 or .npz")


def load_cube(path) -> tuple[np.ndarray, dict[str, np.ndarray], Detector]:
    """Load a cube written by :func:`save_cube` (or any file with that layout).

    Returns
    -------
    counts : ndarray (H, W, channels); maps : dict (empty if none); detector : Detector
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    if path.suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as f:
            if "counts" not in f:
                raise ValueError(f"{path} has no 'counts' dataset (H, W, channels)")
            counts = f["counts"][()]
            a = dict(f.attrs)
            maps = {k: v[()] for k, v in f["maps"].items()} if "maps" in f else {}
        det = Detector(counts.shape[-1], float(a.get("zero", 0.0)), float(a.get("gain", 0.02)),
                       float(a.get("noise", 0.1)), float(a.get("fano", 0.114)))
    elif path.suffix == ".npz":
        with np.load(path) as f:
            counts = f["counts"]
            cal = f["calib"] if "calib" in f else np.array([0.0, 0.02, 0.1, 0.114])
            maps = {k[4:]: f[k] for k in f.files if k.startswith("map_")}
        det = Detector(counts.shape[-1], *map(float, cal))
    else:
        raise ValueError(f"unknown cube file type {path.suffix!r}: use .h5, .hdf5 or .npz")
    check_cube(counts, det)
    return counts, maps, det
