"""Tests of mbdl_teach.xrf.spectrum: fitting one measured spectrum (chapter 09)."""

import sys

import numpy as np
import pytest

pytest.importorskip("xraylib")

from mbdl_teach import xrf  # noqa: E402
from mbdl_teach.xrf.physics import (_escape_fraction, continuum, efficiency,  # noqa: E402
                                    fine_response)

TAIL = 0.04  # the finer model's low-energy tail: the share of a line a Gaussian cannot place
TAIL_SLOPE_KEV = 0.25  # its decay length


@pytest.fixture(scope="module")
def synthetic():
    """A spectrum from the finer detector model (efficiency, tails, escape peaks, every
    line unmerged, a continuum, Poisson counts), and a fit from a perturbed start."""
    det = xrf.Detector(n_channels=1024, zero=-0.05, gain=0.02, noise=0.08, fano=0.114)
    els, e0 = ["Ti", "Cr", "Mn", "Fe", "Ni", "Cu", "Pb"], 20.0
    lo, hi = 60, 1000
    fams = xrf.family_lines(els, e0, (det.zero + det.gain * lo, det.zero + det.gain * hi),
                            efficiency)
    rng = np.random.default_rng(0)
    true = {k: float(a) for k, a in zip(fams, rng.uniform(2e4, 2e5, len(fams)))}
    mean = 0.3 * sum(true.values()) * continuum(det, e0)
    for k, (e, w) in fams.items():  # w: the share of the family's counts in each line
        mean = mean + fine_response(det, e, true[k] * w / efficiency(e), tail=TAIL,
                                    tail_slope_kev=TAIL_SLOPE_KEV)
    y = rng.poisson(mean).astype(float)
    start = xrf.Detector(1024, zero=-0.02, gain=0.0201, noise=0.1, fano=0.13)
    fit = xrf.fit_spectrum(y, els, start, e0, channels=(lo, hi))
    return det, fams, true, fit, y, els


def test_recovers_areas_of_the_finer_model(synthetic):
    det, fams, true, fit, *_ = synthetic
    assert set(fit.areas) == set(fams)
    for k, (e, w) in fams.items():
        esc = float((w * _escape_fraction(e)).sum())
        photopeak = true[k] * (1 - TAIL - esc)
        # the Gaussian takes the photopeak and at most all of the tail; 3 standard errors
        lo, hi = photopeak - 3 * fit.sigmas[k], photopeak + TAIL * true[k] + 3 * fit.sigmas[k]
        assert lo <= fit.areas[k] <= hi, (k, fit.areas[k], photopeak)
        assert 0 < fit.sigmas[k] < 0.02 * true[k]


def test_recovers_calibration_and_resolution(synthetic):
    det, _, _, fit, y, els = synthetic
    ch = np.arange(*fit.channels)
    err = np.abs(fit.detector.zero + fit.detector.gain * ch - det.energies[ch])
    assert err.max() < TAIL * TAIL_SLOPE_KEV  # a tail pulls a centre by at most its mean shift
    for e in (3.0, 6.0, 10.0, 15.0):  # the tail widens the core by at most its share
        assert abs(fit.detector.fwhm(e) / det.fwhm(e) - 1) < TAIL
    # the fitted calibration explains the spectrum at least as well as the true one
    at_truth = xrf.fit_spectrum(y, els, det, 20.0, channels=fit.channels, fit_calibration=False)
    chisq = [float((f.residual**2 / np.maximum(y, 1)).sum()) for f in (fit, at_truth)]
    assert chisq[0] <= chisq[1] * (1 + 1e-3)  # up to the optimiser's tolerance
    lo, hi = fit.channels
    assert np.all(fit.residual[:lo] == 0) and np.all(fit.residual[hi + 1:] == 0)


def test_linear_fit_keeps_the_detector(synthetic):
    det, fams, true, *_ = synthetic
    y = np.zeros(1024)
    for k, (e, w) in fams.items():
        y += det.peaks(e, true[k] * w)
    fit = xrf.fit_spectrum(np.round(y), list({k[0]: 0 for k in fams}), det, 20.0,
                           channels=(60, 1000), fit_calibration=False, escape=False,
                           pileup=False)
    assert fit.detector == det
    for k in fams:
        assert abs(fit.areas[k] / true[k] - 1) < 0.01


