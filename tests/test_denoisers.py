"""The common denoiser interface, the small DnCNN and the training recipes."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mbdl_teach import data, denoisers, metrics, training, wavelets
from mbdl_teach.denoisers import DnCNN, WaveletDenoiser, WINNet

SIGMA = 25 / 255



def _noisy(size=32, batch=2, seed=0):
    x = data.load_images(["aero", "clock"][:batch], size)
    y = data.add_gaussian_noise(x, SIGMA, generator=torch.Generator().manual_seed(seed))
    return x, y


def _tiny_winnet():
    torch.manual_seed(0)
    return WINNet(steps=1, hidden=4, blocks=1, lista_iters=1, lista_channels=4)


def _all_denoisers():
    out = [WaveletDenoiser(), DnCNN(depth=3, features=4), _tiny_winnet()]
    if denoisers.bm3d_available()[0]:
        out.append(denoisers.BM3DDenoiser())  # slow: the tests give it small images
    return out


# ------------------------------------------------------------------ the interface
@pytest.mark.parametrize("den", _all_denoisers(), ids=lambda d: d.name)
def test_interface_shape_dtype_and_errors(den):
    x, y = _noisy()
    out = den(y, SIGMA)
    assert out.shape == y.shape and out.dtype == y.dtype
    assert torch.isfinite(out).all()
    # a (B,) tensor of equal values gives the same result as the float
    torch.testing.assert_close(den(y, torch.full((2,), SIGMA)), out, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=">= 0"):
        den(y, -0.1)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        den(y[0], SIGMA)
    with pytest.raises(TypeError, match="torch.Tensor"):
        den(y.numpy(), SIGMA)
    with pytest.raises(ValueError, match="shape"):
        den(y, torch.full((3,), SIGMA))
    if den.name != "wavelet" and den.name != "bm3d":
        with pytest.raises(ValueError, match="channel"):
            den(y.repeat(1, 3, 1, 1), SIGMA)


@pytest.mark.parametrize("den", _all_denoisers(), ids=lambda d: d.name)
def test_batch_equals_one_by_one(den):
    _, y = _noisy()
    s = torch.tensor([15 / 255, 30 / 255])
    both = den(y, s)
    for b in range(2):
        torch.testing.assert_close(both[b:b + 1], den(y[b:b + 1], float(s[b])), atol=1e-5, rtol=0)


def test_wavelet_denoiser_is_bayesshrink():
    _, y = _noisy(48)
    out = WaveletDenoiser()(y, SIGMA)
    ref = np.stack([wavelets.denoise(y[b, 0].numpy(), SIGMA) for b in range(2)])
    np.testing.assert_allclose(out[:, 0].numpy(), ref, atol=1e-6)
    # blind: the wavelet denoiser estimates sigma itself
    blind = WaveletDenoiser()(y, None)
    ref = np.stack([wavelets.denoise(y[b, 0].numpy()) for b in range(2)])
    np.testing.assert_allclose(blind[:, 0].numpy(), ref, atol=1e-6)


@pytest.mark.skipif(not denoisers.bm3d_available()[0], reason="bm3d is not installed")
def test_bm3d_matches_package_and_denoises():
    import bm3d

    x, y = _noisy(64, batch=1)
    out = denoisers.load("bm3d")(y, SIGMA)
    ref = bm3d.bm3d(y[0, 0].double().numpy(), sigma_psd=SIGMA)
    # bm3d itself is not deterministic (its threads work in float32: two calls on the same
    # input differ by 1e-6, and by up to 8e-5 on a loaded machine), so the wrapper is held
    # to the package's own spread between two calls, with a floor of 1e-4
    spread = np.abs(bm3d.bm3d(y[0, 0].double().numpy(), sigma_psd=SIGMA) - ref).max()
    np.testing.assert_allclose(out[0, 0].numpy(), ref, atol=max(1e-4, 3 * spread))
    assert float(metrics.psnr(out.clamp(0, 1), x)) > float(metrics.psnr(y, x)) + 3


def test_load_unknown_name():
    with pytest.raises(ValueError, match="no shipped weights named 'nope'"):
        denoisers.load("nope")
    with pytest.raises(TypeError):
        denoisers.load(3)


# ------------------------------------------------------------------ DnCNN
@settings(max_examples=8, deadline=None)
@given(h=st.integers(1, 23), w=st.integers(1, 23), c=st.sampled_from([1, 3]))
def test_dncnn_any_size_and_residual_form(h, w, c):
    torch.manual_seed(0)
    net = DnCNN(channels=c, depth=4, features=6)
    for p in net.parameters():  # leave the zero initialisation so the residual is not 0
        torch.nn.init.normal_(p, std=0.2)
    y = torch.rand(2, c, h, w)
    out = net(y)
    assert out.shape == y.shape
    torch.testing.assert_close(out, y - net.residual(y))
    assert net.residual(y).abs().max() > 0


def test_dncnn_starts_as_identity_and_counts_parameters():
    net = DnCNN(channels=1, depth=15, features=32)
    y = torch.rand(1, 1, 20, 20)
    torch.testing.assert_close(net(y), y)
    expected = (9 * 32 + 32) + 13 * (9 * 32 * 32 + 32) + (9 * 32 + 1)
    assert net.num_parameters() == expected
    for bad in (dict(depth=1), dict(features=0), dict(channels=1.5)):
        with pytest.raises(ValueError):
            DnCNN(**bad)
    with pytest.raises(ValueError, match="channel"):
        net.residual(torch.rand(1, 3, 8, 8))


def test_dncnn_learns_something_in_a_few_steps():
    torch.manual_seed(0)
    net = DnCNN(depth=3, features=8)
    images = [data.load_image(n) for n in data.TRAIN_IMAGES[:3]]
    batches = data.denoising_batches(images, 16, 8, (25, 25))
    hist = training.fit(net, denoisers.denoising_loss, batches, 40, lr=3e-3, progress=False)
    assert np.mean(hist.losses[-10:]) < 0.8 * np.mean(hist.losses[:5])


def test_denoising_batches_draw_the_noise_they_report():
    g = torch.Generator().manual_seed(0)
    images = [data.load_image(n) for n in data.TRAIN_IMAGES[:2]]
    clean, noisy, s = data.denoising_batches(images, 16, 64, (0, 25))(0, g)
    assert clean.shape == noisy.shape == (64, 1, 16, 16) and s.shape == (64,)
    assert 0 <= float(s.min()) and float(s.max()) <= 25 / 255
    resid = ((noisy - clean).flatten(1).std(dim=1) / s.clamp_min(1e-3))
    assert abs(float(resid[s > 5 / 255].mean()) - 1) < 0.05
    with pytest.raises(ValueError, match="sigma_range"):
        data.denoising_batches(images, 16, 4, (25, 5))


def test_winnet_too_small_image_is_a_clear_error():
    den = _tiny_winnet()
    with pytest.raises(ValueError, match="height and width"):
        den(torch.rand(1, 1, 1, 5), 0.1)


# ------------------------------------------------------------------ gradients and devices
@pytest.mark.parametrize("which", ["dncnn", "winnet"])
def test_gradients_flow_through_network_denoisers_float64(which):
    """torch.autograd.gradcheck through the Denoiser interface (finite differences)."""
    torch.manual_seed(0)
    if which == "dncnn":
        den = DnCNN(depth=3, features=3)
        for m in den.body:  # the last layer starts at zero: make the net non-trivial
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.normal_(m.weight, std=0.3)
        size = 6
    else:
        den = _tiny_winnet()
        size = 12
    den = den.double()
    x = torch.rand(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    assert den.differentiable
    assert torch.autograd.gradcheck(lambda v: den(v, 0.1), (x,), eps=1e-6, atol=1e-5)


def test_classical_denoisers_say_they_are_not_differentiable():
    assert not WaveletDenoiser().differentiable
    if denoisers.bm3d_available()[0]:
        assert not denoisers.BM3DDenoiser().differentiable


def test_a_denoiser_is_a_module_that_moves_and_keeps_the_input_device():
    den = _tiny_winnet()
    assert isinstance(den, torch.nn.Module)
    assert sum(1 for _ in den.parameters()) > 0
    moved = den.to("meta")  # no GPU here: the meta device shows what .to() moves
    assert all(p.device.type == "meta" for p in moved.parameters())


def test_no_grad_is_the_callers_choice():
    den = DnCNN(depth=3, features=4)
    x = torch.rand(1, 1, 8, 8, requires_grad=True)
    assert den(x, None).requires_grad
    with torch.no_grad():
        assert not den(x, None).requires_grad


def test_one_sigma_check_everywhere():
    from mbdl_teach.checks import check_sigma

    assert check_sigma(0.1, 3).tolist() == [0.1] * 3
    assert check_sigma(torch.tensor([0.1, 0.2]), 2).dtype == torch.float64
    assert check_sigma(None, 2, allow_none=True) is None
    like = torch.zeros(1, dtype=torch.float32)
    assert check_sigma(0.5, 2, like=like).dtype == torch.float32
    for bad, err, msg in ((None, ValueError, "needs the noise level"), ("a", TypeError, "float, a"),
                          (True, TypeError, "float, a"), (-0.1, ValueError, ">= 0"),
                          (float("nan"), ValueError, "finite"),
                          (torch.ones(3), ValueError, r"shape \(2,\)")):
        with pytest.raises(err, match=msg):
            check_sigma(bad, 2)
    # the same message from a denoiser and from WINNet itself
    with pytest.raises(ValueError, match=">= 0"):
        WaveletDenoiser()(torch.rand(1, 1, 16, 16), -1.0)
    with pytest.raises(ValueError, match=">= 0"):
        _tiny_winnet()(torch.rand(1, 1, 16, 16), -1.0)
