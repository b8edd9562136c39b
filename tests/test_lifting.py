"""Tests for mbdl_teach.lifting: perfect reconstruction, PyWavelets agreement, integer
lifting, learnable lifting and input checks."""

import math
import warnings

import numpy as np
import pytest
import pywt
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mbdl_teach import lifting
from mbdl_teach.lifting import LearnableLifting, LiftingScheme, dwt2, idwt2

SCHEMES = tuple(lifting.SCHEMES)
FAST = settings(max_examples=25, deadline=None)



def _flat(coeffs):
    return [coeffs[0]] + [b for bands in coeffs[1:] for b in bands]


# ------------------------------------------------------------ perfect reconstruction
@FAST
@given(
    name=st.sampled_from(SCHEMES),
    boundary=st.sampled_from(lifting.BOUNDARIES),
    h=st.integers(2, 41),
    w=st.integers(2, 41),
    dtype=st.sampled_from([torch.float64, torch.float32]),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_dwt2_perfect_reconstruction_any_size(name, boundary, h, w, dtype, seed, data):
    levels = data.draw(st.integers(1, min(lifting.max_level(h), lifting.max_level(w))))
    x = torch.randn(2, 3, h, w, dtype=dtype, generator=torch.Generator().manual_seed(seed))
    sch = LiftingScheme(name, boundary=boundary)
    coeffs = dwt2(x, sch, levels)
    assert len(coeffs) == levels + 1
    assert sum(b.numel() for b in _flat(coeffs)) == x.numel()  # non-expansive
    y = idwt2(coeffs, sch)
    assert y.shape == x.shape and y.dtype == dtype
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    assert float((y - x).abs().max()) < tol


@FAST
@given(
    name=st.sampled_from(SCHEMES),
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=3),
    n=st.integers(2, 50),
    pos=st.integers(0, 3),
)
def test_forward_inverse_along_any_axis(name, shape, n, pos):
    pos = min(pos, len(shape))
    full = shape[:pos] + [n] + shape[pos:]
    x = torch.randn(*full, dtype=torch.float64)
    sch = LiftingScheme(name)
    s, d = sch.forward(x, dim=pos)
    assert s.shape[pos] == (n + 1) // 2 and d.shape[pos] == n // 2
    assert torch.allclose(sch.inverse(s, d, dim=pos), x, atol=1e-12, rtol=0)


def test_haar_is_orthonormal():
    """Energy is preserved by the orthonormal Haar transform (any even size, 3 levels)."""
    x = torch.randn(3, 2, 24, 40, dtype=torch.float64)
    coeffs = dwt2(x, "haar", 3)
    energy = sum(float((b**2).sum()) for b in _flat(coeffs))
    assert energy == pytest.approx(float((x**2).sum()), rel=1e-12)


def test_smooth_signals_give_zero_details():
    """LeGall 5/3 predicts linear signals, CDF 9/7 cubic ones: interior details vanish."""
    t = torch.arange(64, dtype=torch.float64)
    _, d = LiftingScheme("legall53", boundary="symmetric").forward(3 * t + 1)
    assert float(d[1:-1].abs().max()) < 1e-12 and float(d.abs().max()) > 0  # the end breaks it
    _, d = LiftingScheme("cdf97", boundary="symmetric").forward(0.01 * t**3 - t**2)
    assert float(d[2:-2].abs().max()) < 1e-5 * float((0.01 * t**3).max())


@pytest.mark.parametrize("name, unscaled_gain", [("haar", 1.0), ("legall53", 1.0), ("cdf97", math.sqrt(2) / 1.149604398)])
def test_gain_on_constants(name, unscaled_gain):
    x = torch.full((3, 20), 2.0, dtype=torch.float64)
    assert torch.allclose(LiftingScheme(name).forward(x)[0], torch.full((3, 10), 2 * math.sqrt(2), dtype=torch.float64), atol=1e-8)
    assert torch.allclose(LiftingScheme(name, scale=False).forward(x)[0], torch.full((3, 10), 2 * unscaled_gain, dtype=torch.float64), atol=1e-8)


# ------------------------------------------------------------ PyWavelets agreement
@pytest.mark.parametrize("name", SCHEMES)
@pytest.mark.parametrize("n", [2, 8, 30, 64])
def test_1d_matches_pywavelets_periodization(name, n):
    x = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    s, d = LiftingScheme(name).forward(x)
    ca, cd = pywt.dwt(x.numpy(), lifting.PYWT_NAMES[name], mode="periodization")
    tol = 1e-12 if name != "cdf97" else 1e-7  # CDF 9/7 steps are given to 10 digits
    np.testing.assert_allclose(s.numpy(), ca, atol=tol * (1 + np.abs(x.numpy()).max()))
    np.testing.assert_allclose(-d.numpy(), cd, atol=tol * (1 + np.abs(x.numpy()).max()))


