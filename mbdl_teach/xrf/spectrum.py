"""One measured XRF spectrum: calibration, resolution and line-family areas by a fit.

:func:`fit_spectrum` fits ``counts (n_channels,)`` with the course's line library, grouped
into families (K, L, M of each element), on a continuum and scatter peaks. The energy
calibration (zero, gain) and the resolution (noise, Fano) are fitted too, by variable
projection: for every trial of these four numbers the areas are the non-negative
weighted least-squares solution, and the four numbers minimise what that leaves,

    chi^2(theta) = min_{x >= 0} || W (y - A(theta) x) ||^2,   W = diag(1 / sqrt(max(y, 1))).

The spectra shipped with PyMca are read with :func:`pymca_example`, and PyMca's own fit of
a spectrum with :func:`pymca_fit`, both at run time from the installed ``pymca5`` package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np

from .physics import SI_K_ESCAPE_KEV, Detector, Lines, atomic_number, efficiency

__all__ = ["fit_spectrum", "SpectrumFit", "family_lines", "transmission", "thick_sample",
           "escape_fraction", "pymca_example", "pymca_fit", "pymca_peaks", "pymca_setup"]

SI_KB_KEV = 1.836  # Si K-beta: the weaker escape line
ELECTRON_KEV = 510.999


# --------------------------------------------------------------------------- absorption
def _mu(composition, energies_kev) -> np.ndarray:
    """Mass attenuation (cm^2/g) of a formula ('Be', 'SiO2') or {symbol: mass fraction}."""
    import xraylib as xrl

    e = np.atleast_1d(np.asarray(energies_kev, dtype=float))
    if isinstance(composition, str):
        comp = xrl.CompoundParser(composition)
        parts = dict(zip(comp["Elements"], comp["massFractions"]))
    elif isinstance(composition, dict):
        tot = float(sum(composition.values()))
        if tot <= 0:
            raise ValueError(f"a composition needs positive mass fractions, got {composition}")
        parts = {atomic_number(k): v / tot for k, v in composition.items()}
    else:
        raise TypeError("a composition is a formula str or a dict {symbol: mass fraction}, got "
                        f"{type(composition).__name__}")
    return np.array([sum(w * xrl.CS_Total(int(z), float(v)) for z, w in parts.items())
                     for v in e])


def transmission(energies_kev, layers: Sequence[tuple]) -> np.ndarray:
    """Transmission of absorbing layers between sample and detector (air, a window).

    Parameters
    ----------
    energies_kev : array, shape (n,)
    layers : sequence of (composition, density g/cm^3, thickness cm)
        ``composition`` a formula ('Be') or {symbol: mass fraction}.

    Returns
    -------
    ndarray, shape (n,), in (0, 1]
    """
    e = np.atleast_1d(np.asarray(energies_kev, dtype=float))
    out = np.ones_like(e)
    for layer in layers:
        if len(layer) != 3:
            raise ValueError(f"a layer is (composition, density, thickness cm), got {layer}")
        comp, rho, t = layer
        out *= np.exp(-_mu(comp, e) * float(rho) * float(t))
    return out


def thick_sample(energies_kev, matrix, excitation_kev: float,
                 angles_deg: tuple[float, float] = (45.0, 45.0)) -> np.ndarray:
    """Self-absorption of lines leaving a thick homogeneous sample (relative weights).

    A line at ``E`` excited at ``E0`` in an infinitely thick sample of mass attenuation
    ``mu`` reaches the surface with weight ``1 / (mu(E0) / sin a + mu(E) / sin b)``
    (incidence ``a``, take-off ``b``). Only the ratios within a family matter here.

    Returns
    -------
    ndarray, shape (n,)
    """
    a, b = np.radians(angles_deg)
    return 1.0 / (_mu(matrix, excitation_kev)[0] / np.sin(a)
                  + _mu(matrix, energies_kev) / np.sin(b))


def escape_fraction(energies_kev) -> np.ndarray:
    """Share of a line's counts that leave a Si detector as a Si K escape (Reed & Ware).

    For photons entering a thick Si crystal head-on,
    ``eta = omega_K (1 - 1/r) / 2 * (1 - (mu_K / mu) ln(1 + mu / mu_K))``, ``mu`` the
    photo-absorption at the line, ``mu_K`` at Si K-alpha, ``omega_K`` the fluorescence
    yield and ``r`` the K jump ratio; zero below the Si K edge.

    Parameters
    ----------
    energies_kev : array, shape (n,)

    Returns
    -------
    ndarray, shape (n,)
    """
    import xraylib as xrl

    e = np.atleast_1d(np.asarray(energies_kev, dtype=float))
    omega, r = xrl.FluorYield(14, xrl.K_SHELL), xrl.JumpFactor(14, xrl.K_SHELL)
    mu_k = xrl.CS_Photo(14, SI_K_ESCAPE_KEV)
    edge = xrl.EdgeEnergy(14, xrl.K_SHELL)
    out = np.zeros_like(e)
    for i, v in enumerate(e):
        if v > edge:
            mu = xrl.CS_Photo(14, float(v))
            out[i] = 0.5 * omega * (1 - 1 / r) * (1 - mu_k / mu * np.log1p(mu / mu_k))
    return out


def _si_k_lines() -> list[tuple[float, float]]:
    """Si K-alpha and K-beta: (energy keV, share of the K emission), from xraylib."""
    import xraylib as xrl

    a = sum(xrl.RadRate(14, ln) for ln in (xrl.KL2_LINE, xrl.KL3_LINE))
    b = sum(xrl.RadRate(14, ln) for ln in (xrl.KM2_LINE, xrl.KM3_LINE))
    return [(SI_K_ESCAPE_KEV, a / (a + b)), (SI_KB_KEV, b / (a + b))]


# --------------------------------------------------------------------------- the library
def family_lines(elements: Sequence[str], excitation_kev: float,
                 window_kev: tuple[float, float],
                 weight: Callable | None = None) -> dict[tuple[str, str], tuple]:
    """Lines of each element grouped by family (K, L, M), intensities summing to 1 per family.

    Relative intensities are xraylib's (``CS_FluorLine_Kissel`` at ``excitation_kev``)
    times ``weight(E)`` (what reaches the detector: absorption, efficiency). A family is
    kept when its strongest line lies in ``window_kev``.

    Returns
    -------
    dict (element, family) -> (energies (n,), intensities (n,))
    """
    out = {}
    lo, hi = window_kev
    for el in elements:
        lines = Lines([el], excitation_kev, (max(lo - 1.0, 0.1), hi + 1.0), merge_kev=0.0,
                      min_rel=1e-3)
        en, it = lines.energies[el], lines.intensities[el]
        fam = np.array([lab[0] for lab in lines.labels[el]])
        for f in ("K", "L", "M"):
            m = fam == f
            if not m.any():
                continue
            e, w = en[m], it[m] * (weight(en[m]) if weight is not None else 1.0)
            if lo <= e[np.argmax(w)] <= hi:
                out[el, f] = (e, w / w.sum())
    if not out:
        raise ValueError(f"none of {list(elements)} has a line family in {window_kev} keV")
    return out


def _gauss(det: Detector, centres, areas, sigma_scale: float = 1.0) -> np.ndarray:
    """Channel-integrated Gaussians of the given areas, widths ``sigma_scale`` x detector's."""
    from scipy.special import erf

    edges = det.zero + det.gain * (np.arange(det.n_channels + 1) - 0.5)
    c = np.asarray(centres, dtype=float)[:, None]
    s = sigma_scale * det.sigma(c) * np.sqrt(2.0)
    return np.asarray(areas, dtype=float) @ np.diff(0.5 * erf((edges[None] - c) / s), axis=1)


