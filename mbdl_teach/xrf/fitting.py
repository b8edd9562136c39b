"""Element maps by window integration (ROI), non-negative least squares and PyMca.

Every method takes ``(cube, lines, detector)`` and returns ``{element: map (H, W)}`` in
counts: the number of counts the element's lines (total area, as :class:`Lines` normalises
them) contribute to the pixel.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import solvers
from ..operators import MatrixOperator
from .physics import Detector, Lines, check_cube

__all__ = ["roi_maps", "nnls_maps", "nnls_fista", "pymca_maps", "map_scores", "library_operator"]


def _as_pixels(cube, detector: Detector, dtype=torch.float64) -> tuple[torch.Tensor, tuple]:
    check_cube(cube, detector)
    t = cube if isinstance(cube, torch.Tensor) else torch.from_numpy(np.asarray(cube))
    H, W, C = t.shape
    return t.reshape(H * W, C).to(dtype), (H, W)


def _check_lines(lines, detector):
    if not isinstance(lines, Lines):
        raise TypeError(f"lines must be an xrf.Lines, got {type(lines).__name__}")
    if not isinstance(detector, Detector):
        raise TypeError(f"detector must be an xrf.Detector, got {type(detector).__name__}")


def _to_maps(x: torch.Tensor, lines: Lines, hw) -> dict[str, np.ndarray]:
    return {el: x[:, i].reshape(hw).cpu().numpy().astype(np.float64)
            for i, el in enumerate(lines.elements)}


def roi_maps(cube, lines: Lines, detector: Detector, width: float = 1.0,
             subtract_background: bool = True) -> dict[str, np.ndarray]:
    """ROI maps: counts in a window of ``width`` FWHM around each element's strongest line,
    minus a linear background from the two flanking windows, divided by the share of the
    element's lines the window holds. Overlapping lines of other elements are counted too:
    the naive baseline.
    """
    _check_lines(lines, detector)
    y, hw = _as_pixels(cube, detector)
    e = detector.energies
    out = {}
    for el in lines.elements:
        e0 = lines.main_line(el)
        half = 0.5 * width * float(detector.fwhm(e0))
        inside = (e >= e0 - half) & (e <= e0 + half)
        if not inside.any():
            raise ValueError(f"{el}'s window at {e0:.3f} keV lies outside the detector's range")
        val = y[:, torch.from_numpy(inside)].sum(1)
        if subtract_background:
            n = int(inside.sum())
            lo = torch.from_numpy((e < e0 - half) & (e >= e0 - half - 0.5 * half))
            hi = torch.from_numpy((e > e0 + half) & (e <= e0 + half + 0.5 * half))
            flank = [y[:, m].mean(1) for m in (lo, hi) if m.any()]
            if flank:
                val = val - n * torch.stack(flank).mean(0)
        frac = float(detector.peaks(lines.energies[el], lines.intensities[el])[inside].sum())
        out[el] = (val.clamp(min=0) / frac).reshape(hw).numpy()
    return out


def library_operator(lines: Lines, detector: Detector, n_background: int = 6,
                     dtype=torch.float64) -> MatrixOperator:
    """The line library as a :class:`~mbdl_teach.operators.MatrixOperator`: ``A x`` maps
    amounts (B, n_elements + n_background) to spectra (B, n_channels)."""
    _check_lines(lines, detector)
    return MatrixOperator(detector.library(lines, n_background, dtype))


def nnls_fista(y: torch.Tensor, op: MatrixOperator, n_iter: int = 300,
               x0: torch.Tensor | None = None) -> torch.Tensor:
    """min_x>=0 0.5 ||y - A x||^2 for a batch y (B, m): projected FISTA
    (:func:`mbdl_teach.solvers.fista` with the projection on ``x >= 0``).

    The columns are scaled to unit norm first (a diagonal preconditioner): the line library
    is ill-conditioned (Pb L-alpha and As K-alpha nearly coincide) and FISTA on the raw
    columns stops far from the minimum. A tall matrix's normal map goes through its Gram
    matrix: one pass over the spectra, then n-by-n work per step.
    """
    unit, scale = op.normalized_columns()
    scale = scale.to(y.dtype).clamp(min=1e-30)
    start = None if x0 is None else x0 * scale
    x, _ = solvers.fista(y, unit, solvers.prox_nonneg(), n_iter, x0=start)
    return x / scale


def nnls_maps(cube, lines: Lines, detector: Detector, n_iter: int = 300,
              n_background: int = 6, per_pixel: bool = False) -> dict[str, np.ndarray]:
    """NNLS maps: the non-negative least-squares fit of the line library plus a smooth
    continuum to every pixel. Batched over all pixels by FISTA in torch; ``per_pixel=True``
    uses SciPy's active-set ``nnls`` pixel by pixel (the exact reference, slow)."""
    _check_lines(lines, detector)
    y, hw = _as_pixels(cube, detector)
    op = library_operator(lines, detector, n_background)
    if per_pixel:
        from scipy.optimize import nnls

        D = op.D.numpy()
        x = torch.from_numpy(np.stack([nnls(D, v)[0] for v in y.numpy()]))
    else:
        x = nnls_fista(y, op, n_iter)
    return _to_maps(x, lines, hw)


