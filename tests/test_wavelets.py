"""Tests for mbdl_teach.wavelets against PyWavelets and scikit-image as references."""

import math

import numpy as np
import pytest
import pywt
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.restoration import denoise_wavelet
from skimage.restoration import estimate_sigma as sk_estimate_sigma

from mbdl_teach import data, exercises, metrics
from mbdl_teach import wavelets as W


@pytest.fixture(scope="module")
def noisy_camera():
    x = data.load_image("camera", size=128)[0].double().numpy()
    sigma = 25 / 255
    y = x + sigma * np.random.default_rng(0).standard_normal(x.shape)
    return x, y, sigma


# ------------------------------------------------------------------ shrinkage functions
@settings(max_examples=20, deadline=None)
@given(
    shape=st.lists(st.integers(1, 7), min_size=1, max_size=3),
    t=st.floats(0, 3),
    seed=st.integers(0, 2**16),
)
def test_soft_and_hard_match_pywt_for_arrays_and_tensors(shape, t, seed):
    x = np.random.default_rng(seed).standard_normal(shape) * 2
    for mode, fn in (("soft", W.soft_threshold), ("hard", W.hard_threshold)):
        want = pywt.threshold(x, t, mode=mode)
        got_np = fn(x, t)
        got_t = fn(torch.from_numpy(x), t)
        assert isinstance(got_np, np.ndarray) and isinstance(got_t, torch.Tensor)
        np.testing.assert_allclose(got_np, want, atol=1e-12)
        np.testing.assert_allclose(got_t.numpy(), want, atol=1e-12)


def test_soft_threshold_is_differentiable_in_x_and_t():
    x = torch.tensor([-2.0, -0.5, 0.3, 1.5], requires_grad=True)
    t = torch.tensor(1.0, requires_grad=True)
    W.soft_threshold(x, t).sum().backward()
    assert torch.equal(x.grad, torch.tensor([1.0, 0.0, 0.0, 1.0]))
    assert float(t.grad) == 0.0  # +1 and -1 from the two surviving entries cancel


def test_negative_or_bad_threshold_raises():
    with pytest.raises(ValueError, match=">= 0"):
        W.soft_threshold(np.ones(3), -0.1)
    with pytest.raises(ValueError, match=">= 0"):
        W.hard_threshold(torch.ones(3), torch.tensor([0.1, -1.0, 0.2]))
    with pytest.raises(TypeError, match="torch.Tensor or a NumPy array"):
        W.soft_threshold([1.0, 2.0], 0.5)
    with pytest.raises(TypeError, match="threshold t"):
        W.soft_threshold(np.ones(3), "0.5")


# ------------------------------------------------------------------ noise estimate
def test_estimate_sigma_matches_scikit_image(noisy_camera):
    _, y, sigma = noisy_camera
    assert W.estimate_sigma(y) == pytest.approx(sk_estimate_sigma(y), rel=1e-12)
    assert W.estimate_sigma(y) == pytest.approx(sigma, rel=0.1)


def test_estimate_sigma_on_pure_noise_and_per_plane():
    gen = torch.Generator().manual_seed(3)
    sig = torch.tensor([0.05, 0.1, 0.2]).reshape(3, 1, 1)
    planes = sig * torch.randn(3, 200, 200, generator=gen)
    est = W.estimate_sigma(planes)
    assert isinstance(est, torch.Tensor) and est.shape == (3,)
    np.testing.assert_allclose(est.numpy(), sig.flatten().numpy(), rtol=0.03)
    assert isinstance(W.estimate_sigma(planes[:1]), float)


# ------------------------------------------------------------------ thresholds
def test_universal_threshold_formula():
    assert W.universal_threshold(1000, 0.1) == pytest.approx(0.1 * math.sqrt(2 * math.log(1000)))
    coeffs = pywt.wavedec2(np.zeros((32, 32)), "db2", level=2)
    ts = W.band_thresholds(coeffs, 0.2, "universal", n_samples=32 * 32)
    assert len(ts) == 2 and all(t == pytest.approx(0.2 * math.sqrt(2 * math.log(1024))) for d in ts for t in d)


