"""Our light-field PSF against pyolaf's, the field's open implementation (pyolaf 0.2.1).

Measured on the default optics (20x / 0.5 NA, 15 px and 3 voxels per lenslet), all 15 depths
-35..35 um: our PSF at ``oversample=1`` (pyolaf's sampling) against corrected pyolaf
(lenslets in air, points on their voxels) correlates 0.9993-1.0000 per depth (0.9993 at
-35 um, 0.9999 in focus, 0.9996 at +35 um); pyolaf as it is correlates 0.94 in focus and
0.10 / 0.47 at -35 / +35 um. The tolerance 0.998 leaves room for quadrature and library
differences, and is far above what either of pyolaf's two slips alone allows (at most
0.91 in focus, 0.27-0.67 at +-35 um). About 10 s in all: one 3-depth optics, computed once.
"""

import sys

import numpy as np
import pytest
import torch

from mbdl_teach.lfm.optics import Optics, psf
from mbdl_teach.lfm.reference import psf_correlation, pyolaf_psf

#: Three depths, -35, 0 and +35 um; default pixels (15), voxels (3) and window (7 lenslets).
OPTICS = Optics(n_depths=3)
TOLERANCE = 0.998  # measured minimum 0.9993 over all 15 default depths
MARGIN = 0.3  # measured gaps corrected - as-is: 0.90 at -35 um, 0.53 at +35 um


@pytest.fixture(scope="module")
def ours():
    """Our PSF sampled as pyolaf samples it: one field sample per pixel."""
    return psf(Optics(n_depths=3, oversample=1))


@pytest.fixture(scope="module")
def corrected():
    return pyolaf_psf(OPTICS, corrected=True)


@pytest.fixture(scope="module")
def as_is():
    return pyolaf_psf(OPTICS, corrected=False)


def test_shapes_match(ours, corrected, as_is):
    for p in (corrected, as_is):
        assert p.shape == ours.shape == (3, 3, 3, 105, 105)
        assert p.dtype == torch.float64
        assert torch.isfinite(p).all() and (p >= 0).all()
        # pyolaf scales each pattern to sum 1 over its window, a little wider than ours
        sums = p.sum(dim=(-2, -1))
        assert (sums <= 1 + 1e-9).all() and (sums > 0.9).all()


def test_corrected_pyolaf_matches_ours(ours, corrected):
    r = psf_correlation(ours, corrected)
    assert r.shape == (3,)
    assert (r >= TOLERANCE).all(), f"correlation per depth {r.tolist()}"


def test_pyolaf_as_is_is_worse_off_focus(ours, corrected, as_is):
    r_fix = psf_correlation(ours, corrected)
    r_raw = psf_correlation(ours, as_is)
    for d in (0, -1):  # the outermost depths, -35 and +35 um
        assert r_raw[d] <= r_fix[d] - MARGIN, (r_raw.tolist(), r_fix.tolist())
    assert r_raw[1] < TOLERANCE  # even in focus (0.94) it is off


def test_points_sit_on_their_voxels(corrected, as_is):
    """The central voxel is on the lenslet axis: its pattern is mirror-symmetric once the
    voxel offset is fixed; as-is pyolaf puts the point one pixel off (2 // 0.2 == 9.0)."""
    for p, symmetric in ((corrected, True), (as_is, False)):
        centre = p[:, 1, 1]
        flipped = centre.flip(-1).flip(-2)
        err = ((centre - flipped).norm() / centre.norm()).item()
        # measured: 1e-5 (pyolaf's single-precision frequencies) against 0.6-1.4
        assert (err < 1e-3) if symmetric else (err > 0.3), err
    # the other voxels are mirror images of the quarter pyolaf computes
    assert torch.equal(corrected[:, 2, 0], corrected[:, 0, 0].flip(-2))
    assert torch.equal(corrected[:, 0, 2], corrected[:, 0, 0].flip(-1))


def test_depth_subsets(corrected):
    by_value = pyolaf_psf(OPTICS, corrected=True, depths=np.array([35.0]))
    # pyolaf conjugates the field of -35 um for +35 um when both are asked: equal to rounding
    torch.testing.assert_close(by_value, corrected[2:], rtol=1e-9, atol=1e-12)
    with pytest.raises(IndexError, match="0..2"):
        pyolaf_psf(OPTICS, depths=[3])
    with pytest.raises(TypeError):
        pyolaf_psf(OPTICS, depths=[True])
    with pytest.raises(ValueError):
        pyolaf_psf(OPTICS, depths=[])


def test_bad_input():
    with pytest.raises(TypeError, match="Optics"):
        pyolaf_psf({"magnification": 20})
    with pytest.raises(TypeError, match="Optics"):
        pyolaf_psf(None)
    with pytest.raises(TypeError, match="bool"):
        pyolaf_psf(OPTICS, corrected="yes")
    with pytest.raises(ValueError, match="voxels"):
        pyolaf_psf(Optics(n_depths=1, voxels=2))  # pyolaf's voxels sit on whole pixels


def test_missing_pyolaf_says_how_to_install(monkeypatch):
    for name in ("pyolaf", "pyolaf.geometry", "pyolaf.lf"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install pyolaf==0\.2\.1"):
        pyolaf_psf(OPTICS)


def test_psf_correlation():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(4, 3, 3, 5, 5, generator=g, dtype=torch.float64)
    b = torch.rand(4, 3, 3, 5, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(psf_correlation(a, a), torch.ones(4, dtype=torch.float64))
    # one scale and offset per depth do not matter; a sign flips it
    scaled = a * torch.tensor([1.0, 2.0, 0.5, 7.0]).view(4, 1, 1, 1, 1) + 3.0
    torch.testing.assert_close(psf_correlation(a, scaled), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(psf_correlation(a, -a), -torch.ones(4, dtype=torch.float64))
    r = psf_correlation(a, b)
    assert r.shape == (4,) and r.dtype == torch.float64 and (r.abs() < 0.5).all()
    # per depth: equals numpy's Pearson correlation of the flattened stacks
    ref = [np.corrcoef(a[d].flatten().numpy(), b[d].flatten().numpy())[0, 1] for d in range(4)]
    np.testing.assert_allclose(r.numpy(), ref, rtol=1e-12)
    assert torch.isnan(psf_correlation(torch.ones(2, 3), torch.rand(2, 3, generator=g)))[0]
    assert torch.allclose(psf_correlation(a.numpy(), a), torch.ones(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="same shape"):
        psf_correlation(a, b[:3])
    with pytest.raises(ValueError):
        psf_correlation(torch.ones(3), torch.ones(3))