@pytest.mark.parametrize("name", SCHEMES)
def test_dwt2_matches_pywavelets_wavedec2(name):
    x = torch.rand(2, 1, 48, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ours = dwt2(x, name, 3)
    tol = 1e-12 if name != "cdf97" else 1e-7
    for b in range(2):
        with warnings.catch_warnings():  # PyWavelets warns that level 3 meets the boundary
            warnings.simplefilter("ignore", UserWarning)
            ref = pywt.wavedec2(x[b, 0].numpy(), lifting.PYWT_NAMES[name], mode="periodization", level=3)
        np.testing.assert_allclose(ours[0][b, 0].numpy(), ref[0], atol=tol)
        for bands, ref_bands in zip(ours[1:], ref[1:]):
            for sign, band, rb in zip(lifting.PYWT_SIGNS[1:], bands, ref_bands):
                np.testing.assert_allclose(sign * band[b, 0].numpy(), rb, atol=tol)
    # and back: PyWavelets inverts our coefficients (signs applied)
    pw = [ours[0][0, 0].numpy()] + [
        tuple(sg * t[0, 0].numpy() for sg, t in zip(lifting.PYWT_SIGNS[1:], bands)) for bands in ours[1:]
    ]
    back = pywt.waverec2(pw, lifting.PYWT_NAMES[name], mode="periodization")
    np.testing.assert_allclose(back, x[0, 0].numpy(), atol=1e-6)


def test_band_naming():
    """cH answers horizontal edges (change along the height), cV vertical edges."""
    x = torch.zeros(1, 1, 16, 16, dtype=torch.float64)
    x[..., 5:, :] = 1.0  # a horizontal edge
    _, (ch, cv, cd) = dwt2(x, "haar", 1)
    assert float(ch.abs().sum()) > 0 and float(cv.abs().sum()) == 0 and float(cd.abs().sum()) == 0
    _, (ch, cv, cd) = dwt2(x.transpose(-1, -2), "haar", 1)
    assert float(cv.abs().sum()) > 0 and float(ch.abs().sum()) == 0


@pytest.mark.parametrize("name", ["legall53", "cdf97"])
@pytest.mark.parametrize("n", [2, 5, 9, 16, 23])
def test_symmetric_boundary_equals_periodic_lifting_of_the_mirrored_signal(name, n):
    """Independent check of the odd-size boundary: the whole-sample symmetric extension of
    x has period 2n - 2 (even), so periodic lifting of one period must agree on x's part."""
    x = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    period = torch.cat([x, x.flip(0)[1:-1]])  # x0 .. x_{n-1}, x_{n-2} .. x1
    s_ref, d_ref = LiftingScheme(name).forward(period)
    s, d = LiftingScheme(name, boundary="symmetric").forward(x)
    assert torch.allclose(s, s_ref[: (n + 1) // 2], atol=1e-12)
    assert torch.allclose(d, d_ref[: n // 2], atol=1e-12)
    if n % 2:  # odd sizes always use the symmetric extension
        s2, d2 = LiftingScheme(name, boundary="periodic").forward(x)
        assert torch.equal(s2, s) and torch.equal(d2, d)


def test_haar_odd_length_end():
    """Haar on an odd length: the last even sample is updated with the last detail."""
    x = torch.randn(9, dtype=torch.float64)
    s, d = LiftingScheme("haar").forward(x)
    r2 = math.sqrt(2)
    assert torch.allclose(d, (x[1::2] - x[0:-1:2]) / r2) and torch.allclose(s[:-1], (x[0:-1:2] + x[1::2]) / r2)
    assert float(s[-1]) == pytest.approx(r2 * float(x[8] + (x[7] - x[6]) / 2))


# ------------------------------------------------------------ integer lifting
def _jpeg2000_53(x: np.ndarray):
    """Reversible 5/3 of JPEG 2000 (ISO 15444-1 eq. F-9/F-10), written out, symmetric ends."""
    n = len(x)
    ext = lambda i: x[i] if 0 <= i < n else x[-i] if i < 0 else x[2 * (n - 1) - i]  # noqa: E731
    d = [ext(2 * k + 1) - (ext(2 * k) + ext(2 * k + 2)) // 2 for k in range(n // 2)]
    dext = lambda k: d[k] if 0 <= k < len(d) else (d[-k - 1] if k < 0 else d[2 * len(d) - 1 - k] if n % 2 else d[2 * len(d) - 2 - k])  # noqa: E731
    s = [ext(2 * k) + (dext(k - 1) + dext(k) + 2) // 4 for k in range((n + 1) // 2)]
    return np.array(s), np.array(d)


@pytest.mark.parametrize("n", [2, 3, 8, 13, 32])
def test_integer_legall53_is_jpeg2000(n):
    x = np.random.default_rng(n).integers(0, 256, n)
    s, d = LiftingScheme("legall53", boundary="symmetric", integer=True).forward(torch.from_numpy(x))
    s_ref, d_ref = _jpeg2000_53(x)
    np.testing.assert_array_equal(s.numpy(), s_ref)
    np.testing.assert_array_equal(d.numpy(), d_ref)


@FAST
@given(
    name=st.sampled_from(["haar", "legall53"]),
    boundary=st.sampled_from(lifting.BOUNDARIES),
    h=st.integers(2, 40),
    w=st.integers(2, 40),
    seed=st.integers(0, 2**16),
)
def test_integer_lifting_is_lossless_on_uint8(name, boundary, h, w, seed):
    x = torch.randint(0, 256, (2, 1, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    sch = LiftingScheme(name, boundary=boundary, integer=True)
    levels = min(lifting.max_level(h), lifting.max_level(w), 4)
    coeffs = dwt2(x, sch, levels)
    assert all(not b.is_floating_point() for b in _flat(coeffs))
    y = idwt2(coeffs, sch)
    assert y.shape == x.shape and torch.equal(y.to(torch.uint8), x) and int(y.min()) >= 0


def test_integer_lossless_on_a_real_image_and_close_to_float():
    from mbdl_teach import data

    x = (data.load_image("camera", size=(101, 128))[None] * 255).round().to(torch.uint8)
    sch = LiftingScheme("legall53", integer=True)
    coeffs = dwt2(x, sch, 3)
    assert torch.equal(idwt2(coeffs, sch), x.to(torch.int32))
    fl = dwt2(x.double(), LiftingScheme("legall53", scale=False), 3)
    # rounding inside each step keeps the integer transform close to the real one
    assert max(float((a - b).abs().max()) for a, b in zip(_flat(coeffs), _flat(fl))) < 3


# ------------------------------------------------------------ learnable lifting
def _net1d(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv1d(3, 8, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv1d(8, 3, 5, padding=2)
    ).double()


@FAST
@given(n=st.integers(1, 40), steps=st.integers(1, 3), seed=st.integers(0, 1000))
def test_learnable_lifting_random_networks_invert_exactly(n, steps, seed):
    model = LearnableLifting([_net1d(seed + i) for i in range(steps)], [_net1d(seed + 10 + i) for i in range(steps)])
    x = torch.randn(4, 3, 2 * n, dtype=torch.float64)
    s, d = model(x)
    assert s.shape == d.shape == (4, 3, n)
    assert float((model.inverse(s, d) - x).detach().abs().max()) < 1e-10
    # the networks really change the coefficients (the test would pass for identity otherwise)
    assert float((d - (x[..., 1::2])).detach().abs().max()) > 1e-3


def test_learnable_lifting_in_dwt2_with_conv2d_and_gradients():
    torch.manual_seed(0)
    conv = lambda: torch.nn.Sequential(  # noqa: E731
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 3, padding=1)
    )
    model = LearnableLifting(conv(), conv())
    x = torch.rand(2, 1, 32, 16)
    coeffs = dwt2(x, model, 2)
    assert float((idwt2(coeffs, model) - x).detach().abs().max()) < 1e-5  # float32
    loss = sum(b.abs().mean() for b in coeffs[1])
    loss.backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.parameters())


def test_median_predict_is_nonlinear_and_invertible():
    p = lifting.MedianPredict()
    s = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    pred = p(s)
    assert float(pred.min()) >= 0 and float(pred.max()) <= 1  # no overshoot at the edge
    assert not torch.allclose(p(2 * s + s.roll(1)), 2 * p(s) + p(s.roll(1)))  # not linear
    model = LearnableLifting(p, lambda d: d / 2)
    x = torch.randn(3, 64, dtype=torch.float64)
    assert torch.allclose(model.inverse(*model(x)), x, atol=1e-12, rtol=0)


def test_fixed_scheme_as_learnable_lifting():
    """LeGall 5/3 written as (P, U) callables equals the fixed scheme without scaling."""
    model = LearnableLifting(
        lambda s: (s + s.roll(-1, -1)) / 2, lambda d: (d.roll(1, -1) + d) / 4
    )
    x = torch.randn(2, 32, dtype=torch.float64)
    s, d = model(x)
    s2, d2 = LiftingScheme("legall53", scale=False).forward(x)
    assert torch.allclose(s, s2, atol=1e-12) and torch.allclose(d, d2, atol=1e-12)


def test_learnable_lifting_errors():
    with pytest.raises(ValueError, match="as many predict as update"):
        LearnableLifting([torch.nn.Identity()] * 2, [torch.nn.Identity()])
    with pytest.raises(TypeError, match="predict"):
        LearnableLifting(3, torch.nn.Identity())
    model = LearnableLifting(torch.nn.Identity(), torch.nn.Identity())
    with pytest.raises(ValueError, match="even"):
        model(torch.randn(2, 7))
    bad = LearnableLifting(lambda s: s[..., :-1], torch.nn.Identity())
    with pytest.raises(ValueError, match=r"predict\[0\] must return a tensor of shape"):
        bad(torch.randn(2, 8))


# ------------------------------------------------------------ errors and gradients
def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        dwt2(torch.randn(64), "haar", 1)
    with pytest.raises(ValueError, match="unknown lifting scheme 'db4'"):
        dwt2(torch.randn(1, 1, 8, 8), "db4", 1)
    with pytest.raises(ValueError, match="between 1 and 3 for images of size 8x8"):
        dwt2(torch.randn(1, 1, 8, 8), "haar", 4)
    with pytest.raises(ValueError, match="levels"):
        dwt2(torch.randn(1, 1, 8, 8), "haar", 0)
    with pytest.raises(TypeError, match="levels must be an int"):
        dwt2(torch.randn(1, 1, 8, 8), "haar", 2.0)
    with pytest.raises(TypeError, match="floating-point"):
        dwt2(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), "cdf97", 1)
    with pytest.raises(TypeError, match="integer tensor"):
        LiftingScheme("legall53", integer=True).forward(torch.randn(8))
    with pytest.raises(ValueError, match="no integer-to-integer"):
        LiftingScheme("cdf97", integer=True)
    with pytest.raises(ValueError, match="unknown boundary"):
        LiftingScheme("haar", boundary="zero")
    with pytest.raises(TypeError, match="torch.Tensor"):
        dwt2(np.zeros((1, 1, 8, 8)), "haar", 1)
    with pytest.raises(ValueError, match="at least 2 samples"):
        LiftingScheme("haar").forward(torch.randn(3, 1))
    with pytest.raises(ValueError, match="one more"):
        LiftingScheme("haar").inverse(torch.randn(3), torch.randn(5))
    coeffs = dwt2(torch.randn(1, 1, 16, 16), "haar", 2)
    coeffs[0] = coeffs[0][..., :-1]
    with pytest.raises(ValueError, match="coarse band has shape"):
        idwt2(coeffs, "haar")


@pytest.mark.parametrize("name", SCHEMES)
def test_gradcheck(name):
    x = torch.rand(1, 1, 7, 10, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: tuple(_flat(dwt2(t, name, 2))), (x,))
    c = [b.detach().requires_grad_() for b in _flat(dwt2(x.detach(), name, 1))]
    assert torch.autograd.gradcheck(lambda a, h, v, d: idwt2([a, (h, v, d)], name), tuple(c))


def test_input_not_modified():
    x = torch.randn(2, 1, 16, 12)
    x0 = x.clone()
    coeffs = dwt2(x, "cdf97", 2)
    flat0 = [b.clone() for b in _flat(coeffs)]
    idwt2(coeffs, "cdf97")
    assert torch.equal(x, x0) and all(torch.equal(a, b) for a, b in zip(_flat(coeffs), flat0))


def test_max_level():
    assert [lifting.max_level(n) for n in (1, 2, 3, 4, 5, 512)] == [0, 1, 2, 2, 3, 9]
    assert math.ceil(math.log2(512)) == lifting.max_level(512)


# ------------------------------------------------------------ chapter-02 checkers
def test_exercise_checkers(capsys):
    from mbdl_teach import exercises as ex

    assert ex.check_haar_lifting(ex.reference_haar_lift, ex.reference_haar_unlift)
    wrong = lambda x: (x[..., 0::2], x[..., 1::2] - x[..., 0::2])  # noqa: E731  (update missing)
    assert not ex.check_haar_lifting(wrong, ex.reference_haar_unlift)
    assert ex.check_legall53_steps(ex.reference_legall53_predict, ex.reference_legall53_update)
    assert not ex.check_legall53_steps(lambda s, d: d - (s + s.roll(1, -1)) / 2, ex.reference_legall53_update)
    out = capsys.readouterr().out
    assert out.count("PASS") == 6 and out.count("FAIL") == 2
    # the references are the package's transforms: Haar (unscaled) and LeGall 5/3 (unscaled)
    x = torch.randn(3, 40, dtype=torch.float64)
    for got, want in zip(ex.reference_haar_lift(x), LiftingScheme("haar", scale=False).forward(x)):
        assert torch.allclose(got, want, atol=1e-12)
    d = ex.reference_legall53_predict(x[..., 0::2], x[..., 1::2])
    s = ex.reference_legall53_update(x[..., 0::2], d)
    for got, want in zip((s, d), LiftingScheme("legall53", scale=False).forward(x)):
        assert torch.allclose(got, want, atol=1e-12)