def test_bayes_threshold_formula_and_pure_noise_band():
    rng = np.random.default_rng(1)
    band = 0.5 * rng.standard_normal((40, 40))
    sigma = 0.3
    sx = math.sqrt(np.mean(band**2) - sigma**2)
    assert W.bayes_threshold(band, sigma) == pytest.approx(sigma**2 / sx)
    weak = 0.2 * rng.standard_normal((40, 40))  # variance below sigma^2: sigma_x = 0
    assert W.bayes_threshold(weak, sigma) == pytest.approx(np.abs(weak).max())
    assert not W.soft_threshold(weak, W.bayes_threshold(weak, sigma)).any()


def test_sure_risk_is_unbiased_for_the_soft_threshold_risk():
    rng = np.random.default_rng(2)
    theta = np.where(rng.random(400) < 0.1, 3 * rng.standard_normal(400), 0.0)
    sigma, t = 0.7, 0.9
    sure, loss = [], []
    for _ in range(400):
        y = theta + sigma * rng.standard_normal(theta.size)
        sure.append(W.sure_risk(y, sigma, t))
        loss.append(np.sum((W.soft_threshold(y, t) - theta) ** 2))
    assert np.mean(sure) == pytest.approx(np.mean(loss), rel=0.02)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(5, 300), density=st.floats(0.05, 1.0), seed=st.integers(0, 2**16))
def test_sure_threshold_is_the_minimiser_of_sure(n, density, seed):
    rng = np.random.default_rng(seed)
    sigma = 0.5
    band = np.where(rng.random(n) < density, 4 * rng.standard_normal(n), 0.0)
    band = band + sigma * rng.standard_normal(n)
    t = W.sure_threshold(band, sigma, hybrid=False)
    cap = sigma * math.sqrt(2 * math.log(n))
    grid = np.concatenate([np.linspace(0, cap, 2001), np.abs(band)[np.abs(band) <= cap]])
    risks = W.sure_risk(band, sigma, grid)
    assert 0 <= t <= cap + 1e-12
    assert W.sure_risk(band, sigma, t) <= risks.min() + 1e-9


def test_sure_hybrid_uses_universal_on_sparse_bands():
    rng = np.random.default_rng(4)
    noise = 0.1 * rng.standard_normal(4096)
    assert W.sure_threshold(noise, 0.1) == pytest.approx(0.1 * math.sqrt(2 * math.log(4096)))
    dense = noise + rng.standard_normal(4096)  # strong signal everywhere: SURE decides
    assert W.sure_threshold(dense, 0.1) == pytest.approx(W.sure_threshold(dense, 0.1, hybrid=False))


def test_threshold_keeps_the_coarse_approximation():
    x = data.load_image("moon", size=64)[0].double().numpy()
    coeffs = pywt.wavedec2(x, "db4", level=2)
    for rule in W.RULES:
        out = W.threshold(coeffs, 10.0, rule)  # huge sigma: every detail killed
        assert np.array_equal(out[0], coeffs[0]) and out[0] is not coeffs[0]
        assert all(not b.any() for d in out[1:] for b in d)


# ------------------------------------------------------------------ denoise
@pytest.mark.parametrize("levels", [1, 3])
@pytest.mark.parametrize("given_sigma", [True, False])
@pytest.mark.parametrize("rule, method", [("bayes", "BayesShrink"), ("universal", "VisuShrink")])
def test_denoise_matches_scikit_image(noisy_camera, levels, given_sigma, rule, method):
    _, y, sigma = noisy_camera
    s = sigma if given_sigma else None
    for mode in W.MODES:
        ours = W.denoise(y, s, wavelet="db4", levels=levels, rule=rule, mode=mode)
        ref = denoise_wavelet(y, sigma=s, wavelet="db4", mode=mode, wavelet_levels=levels,
                              method=method, rescale_sigma=True)
        np.testing.assert_allclose(ours, ref, atol=1e-10)


