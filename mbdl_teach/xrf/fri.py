"""Finite-rate-of-innovation pulse extraction for XRF spectra (Prony, Cadzow).

A spectrum is a stream of Gaussian pulses whose width grows with energy. Warping the energy
axis with ``u(E) = integral dE / sigma(E)`` gives every line the same width (1 in ``u``).
Sampled at spacing ``delta``, pulses ``sum_k a_k exp(-(u_n - u_k)^2 / 2)`` times the
pre-weight ``exp(t_n^2 / 2)`` (``t_n = u_n - c``, ``c`` the window's centre) become a sum of
real exponentials ``sum_k c_k z_k^n`` with ``z_k = exp(delta (u_k - c))`` (Vetterli,
Marziliano & Blu 2002): Prony's annihilating filter finds the ``z_k``, Cadzow's iteration
denoises first, and the model order comes from the singular values (Yan et al. 2021).
"""

from __future__ import annotations

import numpy as np
import torch

from .physics import FWHM_TO_SIGMA, SI_EPSILON_KEV, Detector, Lines, background_basis, check_cube

__all__ = ["warp", "unwarp", "warped_samples", "gaussian_preweight", "annihilating_filter",
           "cadzow", "prony", "fri_pulses", "candidate_lines", "assign_pulses", "fri_maps"]


def _ab(detector: Detector) -> tuple[float, float]:
    """sigma(E)^2 = a + b E (keV^2)."""
    c = FWHM_TO_SIGMA**2  # sigma^2 = FWHM^2 / 2.3548^2
    return detector.noise**2 * c, 2.3548**2 * c * SI_EPSILON_KEV * detector.fano


def warp(energy_kev, detector: Detector):
    """Warped coordinate ``u(E) = (2 / b) sqrt(a + b E)`` with ``sigma(E)^2 = a + b E``:
    a line has width 1 in ``u`` wherever it sits."""
    a, b = _ab(detector)
    return 2.0 / b * np.sqrt(a + b * np.asarray(energy_kev, dtype=float))


def unwarp(u, detector: Detector):
    """Inverse of :func:`warp`: energy (keV) of warped coordinate ``u``."""
    a, b = _ab(detector)
    return ((b * np.asarray(u, dtype=float) / 2.0) ** 2 - a) / b


def warped_samples(spectrum, detector: Detector, delta: float = 0.5,
                   window_kev: tuple[float, float] | None = None):
    """Rebin a spectrum onto a uniform grid of the warped axis (counts preserved).

    Returns
    -------
    u : ndarray (N,) bin centres; s : ndarray (N,) counts per bin
    """
    spectrum = np.asarray(spectrum, dtype=float)
    e = detector.energies
    lo, hi = window_kev or (max(e[0], 0.3), e[-1])
    u_grid = np.arange(warp(lo, detector), warp(hi, detector), delta)
    edges_e = unwarp(np.concatenate([u_grid - delta / 2, [u_grid[-1] + delta / 2]]), detector)
    cum = np.concatenate([[0.0], np.cumsum(spectrum)])
    ch_edges = detector.zero + detector.gain * (np.arange(detector.n_channels + 1) - 0.5)
    s = np.diff(np.interp(edges_e, ch_edges, cum))
    return u_grid, s


def gaussian_preweight(samples, t, sigma: float = 1.0):
    """``samples * exp(t^2 / (2 sigma^2))``: Gaussian pulses sampled at ``t`` become a sum of
    exponentials in ``t`` (the Gaussian-kernel FRI step)."""
    return samples * np.exp(np.asarray(t) ** 2 / (2 * sigma**2))


def annihilating_filter(h, K: int) -> np.ndarray:
    """The filter ``(1, a_1, ..., a_K)`` with ``sum_i a_i h[n - i] = 0`` for n = K..N-1.

    Its roots are the ``z_k`` of ``h[n] = sum_k c_k z_k^n``. Found as the right singular
    vector of the smallest singular value of the Toeplitz matrix ``T[n, i] = h[n + K - i]``.
    """
    h = np.asarray(h)
    if len(h) < 2 * K + 1:
        raise ValueError(f"{K} exponentials need at least {2 * K + 1} samples, got {len(h)}")
    T = np.stack([h[K - i: len(h) - i] for i in range(K + 1)], 1)
    a = np.linalg.svd(T)[2][-1].conj()
    return a / a[0]


