"""Tests for mbdl_teach.inn: the fixed split, LINN and WINNet."""

import numpy as np
import pytest
import pywt
import scipy.fft
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mbdl_teach import inn
from mbdl_teach.denoisers import WINNet
from mbdl_teach.inn import LINN, FixedSplit, estimate_sigma

SMALL = dict(hidden=8, blocks=1)  # small P/U networks: the properties do not depend on size


def randomise(model: torch.nn.Module, std: float = 0.2, seed: int = 0) -> torch.nn.Module:
    """Give every parameter (the zero-initialised output convolutions too) random values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(std * torch.randn(p.shape, generator=g))
    return model


# ------------------------------------------------------------------ the split
@pytest.mark.parametrize("n", [2, 4, 8])
def test_dct_matrix_matches_scipy(n):
    ref = scipy.fft.dct(np.eye(n), norm="ortho", axis=0)
    np.testing.assert_allclose(inn.dct_matrix(n).numpy(), ref, atol=1e-12)


@pytest.mark.parametrize("split", ["dct4", "haar"])
def test_split_filters_orthonormal(split):
    w = inn.split_filters(split).flatten(1)
    np.testing.assert_allclose((w @ w.T).numpy(), np.eye(w.shape[0]), atol=1e-12)
    k = inn.SPLITS[split]
    np.testing.assert_allclose(w[0].numpy(), np.full(k * k, 1.0 / k), atol=1e-12)  # coarse = DC


@settings(max_examples=12, deadline=None)
@given(split=st.sampled_from(["dct4", "haar"]), dilation=st.sampled_from([1, 2]),
       h=st.integers(4, 19), w=st.integers(4, 19), c=st.integers(1, 3))
def test_split_energy_and_exact_inverse(split, dilation, h, w, c):
    g = torch.Generator().manual_seed(h * 100 + w)
    x = torch.randn(2, c, h, w, generator=g, dtype=torch.float64)
    s = FixedSplit(split, c, dilation)
    cc, d = s(x)
    nf = inn.SPLITS[split] ** 2
    assert cc.shape == (2, c, h, w) and d.shape == (2, c * (nf - 1), h, w)
    energy = (cc**2).sum() + (d**2).sum()
    assert torch.allclose(energy, nf * (x**2).sum(), rtol=1e-12)  # T^T T = F I
    assert torch.allclose(s.inverse(cc, d), x, atol=1e-12)


def test_split_matches_dense_patch_products():
    """Coefficient (k, n) = <filter k, the dilated patch at n> with circular indexing."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 9))
    s = FixedSplit("dct4", 1, dilation=2)
    c, d = s(torch.from_numpy(x)[None, None])
    coeffs = torch.cat((c, d), 1)[0].numpy()
    filt = inn.split_filters("dct4")[:, 0].numpy()
    for (i, j) in [(0, 0), (3, 5), (6, 8)]:
        rows = [(i + 2 * (a - 1)) % 7 for a in range(4)]
        cols = [(j + 2 * (b - 1)) % 9 for b in range(4)]
        patch = x[np.ix_(rows, cols)]
        np.testing.assert_allclose(coeffs[:, i, j], (filt * patch).sum(axis=(1, 2)), atol=1e-12)


def test_haar_split_on_even_grid_is_pywavelets_dwt2():
    x = np.random.default_rng(1).standard_normal((8, 10))
    c, d = FixedSplit("haar")(torch.from_numpy(x)[None, None])
    cA, (cH, cV, cD) = pywt.dwt2(x, "haar", mode="periodization")
    ours = torch.cat((c, d), 1)[0, :, 0::2, 0::2].numpy()
    # filter u * 2 + v is high-pass along the height when u = 1, along the width when v = 1
    for band, ref in zip(ours, (cA, cV, cH, cD)):
        np.testing.assert_allclose(np.abs(band), np.abs(ref), atol=1e-12)  # up to the band's sign
    np.testing.assert_allclose(ours[0], cA, atol=1e-12)


# ------------------------------------------------------------------ LINN
@settings(max_examples=6, deadline=None)
@given(h=st.integers(4, 24), w=st.integers(4, 24), split=st.sampled_from(["dct4", "haar"]),
       sigma=st.floats(0.0, 0.3))
def test_linn_exact_inverse_random_weights(h, w, split, sigma):
    linn = randomise(LINN(steps=2, split=split, **SMALL), seed=h + w)
    x = torch.rand(2, 1, h, w, generator=torch.Generator().manual_seed(h))
    c, d = linn(x, sigma)
    assert (d - linn.split(x)[1]).abs().max() > 1e-3  # the steps do change the coefficients
    assert (linn.inverse(c, d, sigma) - x).abs().max() < 1e-4


def test_untrained_linn_is_the_plain_split():
    linn = LINN(steps=2, **SMALL)
    x = torch.rand(1, 1, 12, 12)
    for a, b in zip(linn(x, 0.1), linn.split(x)):
        assert torch.equal(a, b)
    randomise(linn)
    assert not torch.allclose(linn(x, 0.1)[1], linn.split(x)[1])


