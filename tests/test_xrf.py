"""Tests of mbdl_teach.xrf (chapter 09) and its exercise checkers."""

import numpy as np
import pytest
import torch

xraylib = pytest.importorskip("xraylib")

from mbdl_teach import exercises, operators, xrf  # noqa: E402


@pytest.fixture(scope="module")
def det():
    return xrf.Detector(n_channels=1024, gain=0.02)


@pytest.fixture(scope="module")
def small_cube(det):
    return xrf.synthetic_cube(12, counts=2e4, detector=det, seed=3)


def test_line_energies_equal_xraylib():
    lines = xrf.Lines(["Pb", "Fe", "As"], merge_kev=0.0, min_rel=0.0)
    for el, line in [("Pb", xraylib.LA1_LINE), ("Fe", xraylib.KA1_LINE), ("As", xraylib.KB1_LINE),
                     ("Pb", xraylib.MA1_LINE)]:
        e = xraylib.LineEnergy(xraylib.SymbolToAtomicNumber(el), line)
        assert np.min(np.abs(lines.energies[el] - e)) < 1e-9
    assert abs(xrf.Lines(["Pb"]).main_line("Pb") - 10.5512) < 0.01
    for el in lines.elements:
        assert abs(lines.intensities[el].sum() - 1) < 1e-12


def test_merged_lines_keep_the_centroid():
    fine = xrf.Lines(["Pb"], merge_kev=0.0)
    merged = xrf.Lines(["Pb"], merge_kev=0.05)
    assert len(merged.energies["Pb"]) < len(fine.energies["Pb"])
    mean = lambda L: float((L.energies["Pb"] * L.intensities["Pb"]).sum())  # noqa: E731
    assert abs(mean(fine) - mean(merged)) < 1e-9


def test_fwhm_at_mn_kalpha(det):
    e = xraylib.LineEnergy(25, xraylib.KA1_LINE)
    want = np.sqrt(0.07**2 + 2.3548**2 * 0.00385 * 0.114 * e)
    assert abs(det.fwhm(e) - want) < 1e-12
    assert 0.13 < det.fwhm(e) < 0.15


def test_peaks_have_the_right_area_and_width(det):
    s = det.peaks([8.0], [1000.0])
    assert abs(s.sum() - 1000) < 1e-6
    e = det.energies
    m = (e * s).sum() / s.sum()
    sd = np.sqrt(((e - m) ** 2 * s).sum() / s.sum())
    assert abs(m - 8.0) < 1e-6 and abs(sd - det.sigma(8.0)) < 0.002


def test_bad_input_gives_clear_errors(det, small_cube):
    with pytest.raises(ValueError, match="unknown element symbol 'Xx'"):
        xrf.Lines(["Pb", "Xx"])
    with pytest.raises(ValueError, match="cube has 512 channels but the detector's calibration has 1024"):
        xrf.roi_maps(np.zeros((4, 4, 512)), small_cube.lines, det)
    bad = small_cube.counts.copy()
    bad[0, 0, 5] = -1
    with pytest.raises(ValueError, match="negative counts"):
        xrf.nnls_maps(bad, small_cube.lines, det)
    for value in (np.nan, np.inf, -np.inf):
        bad[0, 0, 5] = value
        with pytest.raises(ValueError, match="NaN or inf"):
            xrf.roi_maps(bad, small_cube.lines, det)
    with pytest.raises(ValueError, match=r"shape \(H, W, channels\)"):
        xrf.nnls_maps(np.zeros((4, 1024)), small_cube.lines, det)
    with pytest.raises(TypeError, match="xrf.Lines"):
        xrf.roi_maps(small_cube.counts, ["Pb"], det)


def test_cube_is_deterministic_and_counts_right(det, small_cube):
    again = xrf.synthetic_cube(12, counts=2e4, detector=det, seed=3)
    assert np.array_equal(again.counts, small_cube.counts)
    assert abs(small_cube.counts.sum(-1).mean() / 2e4 - 1) < 0.01
    assert set(small_cube.maps) == set(xrf.ELEMENTS)


@pytest.mark.parametrize("suffix", [".h5", ".npz"])
def test_cube_round_trips_through_files(tmp_path, det, small_cube, suffix):
    pytest.importorskip("h5py") if suffix == ".h5" else None
    path = tmp_path / f"cube{suffix}"
    xrf.save_cube(path, small_cube.counts, small_cube.maps, det)
    counts, maps, det2 = xrf.load_cube(path)
    assert np.array_equal(counts, small_cube.counts)
    assert set(maps) == set(small_cube.maps)
    for el in maps:
        assert np.array_equal(maps[el], small_cube.maps[el])
    assert det2 == det