def _columns(det: Detector, fams: dict, excitation_kev: float, window_kev, continuum_kev: float,
             escape: bool, scatter: bool, pileup_of: np.ndarray | None):
    """The design matrix (n_channels, k) and the name of each column."""
    cols, names = [], []
    for key, (e, w) in fams.items():
        col = _gauss(det, e, w)
        if escape:
            f = escape_fraction(e)
            ok = f > 0
            for esc_kev, share in _si_k_lines():
                col = col + _gauss(det, e[ok] - esc_kev, w[ok] * f[ok] * share)
        cols.append(col), names.append(key)
    if scatter and excitation_kev < det.energies[-1]:
        cols.append(_gauss(det, [excitation_kev], [1.0])), names.append(("scatter", "Rayleigh"))
        comp = excitation_kev / (1 + excitation_kev / ELECTRON_KEV)  # 90 degrees
        for k in (1.5, 3.0):  # Compton: broadened by the electrons' momenta
            cols.append(_gauss(det, [comp], [1.0], k)), names.append(("scatter", f"Compton{k:g}"))
    e = det.energies
    lo, hi = window_kev
    n = int(np.ceil((hi - lo) / continuum_kev)) + 1
    centres = np.linspace(lo, hi, n)
    width = (hi - lo) / (n - 1)
    for i, c in enumerate(centres):
        cols.append(np.exp(-0.5 * ((e - c) / width) ** 2))
        names.append(("continuum", str(i)))
    if pileup_of is not None:
        cols.append(_pileup(pileup_of, det)), names.append(("pile-up", "sum"))
    return np.stack(cols, 1), names