def map_scores(est: dict, truth: dict) -> dict[str, tuple[float, float]]:
    """Per element: (Pearson correlation, NMSE in dB after the best scale) of a map against
    the truth. An element missing from ``est`` scores (0, 0 dB)."""
    out = {}
    for el, t in truth.items():
        t = np.asarray(t, np.float64).ravel()
        if el not in est:
            out[el] = (0.0, 0.0)
            continue
        m = np.asarray(est[el], np.float64).ravel()
        c = float(np.corrcoef(m, t)[0, 1]) if m.std() > 0 and t.std() > 0 else 0.0
        s = float(m @ t / (m @ m)) if m @ m > 0 else 0.0
        nmse = float(10 * np.log10(((s * m - t) ** 2).sum() / (t**2).sum()))
        out[el] = (c, nmse)
    return out


# --------------------------------------------------------------------------- PyMca
def pymca_config(lines: Lines, detector: Detector) -> dict:
    """A PyMca fit configuration for the same elements, energy and detector (K, L or M
    families that have lines in the window)."""
    from PyMca5.PyMcaPhysics.xrf import ClassMcaTheory

    fam_of = {"K": "K", "L": "L", "M": "M"}
    mca = ClassMcaTheory.McaTheory()
    cfg = mca.getConfiguration()
    peaks = {}
    for el in lines.elements:
        fams = sorted({fam_of[l[0]] for l in lines.labels[el] if l[0] in fam_of})
        peaks[el] = fams if len(fams) > 1 else fams[0]
    cfg["peaks"] = peaks
    det = cfg["detector"]
    det["zero"], det["gain"] = float(detector.zero), float(detector.gain)
    det["noise"], det["fano"] = float(detector.noise), float(detector.fano)
    fit = cfg["fit"]
    fit["xmin"] = int(np.ceil(detector.channel(lines.window_kev[0])))
    fit["xmax"] = int(np.floor(detector.channel(lines.window_kev[1])))
    fit["energy"] = [float(lines.excitation_kev)]
    fit["energyweight"], fit["energyflag"] = [1.0], [1]
    fit["energyscatter"] = [0]
    fit["stripflag"], fit["stripalgorithm"] = 1, 1
    fit["linearfitflag"] = 1
    fit["escapeflag"], fit["sumflag"] = 0, 0
    fit["fitweight"] = 0
    cfg["attenuators"] = {k: v for k, v in cfg.get("attenuators", {}).items()
                          if k in ("Matrix", "BeamFilter0", "BeamFilter1", "Detector")}
    for k in cfg["attenuators"]:
        cfg["attenuators"][k][0] = 0
    return cfg


def pymca_maps(cube, lines: Lines, detector: Detector, weight: int = 0) -> dict[str, np.ndarray]:
    """PyMca's ``FastXRFLinearFit`` with a configuration made from the same elements,
    excitation and detector (:func:`pymca_config`), its own line tables and a stripped
    continuum. Maps are the peak-family areas (counts), summed over an element's families.
    """
    _check_lines(lines, detector)
    check_cube(cube, detector)
    try:
        from PyMca5.PyMcaPhysics.xrf.FastXRFLinearFit import FastXRFLinearFit
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ImportError("pymca_maps needs PyMca: pip install pymca5") from err
    arr = np.ascontiguousarray(np.asarray(cube, dtype=np.float64))
    fitter = FastXRFLinearFit()
    fitter.setFitConfiguration(pymca_config(lines, detector))
    res = fitter.fitMultipleSpectra(y=arr, weight=weight, refit=1, concentrations=0)
    names = res["names"] if isinstance(res, dict) else res.labels("parameters")
    params = res["parameters"] if isinstance(res, dict) else res["parameters"]
    out = {el: np.zeros(arr.shape[:2]) for el in lines.elements}
    for name, p in zip(names, params):
        el = str(name).split()[0]
        if el in out:
            out[el] = out[el] + np.asarray(p, dtype=np.float64)
    return out