def test_lifting_step_inverse_for_any_weights():
    step = randomise(inn.LearnedLiftingStep(1, 15, 8, 1))
    c, d = torch.randn(2, 1, 9, 9, dtype=torch.float64), torch.randn(2, 15, 9, 9, dtype=torch.float64)
    step.double()
    s = torch.tensor([0.1, 0.2], dtype=torch.float64)
    c2, d2 = step(c, d, s)
    ci, di = step.inverse(c2, d2, s)
    assert torch.allclose(ci, c, atol=1e-12) and torch.allclose(di, d, atol=1e-12)


def test_soft_threshold_scales_with_sigma():
    st_ = inn.NoiseSoftThreshold(2, init=0.1)
    x = torch.linspace(-1, 1, 41).reshape(1, 1, 1, 41).expand(2, 2, 1, 41)
    s = torch.tensor([25 / 255, 50 / 255])
    t = torch.nn.functional.softplus(torch.tensor(0.1), beta=20) * torch.tensor([0.5, 1.0])
    ref = torch.sign(x) * torch.clamp(x.abs() - t[:, None, None, None], min=0)
    assert torch.allclose(st_(x, s), ref, atol=1e-6)


# ------------------------------------------------------------------ WINNet
def test_default_winnet_has_the_authors_parameter_count():
    assert WINNet().num_parameters() == 173_440


@settings(max_examples=5, deadline=None)
@given(h=st.integers(4, 20), w=st.integers(4, 20), levels=st.integers(1, 3))
def test_winnet_transform_exact_inverse(h, w, levels):
    net = randomise(WINNet(levels=levels, steps=1, lista_channels=8, lista_iters=1, **SMALL), seed=levels)
    x = torch.rand(2, 1, h, w, generator=torch.Generator().manual_seed(w))
    coeffs = net.transform(x, 0.1)
    assert len(coeffs) == levels
    assert all(c.shape == (2, 1, h, w) and d.shape == (2, 15, h, w) for c, d in coeffs)
    assert (net.inverse_transform(coeffs, 0.1) - x).abs().max() < 1e-4


def test_winnet_levels_redecompose_the_coarse_channel_with_dilation():
    net = WINNet(levels=3, steps=1, lista_channels=8, **SMALL)
    assert [l.split.dilation for l in net.linns] == [1, 2, 2]
    x = torch.rand(1, 1, 16, 16)
    coeffs = net.transform(x, 0.1)
    c1, d1 = net.linns[1](coeffs[0][0], 0.1)
    assert torch.equal(coeffs[1][1], d1) and torch.equal(coeffs[1][0], c1)


def tiny_winnet(**kw):
    return WINNet(steps=1, lista_channels=8, lista_iters=2, **SMALL, **kw)


def test_winnet_forward_shapes_and_gradients():
    torch.manual_seed(0)
    net = tiny_winnet(in_channels=2)
    clean = torch.rand(3, 2, 12, 10)
    noisy = clean + 0.1 * torch.randn_like(clean)
    assert net(noisy, 0.1).shape == clean.shape
    loss = net.loss(clean, noisy, 0.1)
    loss.backward()
    grads = {n: p.grad for n, p in net.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    # at initialisation the output convolutions of P and U are zero, so they get a gradient
    assert all(grads[n].abs().sum() > 0 for n in grads if "conv_out" in n or "denoisers" in n)
    randomise(net, std=0.1)
    net.zero_grad()
    net.loss(clean, noisy, 0.1).backward()
    assert all(p.grad.abs().sum() > 0 for p in net.parameters())


def test_sigma_as_float_tensor_and_per_image():
    net = randomise(tiny_winnet(), std=0.1)
    y = torch.rand(2, 1, 10, 10)
    a = net(y, 0.1)
    assert torch.allclose(a, net(y, torch.tensor(0.1)))
    assert torch.allclose(a, net(y, torch.tensor([0.1, 0.1])))
    per = net(y, torch.tensor([0.05, 0.2]))
    assert torch.allclose(per[1:], net(y[1:], 0.2), atol=1e-6)
    assert not torch.allclose(per[1:], net(y[1:], 0.05))


def test_sigma_train_max_floor_in_the_transform():
    net = randomise(tiny_winnet(sigma_train_max=0.1), std=0.1)
    x = torch.rand(1, 1, 10, 10)
    low, floor, high = (net.transform(x, s)[0][1] for s in (0.02, 0.1, 0.2))
    assert torch.equal(low, floor) and not torch.allclose(high, floor)
    free = randomise(tiny_winnet(), std=0.1)
    assert not torch.allclose(free.transform(x, 0.02)[0][1], free.transform(x, 0.1)[0][1])


def test_orthogonality_loss_matches_composed_kernels():
    net = randomise(tiny_winnet(), std=0.3)
    dn = net.denoisers[0]
    A, S = dn.A.weight.detach().numpy(), dn.S.weight.detach().numpy()  # (m, 15, 3, 3), (15, m, 3, 3)
    loss = 0.0
    for o in range(15):
        for i in range(15):
            k = sum(scipy.signal.convolve2d(S[o, j], A[j, i]) for j in range(A.shape[0]))
            k[2, 2] -= float(o == i)
            loss += (k**2).sum()
    assert np.isclose(float(net.orthogonality_loss().detach()), loss, rtol=1e-4)
    net2 = WINNet(steps=1, lista_channels=15, lista_iters=1, **SMALL)
    d2 = net2.denoisers[0]
    with torch.no_grad():  # S A = identity: A copies the details into the code, S copies them back
        d2.A.weight.zero_(); d2.S.weight.zero_()
        for i in range(15):
            d2.A.weight[i, i, 1, 1] = d2.S.weight[i, i, 1, 1] = 1.0
    assert float(net2.orthogonality_loss().detach()) == 0.0


def test_single_threshold_denoiser():
    net = WINNet(steps=1, lista_iters=0, **SMALL)
    d = torch.randn(2, 15, 6, 6)
    s = torch.tensor([0.1, 0.1])
    t = net.denoisers[0].st[0].threshold(s)
    assert torch.allclose(net.denoisers[0](d, s), torch.sign(d) * (d.abs() - t).clamp_min(0))
    assert float(net.orthogonality_loss()) == 0.0


def test_estimate_noise_on_a_smooth_image():
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 96), torch.linspace(0, 1, 96), indexing="ij")
    clean = (0.5 + 0.3 * torch.sin(3 * xx) * torch.cos(2 * yy))[None, None].repeat(2, 1, 1, 1)
    g = torch.Generator().manual_seed(0)
    sig = torch.tensor([0.05, 0.2])
    y = clean + sig[:, None, None, None] * torch.randn(clean.shape, generator=g)
    for method in ("mad", "pca"):
        est = estimate_sigma(y, method)
        assert est.shape == (2,)
        assert ((est - sig).abs() / sig).max() < 0.15, (method, est)