def _pileup(y: np.ndarray, det: Detector) -> np.ndarray:
    """Shape of the sum peaks: the spectrum convolved with itself on the energy axis
    (channel ``i`` + channel ``j`` lands at ``i + j + zero / gain``), unit total."""
    n = len(y)
    conv = np.convolve(y, y)[: 2 * n]
    pos = np.arange(n) - det.zero / det.gain  # where channel c's energy sits in conv
    out = np.interp(pos, np.arange(len(conv)), conv, left=0.0, right=0.0)
    return out / max(out.sum(), 1e-30)


# --------------------------------------------------------------------------- the fit
@dataclass
class SpectrumFit:
    """Result of :func:`fit_spectrum`.

    Attributes
    ----------
    areas, sigmas : dict (element, family) -> float
        Fitted photopeak area of each line family (counts) and its standard error.
    detector : Detector
        The fitted calibration and resolution.
    model, residual : ndarray, shape (n_channels,)
        The fitted spectrum and ``counts - model`` (zero outside the fitted channels).
    parts : dict str -> ndarray (n_channels,)
        The model's parts: each family, 'continuum', 'scatter', 'pile-up'.
    channels : (int, int)
        First and last channel fitted.
    chi2 : float
        Reduced chi-square, ``sum (y - m)^2 / max(y, 1) / (n - p)`` over the fitted channels.
    lines : dict (element, family) -> (energies (n,) keV, intensities (n,))
        The lines of each family as fitted (intensities sum to 1).
    """

    areas: dict
    sigmas: dict
    detector: Detector
    model: np.ndarray = field(repr=False)
    residual: np.ndarray = field(repr=False)
    parts: dict = field(repr=False)
    channels: tuple
    chi2: float
    lines: dict = field(repr=False, default_factory=dict)

    def element_area(self, element: str, family: str = "K") -> float:
        """Area of one family of one element (0 when it was not fitted)."""
        return float(self.areas.get((element, family), 0.0))

    def detected(self, n_sigma: float = 3.0) -> list[str]:
        """Elements with a family area above ``n_sigma`` standard errors, the errors scaled
        by ``sqrt(max(chi2, 1))`` (a model that misfits more than Poisson noise is less sure
        of its areas than the Poisson errors say), in the order of the fitted elements."""
        k = n_sigma * np.sqrt(max(self.chi2, 1.0))
        out: list[str] = []
        for (el, _), a in self.areas.items():
            if a > k * self.sigmas[el, _] and el not in out:
                out.append(el)
        return out


def _check_counts(counts) -> np.ndarray:
    if not isinstance(counts, np.ndarray):
        raise TypeError(f"counts must be a NumPy array (n_channels,), got {type(counts).__name__}")
    y = np.asarray(counts, dtype=float)
    if y.ndim != 1 or len(y) < 64:
        raise ValueError(f"counts must be one spectrum, shape (n_channels,) with n_channels >= 64, "
                         f"got shape {y.shape}")
    if not np.isfinite(y).all() or (y < 0).any():
        raise ValueError("counts must be finite and >= 0 (raw counts per channel)")
    return y