@settings(max_examples=10, deadline=None)
@given(h=st.integers(16, 70), w=st.integers(16, 70), seed=st.integers(0, 1000))
def test_denoise_any_size_keeps_type_shape_and_matches_scikit_image(h, w, seed):
    rng = np.random.default_rng(seed)
    y = rng.random((h, w)).astype(np.float32)
    out = W.denoise(y, 0.1)
    assert out.shape == (h, w) and out.dtype == np.float32
    ref = denoise_wavelet(y.astype(np.float64), sigma=0.1, wavelet="db4", method="BayesShrink",
                          mode="soft", wavelet_levels=W.max_level((h, w)))
    np.testing.assert_allclose(out, ref, atol=1e-5)
    t = torch.from_numpy(y)[None, None].repeat(2, 1, 1, 1)
    out_t = W.denoise(t, 0.1)
    assert isinstance(out_t, torch.Tensor) and out_t.shape == (2, 1, h, w) and out_t.dtype == torch.float32
    np.testing.assert_allclose(out_t[1, 0].numpy(), out, atol=1e-6)


def test_denoise_with_zero_sigma_is_the_identity():
    x = data.load_image("coins", size=(48, 61))
    np.testing.assert_allclose(W.denoise(x, 0.0, rule="bayes").numpy(), x.numpy(), atol=1e-5)


def test_every_rule_improves_psnr(noisy_camera):
    x, y, sigma = noisy_camera
    before = metrics.psnr(y, x)
    for rule in W.RULES:
        for mode in W.MODES:
            assert metrics.psnr(W.denoise(y, sigma, rule=rule, mode=mode), x) > before + 2, (rule, mode)


def test_bad_input_raises_clear_errors(noisy_camera):
    _, y, _ = noisy_camera
    with pytest.raises(ValueError, match="unknown threshold rule 'median'"):
        W.denoise(y, 0.1, rule="median")
    with pytest.raises(ValueError, match="unknown shrinkage mode"):
        W.denoise(y, 0.1, mode="firm")
    with pytest.raises(ValueError, match="levels=9 is too many for a 128x128 image"):
        W.denoise(y, 0.1, levels=9)
    with pytest.raises(ValueError, match="levels must be >= 1"):
        W.denoise(y, 0.1, levels=0)
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0"):
        W.denoise(y, -0.1)
    with pytest.raises(ValueError, match="not orthogonal"):
        W.denoise(y, 0.1, wavelet="bior2.2")
    with pytest.raises(ValueError, match="unknown wavelet"):
        W.denoise(y, 0.1, wavelet="db99x")
    with pytest.raises(ValueError, match="too small"):
        W.denoise(np.zeros((5, 5)), 0.1)
    with pytest.raises(ValueError, match="NaN"):
        W.denoise(np.full((32, 32), np.nan), 0.1)
    with pytest.raises(TypeError, match="torch.Tensor or a NumPy array"):
        W.denoise([[0.0] * 32] * 32, 0.1)
    with pytest.raises(ValueError, match="unknown threshold rule"):
        W.band_thresholds(pywt.wavedec2(y, "db2", level=1), 0.1, "visu")


# ------------------------------------------------------------------ compression
def test_keep_largest_budget_and_quality():
    x = data.load_image("camera", size=(96, 80))
    assert torch.allclose(W.keep_largest(x, 1.0), x, atol=1e-5)
    ps = [metrics.psnr(W.keep_largest(x, f), x) for f in (0.02, 0.08, 0.3)]
    assert ps[0] < ps[1] < ps[2], ps
    # independent reference: PyWavelets' coefficient array, the k largest kept by sorting
    plane = x[0].double().numpy()
    levels = W.max_level(plane.shape)
    c = pywt.wavedec2(plane, "db4", mode="symmetric", level=levels)
    arr, slices = pywt.coeffs_to_array(c)  # pads with zeros: never among the largest
    k = round(0.08 * W.num_coefficients(plane.shape))
    assert W.num_coefficients(plane.shape) == sum(np.size(b) for b in [c[0], *[b for d in c[1:] for b in d]])
    kth = np.sort(np.abs(arr).ravel())[::-1][k - 1]
    ref_c = pywt.array_to_coeffs(np.where(np.abs(arr) >= kth, arr, 0), slices, output_format="wavedec2")
    ref = pywt.waverec2(ref_c, "db4", mode="symmetric")[:96, :80]
    np.testing.assert_allclose(W.keep_largest(plane, 0.08), ref, atol=1e-10)
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
        W.keep_largest(x, 0.0)


