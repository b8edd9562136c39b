import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from mbdl_teach.metrics import nmse_db, psnr, ssim


def _pair(seed, shape, noise=0.1):
    rng = np.random.default_rng(seed)
    ref = rng.random(shape)
    return np.clip(ref + noise * rng.standard_normal(shape), 0, 1), ref


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.integers(11, 40), st.integers(11, 40), st.floats(0.01, 0.3))
def test_psnr_and_ssim_match_scikit_image(seed, h, w, noise):
    x, ref = _pair(seed, (h, w), noise)
    assert psnr(x, ref) == pytest.approx(peak_signal_noise_ratio(ref, x, data_range=1.0), rel=1e-10)
    want = structural_similarity(x, ref, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)
    assert ssim(x, ref) == pytest.approx(want, abs=1e-10)


def test_batched_tensors_give_one_value_per_image():
    x, ref = _pair(0, (3, 2, 20, 24))
    got = psnr(torch.from_numpy(x).float(), torch.from_numpy(ref).float())
    assert isinstance(got, torch.Tensor) and got.shape == (3,)
    for b in range(3):
        want = peak_signal_noise_ratio(ref[b], x[b].astype(np.float32).astype(np.float64), data_range=1.0)
        assert float(got[b]) == pytest.approx(want, abs=1e-4)
    s = ssim(x, ref)
    assert isinstance(s, np.ndarray) and s.shape == (3,)
    want = structural_similarity(x[1], ref[1], data_range=1.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, channel_axis=0)
    assert s[1] == pytest.approx(want, abs=1e-10)


def test_nmse_db():
    x, ref = _pair(1, (50, 7))
    want = 10 * np.log10(mean_squared_error(ref, x) / np.mean(ref**2))
    assert nmse_db(x, ref) == pytest.approx(want, rel=1e-10)
    assert nmse_db(torch.tensor(x), torch.tensor(ref)) == pytest.approx(want, rel=1e-10)
    assert nmse_db(2 * ref, ref) == pytest.approx(0.0, abs=1e-12)


def test_identical_images_give_infinite_psnr():
    ref = np.random.default_rng(0).random((8, 8))
    assert psnr(ref, ref.copy()) == float("inf")


def test_bad_inputs_are_clear_errors():
    with pytest.raises(TypeError, match="two torch.Tensors or two NumPy arrays.*list"):
        psnr([1.0, 2.0], np.ones(2))
    with pytest.raises(TypeError, match="Tensor and ndarray"):
        psnr(torch.ones(4, 4), np.ones((4, 4)))
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.ones(4, 4), torch.ones(4, 5))
    with pytest.raises(ValueError, match="NaN"):
        psnr(torch.full((4, 4), float("nan")), torch.ones(4, 4))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.ones(8, 8), torch.ones(8, 8))
    with pytest.raises(ValueError, match="all zeros"):
        nmse_db(np.ones(3), np.zeros(3))