def fit_spectrum(counts: np.ndarray, elements: Sequence[str], detector: Detector | None = None,
                 excitation_kev: float = 20.0, channels: tuple[int, int] | None = None,
                 weight: Callable | None = None, continuum_kev: float = 1.5, escape: bool = True,
                 pileup: bool = True, scatter: bool = True,
                 fit_calibration: bool = True) -> SpectrumFit:
    """Fit one measured spectrum: line-family areas, calibration, resolution.

    The model is, channel by channel, ``sum_f a_f g_f + continuum + scatter + pile-up``:
    ``g_f`` the lines of family ``f`` (xraylib intensities times ``weight``, Gaussians of
    the detector's width, each with its Si escape peaks when ``escape``), a continuum of
    non-negative Gaussian bumps ``continuum_kev`` apart (and as wide), a Rayleigh and a
    Compton peak at the excitation when ``scatter``, and sum peaks (the measured spectrum
    of the fitted channels convolved with itself, when ``pileup``). Amplitudes are the
    non-negative least squares with Poisson weights; zero, gain, noise and Fano minimise
    the chi-square left (``scipy.optimize.least_squares`` on the variable-projection
    residual), from the values of ``detector``.

    Parameters
    ----------
    counts : ndarray, shape (n_channels,)
        Raw counts.
    elements : sequence of str
        Element symbols; each contributes its K, L, M families inside the fitted range.
    detector : Detector, optional
        Starting calibration and resolution (default ``Detector(n_channels)``). The fit
        refines them locally: the start must put each line within about one FWHM of its
        channel (a two-point calibration on two known peaks does).
    excitation_kev : float
        Energy of the exciting beam (line intensities, scatter peaks).
    channels : (int, int), optional
        First and last channel fitted (default: 0.8 keV to the excitation or the end).
    weight : callable, optional
        ``weight(E) -> (n,)`` relative detection of a line at ``E`` keV (efficiency,
        absorption; e.g. :func:`transmission`, :func:`thick_sample`); default
        :func:`~mbdl_teach.xrf.efficiency` of the course's detector.
    continuum_kev : float
        Spacing and width of the continuum's bumps. They must be broader than a line family
        (K-alpha to K-beta is under 1 keV up to Zn) or they take its counts; 1.5 keV.
    escape, pileup, scatter : bool
        Model the Si escape peaks, the sum peaks, the scatter peaks.
    fit_calibration : bool
        False keeps ``detector``'s zero, gain, noise and Fano (a purely linear fit).

    Returns
    -------
    SpectrumFit
    """
    from scipy.optimize import least_squares, nnls

    y = _check_counts(counts)
    if isinstance(elements, str):
        elements = [elements]
    elements = list(elements)
    if not elements:
        raise ValueError("elements must name at least one element")
    if any(not isinstance(el, str) for el in elements):
        raise TypeError(f"elements must be element symbols (str), got {elements}")
    if detector is not None and not isinstance(detector, Detector):
        raise TypeError(f"detector must be an xrf.Detector, got {type(detector).__name__}")
    if not excitation_kev > 0:
        raise ValueError(f"excitation_kev must be positive, got {excitation_kev}")
    det = replace(detector) if detector is not None else Detector(len(y))
    if det.n_channels != len(y):
        raise ValueError(f"counts has {len(y)} channels but the detector's calibration has "
                         f"{det.n_channels}")
    if channels is None:
        top = min(excitation_kev + 1.0, float(det.energies[-1]))
        channels = (int(np.ceil(det.channel(0.8))), int(np.floor(det.channel(top))))
    lo, hi = (int(c) for c in channels)
    if not 0 <= lo < hi < len(y) or hi - lo < 32:
        raise ValueError(f"channels must be (first, last) with 0 <= first < last < {len(y)} and "
                         f"at least 32 channels, got {channels}")
    if not continuum_kev > 0:
        raise ValueError(f"continuum_kev must be positive, got {continuum_kev}")
    weight = weight if weight is not None else efficiency
    win = (float(det.zero + det.gain * lo), float(det.zero + det.gain * hi))
    fams = family_lines(elements, excitation_kev, win, weight)
    sl = slice(lo, hi + 1)
    w = 1.0 / np.sqrt(np.maximum(y[sl], 1.0))

    inside = np.zeros_like(y)
    inside[sl] = y[sl]  # pile-up of the photons in the fitted range (not the noise peak at 0)

    def solve(theta):
        d = replace(det, zero=theta[0], gain=theta[1], noise=abs(theta[2]), fano=abs(theta[3]))
        A, names = _columns(d, fams, excitation_kev, win, continuum_kev, escape, scatter,
                            inside if pileup else None)
        Aw = A[sl] * w[:, None]
        scale = np.linalg.norm(Aw, axis=0)
        scale[scale == 0] = 1.0
        x = nnls(Aw / scale, y[sl] * w, maxiter=50 * A.shape[1])[0] / scale
        return d, A, names, x

    def resid(theta):
        d, A, _, x = solve(theta)
        return (y[sl] - A[sl] @ x) * w

    theta0 = np.array([det.zero, det.gain, det.noise, det.fano])
    if fit_calibration:
        step = np.array([det.gain, 1e-3 * det.gain, 0.01, 0.01])  # typical scales
        sol = least_squares(resid, theta0, x_scale=step, diff_step=1e-4, method="trf")
        theta0 = sol.x
    d, A, names, x = solve(theta0)
    model = A @ x
    r = np.zeros_like(y)
    r[sl] = y[sl] - model[sl]
    n_free = int((x > 0).sum()) + (4 if fit_calibration else 0)
    chi2 = float(((r[sl] * w) ** 2).sum() / max(hi - lo + 1 - n_free, 1))
    # standard errors: the weighted normal matrix of the free amplitudes (Poisson)
    act = np.nonzero(x > 0)[0]
    Aw = A[sl][:, act] * w[:, None]
    cov = np.linalg.pinv(Aw.T @ Aw)
    sd = np.zeros(len(x))
    sd[act] = np.sqrt(np.clip(np.diag(cov), 0, None))
    areas, sigmas, parts = {}, {}, {}
    for i, key in enumerate(names):
        part = A[:, i] * x[i]
        if key[0] in ("continuum", "scatter", "pile-up"):
            parts[key[0]] = parts.get(key[0], 0.0) + part
        else:
            areas[key], sigmas[key] = float(x[i]), float(sd[i])
            parts[f"{key[0]} {key[1]}"] = part
    return SpectrumFit(areas, sigmas, d, model, r, parts, (lo, hi), chi2, fams)