def test_bad_input_gives_clear_errors():
    det = xrf.Detector(512)
    y = np.ones(512)
    with pytest.raises(TypeError, match="NumPy array"):
        xrf.fit_spectrum(list(y), ["Fe"], det)
    with pytest.raises(ValueError, match="one spectrum"):
        xrf.fit_spectrum(np.ones((2, 512)), ["Fe"], det)
    with pytest.raises(ValueError, match=">= 0"):
        xrf.fit_spectrum(-y, ["Fe"], det)
    with pytest.raises(ValueError, match="512 channels but the detector's calibration has 1024"):
        xrf.fit_spectrum(y, ["Fe"], xrf.Detector(1024))
    with pytest.raises(ValueError, match="channels must be"):
        xrf.fit_spectrum(y, ["Fe"], det, channels=(400, 600))
    with pytest.raises(ValueError, match="at least one element"):
        xrf.fit_spectrum(y, [], det)
    with pytest.raises(ValueError, match="unknown element symbol"):
        xrf.fit_spectrum(y, ["Xx"], det)
    with pytest.raises(ValueError, match="continuum_kev"):
        xrf.fit_spectrum(y, ["Fe"], det, continuum_kev=0)
    with pytest.raises(TypeError, match="composition"):
        xrf.transmission([5.0], [(3, 1.0, 1.0)])
    with pytest.raises(TypeError, match="xrf.Detector"):
        xrf.fit_spectrum(y, ["Fe"], "Si")
    with pytest.raises(ValueError, match="sections"):
        xrf.pymca_setup({"fit": {}}, 512)


def test_absorption_helpers_follow_xraylib():
    import xraylib as xrl

    t = xrf.transmission([6.0], [("Be", 1.848, 0.002)])[0]
    assert abs(t - np.exp(-xrl.CS_Total(4, 6.0) * 1.848 * 0.002)) < 1e-12
    same = xrf.transmission([6.0], [({"Fe": 0.5, "Ni": 0.5}, 1.0, 1e-3)])[0]
    mix = np.exp(-0.5 * (xrl.CS_Total(26, 6.0) + xrl.CS_Total(28, 6.0)) * 1e-3)
    assert abs(same - mix) < 1e-12
    # escape: none below the Si K edge, about half a per cent at 5-6 keV, falling above
    f = xrf.escape_fraction([1.5, 5.4, 10.0, 17.0])
    assert f[0] == 0 and 0.002 < f[1] < 0.01 and f[1] > f[2] > f[3] > 0


def test_missing_pymca_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "PyMca5", None)
    with pytest.raises(ImportError, match=r"xrf.*pip install"):
        xrf.pymca_example("Steel.spe")
    with pytest.raises(ImportError, match=r"xrf.*pip install"):
        xrf.pymca_fit(np.ones(512), {"fit": {}})


# --------------------------------------------------------------------------- Steel.spe
@pytest.fixture(scope="module")
def steel():
    pytest.importorskip("PyMca5")
    y = xrf.pymca_example("Steel.spe")
    cfg = xrf.pymca_example("Steel.cfg")
    ref = xrf.pymca_fit(y, cfg)
    ours = xrf.fit_spectrum(y, **xrf.pymca_setup(cfg, len(y)))
    return y, ref, ours


def test_steel_files_are_read_from_pymca(steel):
    y, ref, _ = steel
    assert y.shape == (2048,) and abs(y.sum() - 5.607e6) < 1e3
    assert ref["channels"] == (200, 1432)
    assert abs(ref["chi2"] - 13.1) < 0.5  # PyMca's own report for this spectrum


def test_steel_major_elements_agree_with_pymca(steel):
    _, ref, ours = steel
    a = ref["areas"]
    pymca = {"Cr": a["Cr K"], "Mn": a["Mn K"], "Fe": a["Fe Ka"] + a["Fe Kb"], "Ni": a["Ni K"]}
    for el, want in pymca.items():
        assert abs(ours.element_area(el, "K") / want - 1) < 0.05, el
    assert ours.channels == ref["channels"]
    assert ours.chi2 <= 1.5 * ref["chi2"]
    # the calibration was fitted from the spectrum: PyMca's within a tenth of a channel
    ch = np.arange(*ours.channels)
    d, p = ours.detector, ref["detector"]
    assert np.abs((d.zero - p.zero) + (d.gain - p.gain) * ch).max() < 0.1 * p.gain
