"""Tests of mbdl_teach.xray: the synthetic panels, file loading, the regression baseline, the
convolutional dictionary, the exclusion loss, the unfolded network and its training."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mbdl_teach import exercises, operators, unfolding, weights, xray


@pytest.fixture(scope="module")
def panel():
    return xray.synthetic_panel("ascent", "coins", seed=3, size=48)


def _rand_pair(gen, h=24, w=32, b=1):
    x = torch.rand(b, 1, h, w, generator=gen)
    r1 = torch.rand(b, 3, h, w, generator=gen)
    return x, r1


# ------------------------------------------------------------------ data
def test_panel_is_deterministic_and_consistent(panel):
    again = xray.synthetic_panel("ascent", "coins", seed=3, size=48)
    for a, b in ((panel.x, again.x), (panel.r1, again.r1), (panel.x2, again.x2)):
        assert torch.equal(a, b)
    assert panel.x.shape == (1, 1, 48, 48) and panel.r1.shape == (1, 3, 48, 48)
    assert panel.x1.shape == panel.x2.shape == panel.x.shape
    assert 0 <= float(panel.r1.min()) and float(panel.r1.max()) <= 1
    assert 0 < float(panel.x.min()) and float(panel.x.max()) < 1
    residual = panel.x - panel.x1 - panel.x2  # the noise only
    assert abs(float(residual.std()) - panel.info["noise"]) < 0.002
    other = xray.synthetic_panel("ascent", "coins", seed=4, size=48)
    assert not torch.equal(other.x, panel.x)


def test_panel_double_sided_flips_the_concealed_design():
    a = xray.synthetic_panel("camera", "moon", seed=0, size=32, noise=0.0)
    b = xray.synthetic_panel("camera", "moon", seed=0, size=32, noise=0.0, double_sided=False)
    assert torch.allclose(a.x2, b.x2.flip(-1))
    assert torch.allclose(a.x1, b.x1)


def test_paint_model_is_not_a_polynomial_of_the_photograph(panel):
    # even a degree-6 regression on the noise-free visible X-ray leaves an error
    x1, _ = xray.regression_split(panel.x1, panel.r1, degree=6)
    assert float((x1 - panel.x1).pow(2).mean().sqrt()) > 1e-3


@pytest.mark.parametrize("kw, msg", [
    (dict(size=31), "even integer"), (dict(noise=-1.0), "noise"), (dict(texture=-0.1), "texture"),
    (dict(n_pigments=1), "n_pigments")])
def test_panel_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        xray.synthetic_panel("camera", "moon", **kw)


def test_load_panel_roundtrip_png_and_tiff(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    xr = rng.integers(0, 65535, (20, 30), dtype=np.uint16)
    photo = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(xr).save(tmp_path / "xray.tif")
    Image.fromarray(photo).save(tmp_path / "photo.png")
    x, r1 = xray.load_panel(tmp_path)
    assert x.shape == (1, 1, 20, 30) and r1.shape == (1, 3, 20, 30)
    assert np.allclose(x[0, 0].numpy(), xr / 65535.0, atol=1e-6)
    assert np.allclose(r1[0].permute(1, 2, 0).numpy(), photo / 255.0, atol=1e-6)
    x8 = rng.integers(0, 255, (20, 30), dtype=np.uint8)
    Image.fromarray(x8).save(tmp_path / "x8.png")
    x, _ = xray.load_panel(tmp_path / "x8.png", tmp_path / "photo.png")
    assert np.allclose(x[0, 0].numpy(), x8 / 255.0, atol=1e-6)


def test_load_panel_errors(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "x.png")
    Image.fromarray(np.zeros((21, 30, 3), np.uint8)).save(tmp_path / "big.png")
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "grey.png")
    with pytest.raises(ValueError, match="differ in size"):
        xray.load_panel(tmp_path / "x.png", tmp_path / "big.png")
    with pytest.raises(ValueError, match="must be an RGB image"):
        xray.load_panel(tmp_path / "x.png", tmp_path / "grey.png")
    with pytest.raises(FileNotFoundError, match="no image file"):
        xray.load_panel(tmp_path / "x.png", tmp_path / "none.png")
    with pytest.raises(FileNotFoundError, match="no xray.png"):
        xray.load_panel(tmp_path)


# ------------------------------------------------------------------ regression
@pytest.mark.parametrize("degree", [1, 2, 3])
def test_regression_split_matches_numpy_lstsq(degree):
    gen = torch.Generator().manual_seed(degree)
    x, r1 = _rand_pair(gen)
    x1, x2 = xray.regression_split(x, r1, degree)
    assert torch.allclose(x1 + x2, x, atol=1e-6)
    # independent reference: numpy lstsq on the monomials
    c = r1[0].reshape(3, -1).double().numpy()
    cols = [c[0] ** a * c[1] ** b * c[2] ** d for a in range(degree + 1)
            for b in range(degree + 1) for d in range(degree + 1) if a + b + d <= degree]
    A = np.stack(cols, 1)
    coef = np.linalg.lstsq(A, x.reshape(-1).double().numpy(), rcond=None)[0]
    assert np.allclose(x1.reshape(-1).numpy(), A @ coef, atol=1e-5)


def test_regression_split_recovers_a_polynomial_surface():
    gen = torch.Generator().manual_seed(0)
    _, r1 = _rand_pair(gen)
    x1 = 0.2 + 0.3 * r1[:, :1] ** 2 - 0.1 * r1[:, 1:2] * r1[:, 2:]
    a, _ = xray.regression_split(x1, r1, 2)
    assert torch.allclose(a, x1, atol=1e-5)


def test_bad_inputs_give_clear_errors():
    gen = torch.Generator().manual_seed(0)
    x, r1 = _rand_pair(gen)
    with pytest.raises(ValueError, match="differ in batch or size"):
        xray.regression_split(x, r1[..., :-2])
    with pytest.raises(ValueError, match="grey photograph will not do"):
        xray.regression_split(x, r1[:, :1])
    with pytest.raises(ValueError, match="degree"):
        xray.regression_split(x, r1, 0)
    with pytest.raises(ValueError, match="exclusion must be >= 0"):
        xray.separation_loss(exclusion=-0.1)
    with pytest.raises(ValueError, match="photo must be >= 0"):
        xray.separate(x, r1, photo=-1.0)
    with pytest.raises(ValueError, match="adapt_steps must be an integer >= 0"):
        xray.separate(x, r1, adapt_steps=-1)
    with pytest.raises(TypeError, match="must be a SeparationNet"):
        xray.separate(x, r1, net=torch.nn.Identity())
    with pytest.raises(ValueError, match="differ in batch or size"):
        xray.separate(x, r1[..., :-2])
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        xray.separate(x.numpy(), r1)
    with pytest.raises(ValueError, match="contains NaN"):
        xray.regression_split(x * float("nan"), r1)


# ------------------------------------------------------------------ dictionary
@pytest.mark.parametrize("f", [3, 4, 5])
def test_conv_dictionary_matches_circular_conv2d_and_is_adjoint(f):
    gen = torch.Generator().manual_seed(f)
    D = xray.ConvDictionary(6, f, 3, init=torch.randn(3, 6, f, f, generator=gen)).double()
    D.requires_grad_(False)
    z = torch.randn(2, 6, 16, 20, generator=gen, dtype=torch.float64)
    # independent reference: pad circularly, correlate with the flipped filters (true conv)
    c = f // 2
    zp = F.pad(z, (f - 1 - c, c, f - 1 - c, c), mode="circular")
    ref = F.conv2d(zp, D.filters.flip(-1, -2))
    assert torch.allclose(D(z), ref, atol=1e-10)
    assert operators.adjointness_error(D, (2, 6, 16, 20)) < 1e-10


def test_dct_dictionary_is_a_parseval_frame_and_pinv_inverts():
    D = xray.ConvDictionary(16, 4).double()
    gen = torch.Generator().manual_seed(0)
    y = torch.randn(1, 1, 12, 18, generator=gen, dtype=torch.float64)
    assert torch.allclose(D(D.adjoint(y)), y, atol=1e-10)
    assert torch.allclose(D(D.pinv(y)), y, atol=1e-5)
    small = xray.ConvDictionary(9, 4).double()  # fewer atoms: pinv still reproduces closely
    assert float((small(small.pinv(y, eps=1e-10)) - y).abs().max()) < 1e-3


# ------------------------------------------------------------------ exclusion
def test_exclusion_loss_zero_for_disjoint_edges_positive_otherwise():
    def step_at(col=None, row=None, height=1.0):
        t = torch.zeros(1, 1, 64, 64)
        if col is not None:
            t[..., :, col:] = height
        if row is not None:
            t[..., row:, :] = height
        return t

    a, b = step_at(col=8), step_at(col=40, height=0.5)  # parallel edges, far apart
    assert float(xray.exclusion_loss(a, b)) == 0.0
    assert float(xray.exclusion_loss(a, step_at(row=16))) == 0.0  # crossing, other direction
    assert float(xray.exclusion_loss(a, torch.zeros_like(a))) == 0.0
    assert float(xray.exclusion_loss(a, 0.7 * a)) > 0.05  # the same edge in both
    assert float(xray.exclusion_loss(a, a + b)) > 0.02
    gen = torch.Generator().manual_seed(0)
    u, v = torch.rand(2, 1, 1, 32, 32, generator=gen)
    assert float(xray.exclusion_loss(u, v)) > 0
    g = a.clone().requires_grad_()
    xray.exclusion_loss(g, b).backward()  # zero terms have a zero, not a NaN, gradient
    assert torch.isfinite(g.grad).all()
    with pytest.raises(ValueError, match="one shape"):
        xray.exclusion_loss(a, b[..., :32])
    with pytest.raises(ValueError, match="too small"):
        xray.exclusion_loss(a[..., :4, :4], b[..., :4, :4])


def test_edge_map_shape_and_sign():
    x = torch.rand(2, 1, 18, 30)
    e = xray.edge_map(x)
    assert e.shape == x.shape and float(e.min()) >= 0
    assert float(xray.edge_map(torch.ones(1, 1, 16, 16)).abs().max()) == 0


# ------------------------------------------------------------------ network
def test_untrained_network_reproduces_the_regression_split(panel):
    for degree in (2, 3):
        net = xray.SeparationNet(3, 16, 4, degree=degree).eval()
        assert isinstance(net, unfolding.Unfolded)
        with torch.no_grad():
            a, b = net(panel.x, panel.r1)
        ra, rb = xray.regression_split(panel.x, panel.r1, degree)
        assert torch.allclose(a, ra, atol=1e-5) and torch.allclose(b, rb, atol=1e-5)
        assert torch.allclose(a + b, panel.x, atol=1e-5)


@pytest.mark.parametrize("h, w", [(16, 16), (18, 30), (32, 24)])
def test_network_output_shapes_for_even_sizes(h, w):
    gen = torch.Generator().manual_seed(h)
    x, r1 = _rand_pair(gen, h, w, b=2)
    net = xray.SeparationNet(2, 9, 3)
    x1, x2 = net(x, r1)
    assert x1.shape == x2.shape == (2, 1, h, w)


def _trained_like(net, gen):
    with torch.no_grad():
        net.theta.copy_(0.01 * torch.rand(net.theta.shape, generator=gen))
        net.gamma.copy_(0.3 * torch.rand(net.gamma.shape, generator=gen))
        net.step.copy_(0.3 + 0.2 * torch.rand(net.step.shape, generator=gen))
        net.Omega.filters.add_(0.05 * torch.randn(net.Omega.filters.shape, generator=gen))
        net.Xi.filters.add_(0.02 * torch.randn(net.Xi.filters.shape, generator=gen))
    return net.double()


def test_layer_is_the_ista_step_and_a_proximal_gradient_step():
    gen = torch.Generator().manual_seed(0)
    net = _trained_like(xray.SeparationNet(2, 9, 3), gen).eval()
    x, r1 = (t.double() for t in _rand_pair(gen, 16, 20))
    z = 0.1 * torch.randn(1, 18, 16, 20, generator=gen, dtype=torch.float64)
    out = net.layer(1, z, x, r1=r1)
    z1, z2 = z[:, :9], z[:, 9:]
    th = net.theta[1].detach()[:, :, None, None]
    ref1, ref2 = xray.ista_codes_step(z1, z2, x, r1, net.Xi, net.Omega, net.step[1], th[0],
                                      th[1], net.gamma[1])
    assert torch.allclose(out, torch.cat([ref1, ref2], 1), atol=1e-10)
    # independent reference: autograd gradient of the smooth part, then soft thresholding
    zz = z.clone().requires_grad_()
    a, b = zz[:, :9], zz[:, 9:]
    smooth = 0.5 * (x - net.Xi(a) - net.Xi(b)).pow(2).sum() \
        + 0.5 * net.gamma[1] * (r1 - net.Omega(a)).pow(2).sum()
    (g,) = torch.autograd.grad(smooth, zz)
    v = z - net.step[1] * g
    t = torch.cat([th[0].expand(9, 1, 1), th[1].expand(9, 1, 1)], 0)
    assert torch.allclose(out, torch.sign(v) * (v.abs() - t).clamp(min=0), atol=1e-8)


def test_exclusion_coupling_raises_thresholds_at_the_other_components_edges():
    gen = torch.Generator().manual_seed(1)
    net = _trained_like(xray.SeparationNet(1, 9, 3), gen).eval()
    with torch.no_grad():
        net.mu.fill_(0.5)
    x, r1 = (t.double() for t in _rand_pair(gen, 16, 16))
    z = 0.1 * torch.randn(1, 18, 16, 16, generator=gen, dtype=torch.float64)
    out = net.layer(0, z, x, r1=r1)
    z1, z2 = z[:, :9], z[:, 9:]
    th = net.theta[0].detach()[:, :, None, None]
    t1 = th[0] + 0.5 * xray.edge_map(net.Xi(z2))
    t2 = th[1] + 0.5 * xray.edge_map(net.Xi(z1))
    ref = xray.ista_codes_step(z1, z2, x, r1, net.Xi, net.Omega, net.step[0], t1, t2, net.gamma[0])
    assert torch.allclose(out, torch.cat(ref, 1), atol=1e-10)


def test_separate_adapts_a_copy_for_exactly_its_steps(panel):
    torch.manual_seed(0)
    net = xray.SeparationNet(2, 16, 4)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    plain = xray.separate(panel.x, panel.r1, net)
    a = xray.separate(panel.x, panel.r1, net, adapt_steps=6, seed=1, lr=3e-3)
    b = xray.separate(panel.x, panel.r1, net, adapt_steps=6, seed=1, lr=3e-3)
    c = xray.separate(panel.x, panel.r1, net, adapt_steps=6, seed=2, lr=3e-3)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())  # a copy
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # seeded: it replays
    assert not torch.allclose(a[1], plain[1]) and not torch.allclose(a[1], c[1])
    # the untrained network returns its start, the degree-3 regression split
    reg = xray.regression_split(panel.x, panel.r1, 3)
    assert torch.allclose(plain[0], reg[0], atol=1e-4) and torch.allclose(plain[1], reg[1], atol=1e-4)


def test_allocate_residual_shares_the_resynthesis_error(panel):
    gen = torch.Generator().manual_seed(3)
    x1 = panel.x1 + 0.01 * torch.randn(panel.x1.shape, generator=gen)
    x2 = panel.x2 - 0.02 * torch.randn(panel.x2.shape, generator=gen)
    e = panel.x - x1 - x2
    a, b = xray.allocate_residual(panel.x, x1, x2)
    assert torch.allclose(a + b, panel.x, atol=1e-6)  # x1 + x2 reproduces x, noise included
    assert torch.allclose(a - x1, e / 2, atol=1e-6) and torch.allclose(b - x2, e / 2, atol=1e-6)


def test_random_panels_are_seeded_and_leave_pairs_out():
    a = xray.random_panels(3, images=("camera", "coins", "moon"), size=32, seed=4,
                           exclude=[("camera", "coins")])
    b = xray.random_panels(3, images=("camera", "coins", "moon"), size=32, seed=4,
                           exclude=[("camera", "coins")])
    pairs = [(p.info["visible"], p.info["concealed"]) for p in a]
    assert ("camera", "coins") not in pairs and len(set(pairs)) == 3
    assert all(torch.equal(p.x, q.x) for p, q in zip(a, b))
    noise = [float((p.x - p.x1 - p.x2).std()) for p in a]
    assert all(0.002 < n < 0.025 for n in noise) and max(noise) - min(noise) > 1e-4
    with pytest.raises(ValueError, match="n_panels must be an integer in \\[1, 5\\]"):
        xray.random_panels(6, images=("camera", "coins", "moon"), exclude=[("camera", "coins")])


def test_pretraining_batches_and_a_short_pretraining():
    panels = xray.random_panels(4, size=32, seed=0)
    batches = xray.pretrain_batches(panels, patch=16, batch=5)
    b = batches(0, torch.Generator().manual_seed(0))
    assert set(b) == {"x", "r1", "x1r", "x2r", "x1", "x2"}
    assert b["x"].shape == (5, 1, 16, 16) and b["r1"].shape == (5, 3, 16, 16)
    assert torch.allclose(b["x1r"] + b["x2r"], b["x"], atol=1e-5)
    assert float((b["x"] - b["x1"] - b["x2"]).abs().max()) < 0.1  # only the noise is left
    with pytest.raises(ValueError, match="one size"):
        xray.pretrain_batches(panels + xray.random_panels(1, size=48))
    torch.manual_seed(0)
    net = xray.SeparationNet(2, 16, 4)
    assert float(xray.network_gains(net, panels[:2]).abs().max()) < 1e-3  # its start
    hist = xray.pretrain_separation(net, panels, n_steps=40, lr=3e-3, val_panels=panels[:2],
                                    val_every=20, patch=16, batch=8)
    assert hist.val_steps == [20, 40] and net.best_step in (20, 40)
    assert float(xray.network_gains(net, panels[:2]).mean()) == pytest.approx(
        max(hist.val_values), abs=1e-6)  # it kept its best state


def test_shipped_pretrained_network_beats_regression_on_a_panel_of_test_images():
    p = xray.synthetic_panel("coins", "moon", seed=6, size=128, noise=0.01)
    x1, x2 = xray.separate(p.x, p.r1)  # the default: the shipped pre-trained network
    g1, g2 = xray.gain_over_regression(x1, x2, p).tolist()
    r1, r2 = xray.regression_split(p.x, p.r1, 3)
    assert xray.mean_matched_psnr(x2, p.x2) - xray.mean_matched_psnr(r2, p.x2) == pytest.approx(g2, abs=1e-4)
    assert xray.mean_matched_psnr(x1, p.x1) - xray.mean_matched_psnr(r1, p.x1) == pytest.approx(g1, abs=1e-4)
    net = weights.load("xray_pretrained")[0]
    assert xray.network_gains(net, [p])[0].tolist() == pytest.approx([g1, g2], abs=1e-5)
    assert g1 > 0 and g2 > 0


def test_supervised_variant_improves_on_its_panel():
    p = xray.synthetic_panel("astronaut", "coffee", seed=0, size=32)
    torch.manual_seed(0)
    net = xray.SeparationNet(2, 16, 4)
    before = xray.mean_matched_psnr(xray.regression_split(p.x, p.r1, 2)[1], p.x2)
    hist = xray.train_separation(net, p.x, p.r1, n_steps=30, lr=3e-3, supervised=True,
                                 truth=(p.x1, p.x2), patch=32, batch=2, check_every=10,
                                 patience=5)
    _, x2 = xray.separate(p.x, p.r1, net=net)
    assert hist.steps >= 10
    assert xray.mean_matched_psnr(x2, p.x2) >= before
    with pytest.raises(ValueError, match="needs truth"):
        xray.train_separation(net, p.x, p.r1, n_steps=1, supervised=True)


def test_mean_matched_psnr_ignores_the_constant():
    gen = torch.Generator().manual_seed(0)
    ref = torch.rand(1, 1, 16, 16, generator=gen)
    est = ref + 0.01 * torch.randn(1, 1, 16, 16, generator=gen)
    assert xray.mean_matched_psnr(est + 0.3, ref) == pytest.approx(
        xray.mean_matched_psnr(est, ref), abs=1e-4)
    assert xray.mean_matched_psnr(est, ref) > 38
    assert 0.9 < xray.mean_matched_ssim(est - 0.2, ref) <= 1
    with pytest.raises(ValueError, match="differ in shape"):
        xray.mean_matched_psnr(est, ref[..., :8])


def test_model_kind_is_registered_and_shipped_entries_pass_their_check():
    assert "xray_separation" in weights.kinds()
    for name, info in weights.read_manifest().items():
        if info.get("model") == "xray_separation":
            weights.check(name)


# ------------------------------------------------------------------ exercises
def test_exercise_checkers_pass_the_reference_and_fail_wrong_answers(capsys):
    assert exercises.check_exclusion_loss(xray.exclusion_loss)
    assert not exercises.check_exclusion_loss(lambda a, b: (a * b).mean())
    assert not exercises.check_exclusion_loss(lambda a, b: xray.exclusion_loss(a, b, levels=1))
    assert exercises.check_xray_ista_layer(exercises.reference_xray_ista_layer)

    def wrong(z1, z2, x, r1, Xi, Omega, step, theta1, theta2, gamma):  # forgot the photograph
        return exercises.reference_xray_ista_layer(z1, z2, x, r1, Xi, Omega, step, theta1,
                                                   theta2, 0.0)

    assert not exercises.check_xray_ista_layer(wrong)
    out = capsys.readouterr().out
    assert "FAIL" in out and "PASS" in out


# ----------------------------------------------------------------------------- operators
def test_separation_operator_is_the_mixture_and_photograph_term_with_its_adjoint():
    from mbdl_teach.operators.base import adjointness_error

    g = torch.Generator().manual_seed(3)
    Xi = xray.ConvDictionary(6, 3, 1, torch.randn(1, 6, 3, 3, generator=g, dtype=torch.float64))
    Omega = xray.ConvDictionary(6, 3, 3, torch.randn(3, 6, 3, 3, generator=g,
                                                     dtype=torch.float64))
    Xi, Omega = Xi.double(), Omega.double()
    op = xray.SeparationOperator(Xi, Omega, gamma=0.7)
    assert adjointness_error(op, (2, 12, 10, 9), dtype=torch.float64) < 1e-12
    z = torch.randn(2, 12, 10, 9, generator=g, dtype=torch.float64)
    z1, z2 = z[:, :6], z[:, 6:]
    out = op(z)
    torch.testing.assert_close(out[:, :1], Xi(z1) + Xi(z2))
    torch.testing.assert_close(out[:, 1:], 0.7 ** 0.5 * Omega(z1))
    # one ISTA step on the codes: the gradient through the operator is the written one
    x = torch.randn(2, 1, 10, 9, generator=g, dtype=torch.float64)
    r1 = torch.randn(2, 3, 10, 9, generator=g, dtype=torch.float64)
    e = x - Xi(z1) - Xi(z2)
    v1 = z1 + 0.3 * (Xi.adjoint(e) + 0.7 * Omega.adjoint(r1 - Omega(z1)))
    v2 = z2 + 0.3 * Xi.adjoint(e)
    got = xray.ista_codes_step(z1, z2, x, r1, Xi, Omega, 0.3, 0.05, 0.1, 0.7)
    soft = lambda v, t: torch.sign(v) * torch.clamp(v.abs() - t, min=0)  # noqa: E731
    torch.testing.assert_close(got[0], soft(v1, 0.05))
    torch.testing.assert_close(got[1], soft(v2, 0.1))


@pytest.mark.parametrize("channels", [1, 3])
def test_conv_dictionary_solves_its_normal_equations_in_closed_form(channels):
    from mbdl_teach.operators import LinearOperator

    g = torch.Generator().manual_seed(channels)
    Xi = xray.ConvDictionary(5, 3, channels,
                             torch.randn(channels, 5, 3, 3, generator=g, dtype=torch.float64))
    Xi = Xi.double()
    rhs = torch.randn(2, 5, 8, 11, generator=g, dtype=torch.float64)
    got = Xi.solve_normal(rhs, 0.3)
    torch.testing.assert_close(Xi.normal(got) + 0.3 * got, rhs)
    cg = LinearOperator.solve_normal(Xi, rhs, 0.3, cg_n_iter=500, tol=1e-14)
    torch.testing.assert_close(got, cg, rtol=1e-8, atol=1e-9)
    assert Xi.closed_form_solve


def test_panel_batches_is_the_one_panel_case_of_pretrain_batches():
    p = xray.synthetic_panel("astronaut", "coffee", seed=0, size=40)
    one = xray.panel_batches(p.x, p.r1, patch=16, batch=4, degree=3, x1=p.x1, x2=p.x2)
    many = xray.pretrain_batches([p], patch=16, batch=4, degree=3)
    a, b = one(0, torch.Generator().manual_seed(5)), many(0, torch.Generator().manual_seed(5))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # an independent crop: the patch at the position drawn for the first item
    g = torch.Generator().manual_seed(5)
    r, c = (torch.randint(0, 40 - 16 + 1, (4,), generator=g) for _ in range(2))
    assert torch.equal(a["x"][0], p.x[0, :, r[0]:r[0] + 16, c[0]:c[0] + 16])
    with pytest.raises(ValueError, match="one panel"):
        xray.panel_batches(torch.cat([p.x, p.x]), torch.cat([p.r1, p.r1]))


def test_gain_over_regression_rejects_what_is_not_a_panel():
    p = xray.synthetic_panel("astronaut", "coffee", seed=0, size=32)
    assert xray.gain_over_regression(*xray.regression_split(p.x, p.r1, 3), p).abs().max() < 1e-9
    with pytest.raises(TypeError, match="xray.Panel"):
        xray.gain_over_regression(p.x, p.x, (p.x, p.r1))


def test_pretraining_resumes_to_the_same_network_and_best_state(tmp_path, monkeypatch):
    panels = xray.random_panels(3, size=32, seed=2)

    def run(ckpt):
        torch.manual_seed(0)
        net = xray.SeparationNet(2, 16, 4)
        hist = xray.pretrain_separation(net, panels, n_steps=40, lr=3e-3,
                                        val_panels=panels[:2], val_every=10, patch=16,
                                        batch=4, checkpoint=ckpt)
        return net, hist

    whole, h_whole = run(tmp_path / "a.pt")
    gains, calls = xray.training.network_gains, []

    def interrupted(*args, **kw):  # the machine stops at the check of step 30
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return gains(*args, **kw)

    monkeypatch.setattr(xray.training, "network_gains", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b.pt")
    monkeypatch.setattr(xray.training, "network_gains", gains)
    assert xray.training.best_checkpoint(tmp_path / "b.pt").is_file()
    resumed, h_res = run(tmp_path / "b.pt")  # continues from step 20
    assert h_res.val_steps == h_whole.val_steps == [10, 20, 30, 40]
    assert h_res.val_values == pytest.approx(h_whole.val_values, abs=1e-6)
    assert resumed.best_step == whole.best_step
    for (k, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), k