def test_blind_denoise_uses_the_estimate():
    net = randomise(tiny_winnet(), std=0.1)
    y = torch.rand(2, 1, 16, 16)
    assert torch.allclose(net(y), net(y, estimate_sigma(y)))
    assert torch.allclose(net(y, None), net(y, estimate_sigma(y)))


@pytest.mark.parametrize("call, match", [
    (lambda n: n(torch.rand(1, 3, 16, 16), 0.1), "1 channel"),
    (lambda n: n(torch.rand(1, 1, 3, 16), 0.1), "height and width >= 4"),
    (lambda n: n(torch.rand(1, 1, 16, 16), -0.1), ">= 0"),
    (lambda n: n(torch.rand(1, 1, 16, 16), float("nan")), "finite"),
    (lambda n: n(torch.rand(2, 1, 16, 16), torch.tensor([0.1, 0.1, 0.1])), r"shape \(2,\)"),
    (lambda n: n(torch.rand(16, 16), 0.1), r"\(B, C, H, W\)"),
    (lambda n: n.transform(torch.rand(1, 2, 16, 16), 0.1), "channel"),
    (lambda n: n.loss(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 9), 0.1), "same shape"),
    (lambda n: n.inverse_transform([], 0.1), "list of 2"),
])
def test_bad_inputs_raise(call, match):
    net = WINNet(levels=2, steps=1, lista_channels=8, **SMALL)
    with pytest.raises(ValueError, match=match):
        call(net)


def test_bad_constructor_arguments_raise():
    with pytest.raises(ValueError, match="unknown split"):
        LINN(split="db4")
    with pytest.raises(ValueError, match="levels"):
        WINNet(levels=0)
    with pytest.raises(ValueError, match=r"\[0, 1\] scale"):
        WINNet(sigma_train_max=25)
    with pytest.raises(TypeError, match="torch.Tensor"):
        LINN()(np.zeros((1, 1, 8, 8)), 0.1)


# ------------------------------------------------------------------ the chapter-03 exercise checker
def test_coupling_checker_accepts_the_reference_and_rejects_wrong_orders():
    from mbdl_teach import exercises as ex

    assert ex.check_lifting_coupling(ex.reference_coupling_forward, ex.reference_coupling_inverse)

    def inverse_wrong_order(c, d, P, U):  # undoes the predict first: not the inverse
        d = d + P(c)
        return c - U(d), d

    def forward_update_first(c, d, P, U):
        c = c + U(d)
        return c, d - P(c)

    assert not ex.check_lifting_coupling(ex.reference_coupling_forward, inverse_wrong_order)
    assert not ex.check_lifting_coupling(forward_update_first, ex.reference_coupling_inverse)
    # the library's lifting step is the same layer
    c, d, P, U = ex.coupling.coupling_case(torch.Generator().manual_seed(0))
    step = inn.LearnedLiftingStep(1, 3, 4, 0).double()
    with torch.no_grad():
        step.predict.conv_out.weight.normal_()
    c2, d2 = step(c, d, torch.ones(c.shape[0], dtype=torch.float64))
    ref = ex.reference_coupling_forward(c, d, lambda a: step.predict(a, torch.ones(c.shape[0], dtype=torch.float64)),
                                        lambda a: step.update(a, torch.ones(c.shape[0], dtype=torch.float64)))
    assert torch.allclose(c2, ref[0]) and torch.allclose(d2, ref[1])