def test_coefficient_mosaic_range_and_shape():
    c = W.wavedec(np.random.default_rng(0).random((40, 36)), "db2", levels=2)
    m = W.coefficient_mosaic(c)
    assert m.shape == pywt.coeffs_to_array(c)[0].shape and m.min() >= 0 and m.max() <= 1


# ------------------------------------------------------------------ exercises
def test_chapter_01_checkers_accept_the_reference_and_reject_wrong_answers():
    assert exercises.check_soft_threshold(exercises.reference_soft_threshold)
    assert not exercises.check_soft_threshold(lambda x, t: torch.clamp(x - t, min=0))
    assert exercises.check_mad_sigma(lambda d: float(d.abs().median()) / 0.6745)
    assert not exercises.check_mad_sigma(lambda d: float(d.std()))
    assert exercises.check_bayes_threshold(exercises.reference_bayes_threshold)
    no_guard = lambda b, s: s**2 / max(float((b * b).mean()) - s * s, 1e-30) ** 0.5  # noqa: E731
    assert not exercises.check_bayes_threshold(no_guard)


def test_compare_with_skimage_rows_and_table():
    rows = W.compare_with_skimage(["moon", "coins"], [25 / 255], size=64)
    assert [r["image"] for r in rows] == ["moon", "coins"] and rows[0]["sigma"] == 25
    for r in rows:
        assert abs(r["ours"] - r["skimage"]) < 1e-6 and abs(r["ours_est"] - r["skimage_est"]) < 1e-6
        assert r["ours"] > r["noisy"] + 3
    table = W.comparison_table(rows)
    assert table.splitlines()[0].split()[:4] == ["image", "sigma*255", "noisy", "ours"]
    assert len(table.splitlines()) == 2 + 3 and "-0.00" not in table


@pytest.mark.parametrize("undecimated", [False, True])
def test_shrink_is_the_identity_at_zero_and_shrinks_otherwise(undecimated):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 1, 32, 32, generator=g, dtype=torch.float64)
    torch.testing.assert_close(W.shrink(x, 0.0, undecimated=undecimated), x)
    y = W.shrink(x, 0.05, undecimated=undecimated)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert float((y - x).abs().max()) > 0


def test_shrink_orthogonal_is_the_prox_in_the_coefficient_domain():
    """With the periodic orthogonal DWT, the details of the result are the soft-thresholded
    details of the input and the approximation is untouched."""
    rng = np.random.default_rng(1)
    img, t = rng.random((32, 32)), 0.07
    c_in = pywt.wavedec2(img, "db4", mode="periodization", level=3)
    c_out = pywt.wavedec2(W.shrink(img, t), "db4", mode="periodization", level=3)
    np.testing.assert_allclose(c_out[0], c_in[0], atol=1e-10)
    for lin, lout in zip(c_in[1:], c_out[1:]):
        for bin_, bout in zip(lin, lout):
            np.testing.assert_allclose(bout, np.sign(bin_) * np.maximum(np.abs(bin_) - t, 0),
                                       atol=1e-10)
    with pytest.raises(ValueError, match="divisible by 8"):
        W.shrink(img[:30, :30], t, undecimated=True)
    with pytest.raises(ValueError, match=">= 0"):
        W.shrink(img, -1.0)