# --------------------------------------------------------------------------- PyMca
def _require_pymca():
    try:
        import PyMca5
    except ImportError as err:
        raise ImportError("this needs PyMca, the 'xrf' extra: pip install 'mbdl-teach[xrf]' "
                          "(or pip install pymca5)") from err
    return PyMca5


def _pymca_data(name: str) -> str:
    PyMca5 = _require_pymca()
    path = os.path.join(os.path.dirname(PyMca5.__file__), "PyMcaData", name)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{name} is not in PyMca's data folder {os.path.dirname(path)}")
    return path


def pymca_example(name: str = "Steel.spe"):
    """A spectrum or fit configuration shipped with PyMca, read from the installed package.

    ``'Steel.spe'`` (2048 channels) and ``'XRFSpectrum.mca'`` (4096 channels) give the
    counts, ndarray (n_channels,); ``'Steel.cfg'`` and ``'McaTheory.cfg'`` give PyMca's
    configuration (a dict).
    """
    path = _pymca_data(name)
    if name.endswith(".cfg"):
        from PyMca5.PyMcaIO import ConfigDict

        cfg = ConfigDict.ConfigDict()
        cfg.read(path)
        return cfg
    if name.endswith(".spe"):
        with open(path) as f:
            text = f.read()
        vals = text.split("$DATA:")[1].split()
        n0, n1 = int(vals[0]), int(vals[1])
        return np.array(vals[2: 2 + n1 - n0 + 1], dtype=float)
    return np.loadtxt(path, comments="#", dtype=float)


def pymca_fit(counts: np.ndarray, config: dict, channels: tuple[int, int] | None = None) -> dict:
    """PyMca's own fit of one spectrum (``McaTheory``, headless) with its configuration.

    Returns
    -------
    dict
        ``areas`` {group name ('Fe Ka', 'Cr K'): counts}, ``sigmas``, ``chi2`` (PyMca's
        reduced chi-square), ``detector`` (its fitted calibration), ``model`` and
        ``channels`` (first, last).
    """
    y = _check_counts(counts)
    _require_pymca()
    from PyMca5.PyMcaPhysics.xrf import ClassMcaTheory

    fit = config["fit"]
    lo, hi = channels if channels is not None else (int(fit["xmin"]), int(fit["xmax"]))
    mca = ClassMcaTheory.McaTheory()
    mca.setConfiguration(config)
    mca.setData(x=np.arange(len(y), dtype=float), y=y, xmin=lo, xmax=hi)
    mca.estimate()
    _, res = mca.startfit(digest=1)
    par = dict(zip(res["parameters"], res["fittedpar"]))
    det = Detector(len(y), float(par["Zero"]), float(par["Gain"]), float(par["Noise"]),
                   float(par["Fano"]))
    model = np.zeros_like(y)
    x = np.asarray(res["xdata"], dtype=int)
    model[x] = res["yfit"]
    return dict(areas={g: float(res[g]["fitarea"]) for g in res["groups"]},
                sigmas={g: float(res[g]["sigmaarea"]) for g in res["groups"]},
                chi2=float(res["chisq"]), detector=det, model=model,
                channels=(int(x[0]), int(x[-1])))