def test_library_operator_is_a_matrix_operator_with_exact_adjoint(det, small_cube):
    op = xrf.library_operator(small_cube.lines, det)
    assert isinstance(op, operators.MatrixOperator)
    assert op.D.shape == (1024, len(xrf.ELEMENTS) + 6)
    assert operators.adjointness_error(op, (3, op.D.shape[1])) < 1e-10


def test_batched_nnls_equals_scipy_per_pixel(det, small_cube):
    sub = small_cube.counts[:3, :3]
    a = xrf.nnls_maps(sub, small_cube.lines, det, n_iter=3000)
    b = xrf.nnls_maps(sub, small_cube.lines, det, per_pixel=True)
    for el in a:
        assert np.allclose(a[el], b[el], rtol=2e-3, atol=0.5), el


def test_noise_free_pure_lead_is_not_read_as_arsenic(det):
    lines = xrf.Lines(xrf.ELEMENTS)
    a = np.zeros((1, len(xrf.ELEMENTS)))
    a[0, xrf.ELEMENTS.index("Pb")] = 1e5
    spec, _ = xrf.simulate_spectra(a, lines, det, fine=False)
    m = xrf.nnls_maps(spec.reshape(1, 1, -1), lines, det, n_iter=2000)
    assert abs(m["Pb"][0, 0] / 1e5 - 1) < 1e-3 and m["As"][0, 0] < 50


def test_methods_share_one_call_and_beat_chance(det, small_cube):
    c = small_cube
    for fn in (xrf.roi_maps, xrf.nnls_maps):
        maps = fn(c.counts, c.lines, det)
        assert set(maps) == set(c.lines.elements)
        assert maps["Pb"].shape == (12, 12)
        scores = xrf.map_scores(maps, c.maps)
        assert scores["Zn"][0] > 0.95
    # ROI is fooled by the planted overlap: its As map follows lead white, NNLS's does not
    roi = xrf.map_scores(xrf.roi_maps(c.counts, c.lines, det), c.maps)["As"][0]
    nnls = xrf.map_scores(xrf.nnls_maps(c.counts, c.lines, det), c.maps)["As"][0]
    assert nnls > roi + 0.3


def test_map_scores_are_scale_free():
    rng = np.random.default_rng(0)
    t = rng.random((5, 5))
    s = xrf.map_scores({"Fe": 3 * t}, {"Fe": t, "Cu": t})
    assert abs(s["Fe"][0] - 1) < 1e-12 and s["Fe"][1] < -200
    assert s["Cu"] == (0.0, 0.0)


def test_warp_gives_lines_unit_width(det):
    for e in (2.0, 8.0, 15.0):
        du_de = (xrf.warp(e + 1e-4, det) - xrf.warp(e - 1e-4, det)) / 2e-4
        assert abs(du_de * det.sigma(e) - 1) < 1e-6
        assert abs(xrf.unwarp(xrf.warp(e, det), det) - e) < 1e-9


def test_annihilating_filter_annihilates():
    z, c = np.array([0.7, 1.1, 1.6]), np.array([1.0, 2.0, 0.5])
    h = (c * z ** np.arange(12)[:, None]).sum(1)
    a = xrf.annihilating_filter(h, 3)
    assert a[0] == 1
    assert np.allclose(np.convolve(h, a)[3:12], 0, atol=1e-9)
    assert np.allclose(np.sort(np.real(np.roots(a))), z, atol=1e-8)
    with pytest.raises(ValueError, match="at least 7 samples"):
        xrf.annihilating_filter(h[:5], 3)


def test_fri_recovers_noise_free_pulses(det):
    E0 = np.array([3.0, 6.4, 7.06, 10.55, 12.6])
    A0 = np.array([1e4, 5e4, 7e3, 3e4, 2.5e4])
    E, A = xrf.fri_pulses(det.peaks(E0, A0), det)
    assert len(E) == len(E0)
    assert np.max(np.abs(E - E0)) < 0.005  # keV
    assert np.max(np.abs(A / A0 - 1)) < 0.03


def test_fri_cannot_split_lines_closer_than_a_width(det):
    E, _ = xrf.fri_pulses(det.peaks([10.54, 10.55], [1e4, 1e4]), det)
    assert len(E) == 1 and abs(E[0] - 10.545) < 0.01


def test_fri_rejects_bad_spectra(det):
    with pytest.raises(ValueError, match="spectrum must have shape"):
        xrf.fri_pulses(np.zeros(10), det)
    with pytest.raises(ValueError, match="counts >= 0"):
        xrf.fri_pulses(-np.ones(1024), det)


def test_assignment_finds_the_elements_of_a_clean_spectrum(det):
    lines = xrf.Lines(["Fe", "Cu", "Pb"])
    s = sum(det.peaks(lines.energies[el], 1e5 * lines.intensities[el]) for el in lines.elements)
    E, A = xrf.fri_pulses(s, det)
    found, owner = xrf.assign_pulses(E, A, det)
    assert set(found) == {"Fe", "Cu", "Pb"}