def cadzow(h, K: int, n_iter: int = 20) -> np.ndarray:
    """Cadzow's denoising: alternately make the square-ish Toeplitz matrix of ``h`` rank
    ``K`` and Toeplitz again (average along its diagonals)."""
    h = np.asarray(h, dtype=float).copy()
    N = len(h)
    L = N // 2
    for _ in range(n_iter):
        T = np.stack([h[L - i: N - i] for i in range(L + 1)], 1)
        U, s, Vt = np.linalg.svd(T, full_matrices=False)
        if len(s) <= K or s[K] <= 1e-12 * s[0]:
            break
        T = (U[:, :K] * s[:K]) @ Vt[:K]
        out, cnt = np.zeros(N), np.zeros(N)
        for i in range(L + 1):
            out[L - i: N - i] += T[:, i]
            cnt[L - i: N - i] += 1
        h = out / cnt
    return h


def prony(h, K: int | None = None, sv_tol: float = 0.05, max_order: int = 4,
          denoise: bool = True) -> np.ndarray:
    """Roots ``z_k`` of a sum of K real exponentials ``h[n]``; K from the singular values
    of the Toeplitz matrix (those above ``sv_tol`` times the largest) when not given."""
    h = np.asarray(h, dtype=float)
    if K is None:
        L = len(h) // 2
        s = np.linalg.svd(np.stack([h[L - i: len(h) - i] for i in range(L + 1)], 1),
                          compute_uv=False)
        K = int(max(1, min(max_order, (s > sv_tol * s[0]).sum())))
    K = min(K, (len(h) - 1) // 2)
    if denoise:
        h = cadzow(h, K)
    return np.roots(annihilating_filter(h, K))


def _snip(s: np.ndarray, width: int) -> np.ndarray:
    """SNIP continuum estimate (clipping with a shrinking window) on log-log counts."""
    v = np.log(np.log(np.sqrt(np.maximum(s, 0) + 1) + 1) + 1)
    for w in range(width, 0, -1):
        pad = np.pad(v, w, mode="edge")
        v = np.minimum(v, 0.5 * (pad[:-2 * w] + pad[2 * w:]))
    return (np.exp(np.exp(v) - 1) - 1) ** 2 - 1


def fri_pulses(spectrum, detector: Detector, order: int | None = None, delta: float = 0.5,
               half_width: float = 2.5, threshold: float = 4.0, sv_tol: float = 0.05,
               min_rel_amp: float = 2e-3, window_kev: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pulses (lines) of one spectrum by Gaussian-kernel FRI on the warped energy axis.

    Steps: rebin onto the warped axis (every line then has width 1); remove a SNIP
    continuum; around each local maximum more than ``threshold`` Poisson standard deviations
    above it, take the samples within ``half_width`` line widths, pre-weight them
    (:func:`gaussian_preweight`) into a sum of exponentials, and find its roots by Prony
    with Cadzow denoising (:func:`prony`; ``order`` pulses per window, or from the singular
    values). Amplitudes are the non-negative least-squares areas of those pulses in the
    window. Pulses from overlapping windows closer than 0.4 line widths are merged; pulses
    below ``min_rel_amp`` times the largest are dropped (continuum wiggles).

    Parameters
    ----------
    spectrum : array (n_channels,)
        Counts.
    detector : Detector

    Returns
    -------
    energies : ndarray (P,) keV, sorted; amplitudes : ndarray (P,) counts (line areas)
    """
    from scipy.optimize import nnls

    spectrum = np.asarray(spectrum, dtype=float)
    if spectrum.ndim != 1 or len(spectrum) != detector.n_channels:
        raise ValueError(f"spectrum must have shape ({detector.n_channels},), got "
                         f"{spectrum.shape}")
    if (spectrum < 0).any() or not np.isfinite(spectrum).all():
        raise ValueError("spectrum must hold finite counts >= 0")
    u, s = warped_samples(spectrum, detector, delta, window_kev)
    bg = np.clip(_snip(s, int(round(4 / delta))), 0, None)
    x = s - bg
    sd = np.sqrt(np.maximum(s, 1.0))
    M = int(round(half_width / delta))
    peaks = [n for n in range(1, len(x) - 1)
             if x[n] >= x[n - 1] and x[n] > x[n + 1] and x[n] > threshold * sd[n]]
    found = []  # (u_k, area, distance to window centre)
    for n in peaks:
        lo, hi = max(0, n - M), min(len(x), n + M + 1)
        t = u[lo:hi] - u[n]
        if hi - lo < 5:
            continue
        h = gaussian_preweight(x[lo:hi], t)
        z = prony(h, order, sv_tol)
        z = np.real(z[(np.abs(np.imag(z)) < 1e-6 * np.abs(z) + 1e-9) & (np.real(z) > 0)])
        uk = u[n] + np.log(z) / delta
        uk = uk[(uk > u[lo] - 0.5) & (uk < u[hi - 1] + 0.5)]
        if not len(uk):
            continue
        G = delta / np.sqrt(2 * np.pi) * np.exp(-0.5 * (u[lo:hi, None] - uk[None]) ** 2)
        amp = nnls(G, x[lo:hi])[0]
        for uu, aa in zip(uk, amp):
            if aa > 0:
                found.append((uu, aa, abs(uu - u[n])))
    found.sort(key=lambda f: f[2])  # keep the estimate from the window centred nearest
    kept: list[tuple[float, float]] = []
    for uu, aa, _ in found:
        if all(abs(uu - k[0]) > 0.4 for k in kept):
            kept.append((uu, aa))
    kept.sort()
    if not kept:
        return np.zeros(0), np.zeros(0)
    uk, ak = map(np.array, zip(*kept))
    keep = ak >= min_rel_amp * ak.max()
    return unwarp(uk[keep], detector), ak[keep]


# --------------------------------------------------------------------------- assignment
_CANDIDATES: dict = {}
CANDIDATE_ELEMENTS = ["Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar", "K", "Ca", "Sc", "Ti",
                      "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se",
                      "Br", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Ru", "Rh", "Pd", "Ag", "Cd",
                      "In", "Sn", "Sb", "Te", "I", "Ba", "La", "Ce", "W", "Pt", "Au", "Hg",
                      "Pb", "Bi", "U"]


def candidate_lines(excitation_kev: float = 20.0, window_kev=(1.0, 19.0)) -> Lines:
    """Lines of every element a painting might hold (Na to U), for discovery."""
    key = (excitation_kev, tuple(window_kev))
    if key not in _CANDIDATES:
        els = [el for el in CANDIDATE_ELEMENTS if _has_lines(el, excitation_kev, window_kev)]
        _CANDIDATES[key] = Lines(els, excitation_kev, window_kev)
    return _CANDIDATES[key]


def _has_lines(el, excitation_kev, window_kev):
    try:
        Lines([el], excitation_kev, window_kev)
        return True
    except ValueError:
        return False


def assign_pulses(energies, amplitudes, detector: Detector, candidates: Lines | None = None,
                  tol_fwhm: float = 0.5, min_score: float = 0.7, min_rel: float = 0.05):
    """Explain pulses by elements, greedily from the strongest unexplained pulse.

    A candidate element explains a pulse when one of its lines lies within ``tol_fwhm``
    FWHM of it; its score is the share of its line intensity (lines above ``min_rel`` of its
    strongest) that has a pulse there, and its strongest line must have one. The best
    candidate scoring at least ``min_score`` is found, and every pulse near one of its lines
    is marked explained (by the element found first).

    Returns
    -------
    found : list of str, in order of discovery
    owner : list (len P) of the element explaining each pulse, or None
    """
    cand = candidates or candidate_lines()
    E = np.asarray(energies, dtype=float)
    A = np.asarray(amplitudes, dtype=float)
    owner: list = [None] * len(E)
    found: list[str] = []
    tried: set[int] = set()

    def near(e0):
        return np.abs(E - e0) <= tol_fwhm * detector.fwhm(e0)

    for p in np.argsort(-A):
        if owner[p] is not None or p in tried:
            continue
        tried.add(p)
        best, best_score = None, min_score
        for el in cand.elements:
            if el in found:
                continue
            en, it = cand.energies[el], cand.intensities[el]
            strong = it >= min_rel * it.max()
            if not any(near(e)[p] for e in en[strong]):
                continue
            if not near(en[np.argmax(it)]).any():
                continue
            hit = np.array([near(e).any() for e in en[strong]])
            score = float((it[strong] * hit).sum() / it[strong].sum())
            if score > best_score + 1e-9:
                best, best_score = el, score
        if best is None:
            continue
        found.append(best)
        en, it = cand.energies[best], cand.intensities[best]
        for e in en[it >= 0.02 * it.max()]:
            for q in np.nonzero(near(e))[0]:
                if owner[q] is None:
                    owner[q] = best
    return found, owner


def _shared(E, found, cand, detector, tol_fwhm=0.5, min_rel=0.05):
    """For each pulse, the found elements with a line (above ``min_rel``) within tolerance."""
    out = [[] for _ in E]
    for el in found:
        en, it = cand.energies[el], cand.intensities[el]
        for e in en[it >= min_rel * it.max()]:
            for q in np.nonzero(np.abs(E - e) <= tol_fwhm * detector.fwhm(e))[0]:
                if el not in out[q]:
                    out[q].append(el)
    return out


def fri_maps(cube, lines: Lines | None, detector: Detector, details: bool = False,
             n_background: int = 6, n_iter: int = 300, **pulse_kwargs):
    """Element maps with no element list: FRI pulses of the cube's sum spectrum, assigned to
    elements (:func:`assign_pulses` over :func:`candidate_lines`), then each pixel's pulse
    areas by a non-negative fit of those pulses (fixed energies) plus a continuum.

    An element's map is the areas of the pulses only it explains (a pulse that lines of two
    found elements share, Pb L-alpha and As K-alpha, is left out when the element has other
    pulses) divided by the share of its line intensity they hold (counts, like the other methods). ``lines`` only sets the excitation
    and the energy window; the elements are discovered. With ``details=True`` also returns
    a dict: ``found`` (elements), ``pulses`` (energies, amplitudes of the sum spectrum),
    ``owner``, and ``confidence`` maps: the probability that a pulse of the measured
    signal-to-noise ratio clears a 3-sigma detection, ``Phi(snr - 3)``.
    """
    from scipy.stats import norm

    from ..operators import MatrixOperator
    from .fitting import nnls_fista

    check_cube(cube, detector)
    exc, win = (lines.excitation_kev, lines.window_kev) if lines is not None else (20.0, (1.0, 19.0))
    arr = np.asarray(cube, dtype=np.float64)
    H, W, C = arr.shape
    total = arr.reshape(-1, C).sum(0)
    E, A = fri_pulses(total, detector, window_kev=win, **pulse_kwargs)
    cand = candidate_lines(exc, win)
    found, owner = assign_pulses(E, A, detector, cand)
    cols = [detector.peaks([e], [1.0]) for e in E]
    Dm = np.stack(cols + list(background_basis(detector, win, n_background).T), 1)
    y = torch.from_numpy(arr.reshape(-1, C))
    x = nnls_fista(y, MatrixOperator(torch.from_numpy(Dm)), n_iter)
    mu = x @ torch.from_numpy(Dm).T
    g2 = torch.from_numpy(Dm[:, :len(E)] ** 2)
    var = (mu.clamp(min=1.0) @ g2) / (g2.sum(0) ** 2)  # Poisson variance of each area
    maps, conf = {}, {}
    shared = _shared(E, found, cand, detector)
    for el in found:
        own = [i for i in range(len(E)) if el in shared[i]]
        idx = [i for i in own if len(shared[i]) == 1] or own
        en, it = cand.energies[el], cand.intensities[el]
        share = sum(float(it[np.argmin(np.abs(en - E[i]))]) for i in idx)
        a = x[:, idx].sum(1)
        snr = a / var[:, idx].sum(1).sqrt()
        maps[el] = (a / max(share, 1e-6)).reshape(H, W).numpy()
        conf[el] = norm.cdf(snr.numpy() - 3.0).reshape(H, W)
    if details:
        return maps, dict(found=found, pulses=(E, A), owner=owner, confidence=conf)
    return maps