def pymca_peaks(counts: np.ndarray, detector: Detector, channels: tuple[int, int],
                sensitivity: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """PyMca's peak search (``SpecfitFuns.seek``, the one its fit uses to look for missed
    peaks) with the detector's FWHM at the middle of the range.

    Returns
    -------
    energies : ndarray (P,) keV; heights : ndarray (P,) counts at each peak's channel
    """
    y = _check_counts(counts)
    _require_pymca()
    from PyMca5.PyMcaMath.fitting import SpecfitFuns

    lo, hi = channels
    mid = detector.zero + detector.gain * 0.5 * (lo + hi)
    fwhm = float(detector.fwhm(mid) / detector.gain)
    idx = np.asarray(SpecfitFuns.seek(y, int(lo), int(hi), fwhm, float(sensitivity)), dtype=int)
    return detector.zero + detector.gain * idx, y[idx]


def pymca_setup(config: dict, n_channels: int) -> dict:
    """What a PyMca configuration tells :func:`fit_spectrum`: elements, excitation, starting
    detector, channels, and a ``weight`` from its attenuators (layers between sample and
    detector, the detector's window and crystal, the thick-sample matrix).

    Returns
    -------
    dict of keyword arguments for :func:`fit_spectrum`
    """
    missing = [k for k in ("fit", "detector", "peaks") if k not in config]
    if missing:
        raise ValueError(f"a PyMca configuration needs the sections {missing} "
                         "(read one with pymca_example('Steel.cfg') or PyMca's ConfigDict)")
    fit, d, att = config["fit"], config["detector"], config.get("attenuators", {})
    energy = [e for e, f in zip(np.atleast_1d(fit["energy"]), np.atleast_1d(fit["energyflag"]))
              if e is not None and f]
    if not energy:
        raise ValueError("the configuration names no excitation energy")
    det = Detector(n_channels, float(d["zero"]), float(d["gain"]), float(d["noise"]),
                   float(d["fano"]))
    materials = config.get("materials", {})

    def comp(name):
        if name in materials:
            m = materials[name]
            names = np.atleast_1d(m["CompoundList"])
            fr = np.atleast_1d(m["CompoundFraction"]).astype(float)
            out: dict = {}
            for n, f in zip(names, fr):  # a compound of formulas: mass fractions of elements
                import xraylib as xrl

                c = xrl.CompoundParser(str(n))
                for z, mf in zip(c["Elements"], c["massFractions"]):
                    sym = xrl.AtomicNumberToSymbol(int(z))
                    out[sym] = out.get(sym, 0.0) + f * mf
            return out
        return "".join(ch for ch in name if not ch.isdigit()) or name

    layers, crystal, matrix = [], None, None
    for key, v in att.items():
        if not int(v[0]):
            continue
        if key == "Detector":
            crystal = (comp(v[1]), float(v[2]), float(v[3]))
        elif key == "Matrix":
            matrix = (comp(v[1]), (float(v[4]), float(v[5])))
        elif not key.startswith("BeamFilter"):  # beam filters act before the sample
            layers.append((comp(v[1]), float(v[2]), float(v[3])))
    e0 = float(energy[0])

    def weight(e):
        out = transmission(e, layers)
        if crystal is not None:
            out = out * (1 - transmission(e, [crystal]))
        return out * thick_sample(e, matrix[0], e0, matrix[1]) if matrix is not None else out

    return dict(elements=list(config["peaks"].keys()), detector=det, excitation_kev=e0,
                channels=(int(fit["xmin"]), int(fit["xmax"])), weight=weight)