def test_unfolded_untrained_is_projected_gradient(det, small_cube):
    net = xrf.UnfoldedUnmixing(small_cube.lines, det, n_layers=5)
    assert isinstance(net, xrf.UnfoldedUnmixing.__mro__[1])
    y = torch.tensor(small_cube.counts[:2, :2].reshape(4, -1), dtype=torch.float32)
    x = net(y)
    A = net.op.D.double()
    yn = y.double() / (y.double().sum(1, keepdim=True) / y.shape[1])
    L = float(torch.linalg.matrix_norm(A, ord=2) ** 2)
    ref = torch.zeros(4, A.shape[1], dtype=torch.float64)
    for _ in range(5):
        ref = (ref - (ref @ A.T - yn) @ A / L).clamp(min=0)
    assert torch.allclose(x.double(), ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
    maps = net.maps(small_cube.counts)
    assert set(maps) == set(small_cube.lines.elements)
    with pytest.raises(ValueError, match="n_layers must be a positive integer"):
        xrf.UnfoldedUnmixing(small_cube.lines, det, 0)


def test_unfolded_preconditioner_and_thresholds(det, small_cube):
    """A full preconditioner P_k enters as (diag(w_k) + P_k) grad; every learned piece gets
    a gradient from the first step (a threshold behind abs() at 0 would not)."""
    lines = small_cube.lines
    net = xrf.UnfoldedUnmixing(lines, det, n_layers=1)
    n = net.gram.shape[0]
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        net.precond.copy_(1e-3 * torch.randn(1, n, n, generator=g))
        net.theta.copy_(1e-3 * torch.randn(1, n, generator=g))
    y = torch.tensor(small_cube.counts[:2, :2].reshape(4, -1), dtype=torch.float32)
    A = net.op.D.double()
    yn = y.double() / (y.double().sum(1, keepdim=True) / y.shape[1])
    grad = -(yn @ A)  # x_0 = 0
    with torch.no_grad():
        W = torch.diag(net.step[0].double()) + net.precond[0].double()
        ref = (-(grad @ W.T) - net.theta[0].double()).clamp(min=0)
        out = net(y).double()
    assert torch.allclose(out, ref, rtol=1e-4, atol=1e-5 * float(ref.abs().max()))
    net = xrf.UnfoldedUnmixing(lines, det, n_layers=2)
    batch = xrf.unmixing_batches(lines, det, n_pool=16, seed=1)(0, g, 8)
    xrf.amount_loss(net, batch).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    diag = xrf.UnfoldedUnmixing(lines, det, n_layers=2, preconditioner="diagonal")
    assert diag.precond is None and sum(p.numel() for p in diag.parameters()) == 4 * n
    with pytest.raises(ValueError, match="preconditioner must be"):
        xrf.UnfoldedUnmixing(lines, det, 2, preconditioner="dense")


def test_unfolded_training_lowers_the_loss(det, small_cube):
    from mbdl_teach import training

    net = xrf.UnfoldedUnmixing(small_cube.lines, det, n_layers=4)
    batches = xrf.unmixing_batches(small_cube.lines, det, n_pool=64, seed=1)
    h = training.fit(net, xrf.amount_loss, lambda k, g: batches(k, g, 32), 30, lr=3e-3,
                     progress=False, seed=0)
    assert np.mean(h.losses[-5:]) < np.mean(h.losses[:5])


def test_pymca_maps_run_headless(det, small_cube):
    pytest.importorskip("PyMca5")
    c = small_cube
    maps = xrf.pymca_maps(c.counts[:4, :4], c.lines, det)
    assert set(maps) == set(c.lines.elements) and maps["Zn"].shape == (4, 4)
    assert maps["Zn"].mean() > 0


def test_checkers_accept_right_and_reject_wrong():
    def af(h, K):
        n = len(h)
        T = torch.stack([h[K - i: n - i] for i in range(K + 1)], 1)
        a = torch.linalg.svd(T)[2][-1]
        return a / a[0]

    assert exercises.check_annihilating_filter(af, )
    assert not exercises.check_annihilating_filter(lambda h, K: af(h, K).flip(0))
    assert exercises.check_gaussian_preweight(lambda s, t, sg: s * torch.exp(t**2 / (2 * sg**2)))
    res = exercises.check_gaussian_preweight(lambda s, t, sg: s * torch.exp(-(t**2) / (2 * sg**2)))
    assert not res and "values differ" in res.message
    res = exercises.check_annihilating_filter(lambda h, K: (_ for _ in ()).throw(NotImplementedError))
    assert not res and res.message.startswith("NOT YET")
