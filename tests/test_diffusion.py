"""Tests of mbdl_teach.diffusion and the degradation INN, each against an independent
reference (closed forms, Monte Carlo, an oracle noise predictor)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mbdl_teach import data, diffusion as D
from mbdl_teach.inn import DegradationINN
from mbdl_teach.operators import Blur, Downsample, Identity, box_kernel, gaussian_kernel


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = D.DiffusionModel(channels=(8, 16, 16), tdim=32, T=100).eval()
    for p in m.parameters():  # a random, non-zero network (the output layer starts at zero)
        p.data.normal_(0, 0.05)
    return m


class Oracle(nn.Module):
    """The noise predictor of a model that knows the clean image ``x0`` ([-1, 1] scale)."""

    def __init__(self, x0, schedule):
        super().__init__()
        self.x0, self.schedule = x0, schedule
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x_t, t):
        a = self.schedule.abar(t.double()).float().view(-1, 1, 1, 1)
        return (x_t - a.sqrt() * self.x0) / (1 - a).sqrt()


@pytest.mark.parametrize("kind", D.SCHEDULES)
def test_alpha_bar_decreases_inside_0_1(kind):
    s = D.Schedule(kind, T=1000)
    a = s.alpha_bar
    assert (a > 0).all() and (a < 1).all()
    assert (a[1:] < a[:-1]).all()
    assert float(a[0]) > 0.99 and float(a[-1]) < 0.01


def test_linear_alpha_bar_is_the_product_of_one_minus_beta():
    s = D.Schedule("linear", T=50)
    ref = [math.prod(1 - b for b in torch.linspace(1e-4, 0.02, 50).tolist()[: t + 1])
           for t in range(50)]
    assert torch.allclose(s.alpha_bar, torch.tensor(ref, dtype=torch.float64), rtol=1e-6)


def test_t_of_sigma_inverts_sigma():
    s = D.Schedule("linear", T=1000)
    t = torch.tensor([3.0, 10.5, 250.25, 998.0])
    assert torch.allclose(s.t_of_sigma(s.sigma(t)), t.double(), atol=1e-6)


def test_q_sample_mean_and_variance():
    s = D.Schedule("linear", T=1000)
    x0 = torch.full((1, 1, 200, 200), 0.6)
    for t in (0, 300, 999):
        x = D.q_sample(x0, t, s, generator=torch.Generator().manual_seed(t))
        a = float(s.alpha_bar[t])
        assert abs(float(x.mean()) - math.sqrt(a) * 0.6) < 4 * math.sqrt((1 - a) / 4e4) + 1e-6
        assert abs(float(x.var()) / (1 - a) - 1) < 0.03


def test_ddim_with_eta_one_is_the_ddpm_posterior():
    """Same mean and variance per pixel (Monte Carlo over a million pixels)."""
    s = D.Schedule("linear", T=1000)
    t, t_prev = 600, 550
    x0 = torch.full((1, 1, 1000, 1000), 0.3)
    x_t = torch.full_like(x0, -0.2)
    a = s.alpha_bar[t]
    eps = (x_t - a.sqrt().float() * x0) / (1 - a).sqrt().float()
    ddpm = D.ddpm_step(x_t, x0, s, t, t_prev, torch.Generator().manual_seed(1))
    ddim = D.ddim_step(x0, eps, s, t, t_prev, 1.0, torch.Generator().manual_seed(2))
    assert abs(float(ddpm.mean() - ddim.mean())) < 5e-3  # 5 standard errors
    assert abs(float(ddpm.std() / ddim.std()) - 1) < 5e-3


def test_ddim_with_eta_zero_is_deterministic(model):
    a = model.sample(2, n_steps=8, eta=0.0, generator=torch.Generator().manual_seed(0))
    b = model.sample(2, n_steps=8, eta=0.0, generator=torch.Generator().manual_seed(0))
    c = model.sample(2, n_steps=8, eta=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (2, 1, 32, 32) and 0 <= float(a.min()) and float(a.max()) <= 1


def test_the_denoiser_view_inverts_the_noising_at_its_sigma():
    """With the true noise as the prediction, the denoiser returns the clean image."""
    x = data.load_image("camera", size=32)[None]
    m = D.DiffusionModel(channels=(8, 16, 16), tdim=32)
    m.unet = Oracle(2 * x - 1, m.schedule)
    den = D.as_denoiser(m)
    for sigma in (5 / 255, 25 / 255, 0.2):
        y = data.add_gaussian_noise(x, sigma, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(den(y, sigma), x, atol=1e-4)


def test_ddnm_with_the_identity_and_no_noise_returns_y(model):
    y = data.load_image("moon", size=32)[None]
    out = D.ddnm(y, Identity(), model, n_steps=10, delta=1e-9,
                 generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out, y, atol=1e-5)


def test_dps_without_guidance_is_the_unconditional_sampler(model):
    op = Blur(gaussian_kernel(1.0))
    y = torch.rand(1, 1, 32, 32)
    a = D.dps(y, op, model, n_steps=6, zeta=0.0, generator=torch.Generator().manual_seed(3))
    b = model.sample(1, n_steps=6, eta=1.0, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(a, b, atol=1e-6)


def test_dps_moves_towards_the_data(model):
    x = data.load_image("camera", size=32)[None]
    op = Blur(gaussian_kernel(1.0))
    y = op(x)
    errs = [float((op(D.dps(y, op, model, n_steps=20, guidance="constant", zeta=z,
                             generator=torch.Generator().manual_seed(0))) - y).norm())
            for z in (0.0, 0.5, 2.0)]
    assert errs[0] > errs[1] > errs[2]  # a larger step, a smaller misfit


def test_degradation_inn_is_invertible_and_haar_is_the_block_mean():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 16, 16)
    haar = DegradationINN(levels=2, steps=0)
    c, d = haar(x)
    assert torch.allclose(c, F.avg_pool2d(x, 4), atol=1e-6)
    inn = DegradationINN(levels=2, steps=2, hidden=8)
    for p in inn.parameters():
        p.data.normal_(0, 0.2)
    c, d = inn(x)
    assert [t.shape[-1] for t in d] == [8, 4]
    assert torch.allclose(inn.inverse(c, d), x, atol=1e-5)
    with pytest.raises(ValueError, match="divisible"):
        inn(torch.rand(1, 1, 18, 18))


def test_indigo_consistency_makes_the_coarse_part_equal_y(model):
    torch.manual_seed(1)
    inn = DegradationINN(levels=1, steps=2, hidden=8)
    for p in inn.parameters():
        p.data.normal_(0, 0.1)
    y = F.avg_pool2d(torch.rand(2, 1, 32, 32), 2)
    seen = []
    D.indigo(y, inn, model, n_steps=5, generator=torch.Generator().manual_seed(0),
             callback=lambda i, t, x, x0: seen.append(x0))
    for x0 in seen:
        assert torch.allclose(inn.coarse((x0 + 1) / 2), y, atol=1e-5)


def test_indigo_with_haar_is_ddnm_on_average_pooling(model):
    y = F.avg_pool2d(data.load_image("coins", size=32)[None], 4)
    a = D.ddnm(y, Downsample(4, box_kernel(4)), model, n_steps=10, delta=1e-9,
               generator=torch.Generator().manual_seed(5))
    b = D.indigo(y, DegradationINN(levels=2, steps=0), model, n_steps=10,
                 generator=torch.Generator().manual_seed(5))
    assert torch.allclose(a, b, atol=1e-5)


def test_posterior_mean_averages_seeded_samples(model):
    y = torch.rand(1, 1, 32, 32)
    kw = dict(y=y, op=Blur(gaussian_kernel(1.0)), model=model, n_steps=4)
    mean, samples = D.posterior_mean(D.ddnm, 3, generator=torch.Generator().manual_seed(0),
                                     return_samples=True, **kw)
    assert samples.shape == (3, 1, 1, 32, 32)
    assert torch.allclose(mean, samples.mean(0))
    again = D.posterior_mean(D.ddnm, 3, generator=torch.Generator().manual_seed(0), **kw)
    assert torch.equal(mean, again)


def test_clear_errors(model):
    with pytest.raises(ValueError, match="multiples of 4"):
        model.sample(1, n_steps=4, size=30)
    with pytest.raises(ValueError, match="multiples of 4"):
        model(torch.rand(1, 1, 30, 32), 5)
    with pytest.raises(ValueError, match=r"1\.\.100"):
        model.sample(1, n_steps=101)
    with pytest.raises(ValueError, match=r"1\.\.100"):
        D.ddnm(torch.rand(1, 1, 32, 32), Identity(), model, n_steps=500)
    with pytest.raises(ValueError, match="y has shape"):
        D.ddnm(torch.rand(1, 1, 8, 8), Identity(), model, n_steps=4, shape=(1, 1, 32, 32))
    with pytest.raises(ValueError, match="y has shape"):
        D.indigo(torch.rand(1, 1, 8, 8), DegradationINN(levels=1, steps=0), model, n_steps=4,
                 shape=(1, 1, 32, 32))
    with pytest.raises(ValueError, match="schedule"):
        D.Schedule("quadratic")
    with pytest.raises(TypeError):
        D.as_denoiser(nn.Conv2d(1, 1, 3))


def test_box_kernel_is_avg_pool():
    x = torch.rand(2, 1, 24, 24)
    for f in (1, 2, 3, 4):
        assert torch.allclose(Downsample(f, box_kernel(f))(x), F.avg_pool2d(x, f), atol=1e-6)


def test_degraded_patches_come_from_the_finer_grid():
    g = torch.Generator().manual_seed(0)
    x, y = data.degraded_patches(["camera"], 3, 32, None, 0.0, factor=4, generator=g)
    assert x.shape == (3, 1, 32, 32) and y.shape == (3, 1, 8, 8)
    assert torch.allclose(F.avg_pool2d(x, 4), y, atol=1e-6)
    x, y = data.degraded_patches(["camera"], 3, 32, 1.6, 0.0, generator=g)
    coarse = Blur(gaussian_kernel(1.6))(x)  # the reconstruction model: close, not equal
    err = float((coarse - y).abs().mean())
    assert 1e-4 < err < 0.02


def test_chapter_07_checkers():
    from mbdl_teach import exercises as E

    sched_ref = lambda x0, t, b, n: D.q_sample(  # noqa: E731  (the package's, independently)
        x0, t, _schedule_from(b), noise=n)
    assert E.check_q_sample(sched_ref)
    assert not E.check_q_sample(lambda x0, t, b, n: x0 + n)
    off_by_one = lambda x0, t, b, n: E.reference_q_sample(x0, (t - 1).clamp(min=0), b, n)  # noqa: E731
    assert not E.check_q_sample(off_by_one)
    proj = lambda x0, y, op, d: x0 + op.T(y - op(x0))  # noqa: E731  (no normal-equation solve)
    assert not E.check_ddnm_projection(proj)

    def dense(x0, y, op, d):  # with the operator's matrix, built column by column
        n = x0.numel()
        cols = torch.eye(n, dtype=torch.float64).reshape(n, *x0.shape[1:])[:, None]
        H = torch.stack([op(c[None] if c.ndim == 3 else c).flatten() for c in cols], 1)
        A = torch.linalg.solve(H.T @ H + d * torch.eye(n, dtype=torch.float64), H.T)
        return x0 + (A @ (y.flatten() - H @ x0.flatten())).reshape(x0.shape)

    assert E.check_ddnm_projection(dense)


def _schedule_from(betas):
    s = D.Schedule("linear", T=2)
    s.T, s.betas = len(betas), betas
    s.alpha_bar = torch.cumprod(1 - betas, 0)
    return s


@pytest.mark.parametrize("solver", ["sample", "ddnm", "ddnm_noisy", "dps", "dps_constant",
                                    "diffpir", "diffpir_noisy", "indigo", "indigo_noisy"])
def test_with_an_oracle_network_every_sampler_returns_the_truth(solver):
    """If the network knew the clean image, every sampler (any noise, any guidance that the
    truth satisfies) would end on it: the loops put no error of their own in."""
    x = data.load_image("camera", size=32)[None]
    m = D.DiffusionModel(channels=(8, 16, 16), tdim=32)
    m.unet = Oracle(2 * x - 1, m.schedule)
    g = torch.Generator().manual_seed(0)
    blur = Blur(gaussian_kernel(1.6))
    y, yc = blur(x), F.avg_pool2d(x, 2)
    out = {"sample": lambda: m.sample(1, n_steps=20, generator=g),
           "ddnm": lambda: D.ddnm(y, blur, m, n_steps=20, delta=0.01, generator=g),
           "ddnm_noisy": lambda: D.ddnm(y, blur, m, n_steps=20, sigma_y=0.05, generator=g),
           "dps": lambda: D.dps(y, blur, m, n_steps=20, sigma_y=0.01, generator=g),
           "dps_constant": lambda: D.dps(y, blur, m, n_steps=20, guidance="constant",
                                         zeta=1.0, generator=g),
           "diffpir": lambda: D.diffpir(y, blur, m, n_steps=20, generator=g),
           "diffpir_noisy": lambda: D.diffpir(y, blur, m, n_steps=20, sigma_y=0.05,
                                              generator=g),
           "indigo": lambda: D.indigo(yc, DegradationINN(1, 0), m, n_steps=20, generator=g),
           "indigo_noisy": lambda: D.indigo(yc, DegradationINN(1, 0), m, n_steps=20,
                                            sigma_y=0.05, generator=g)}[solver]()
    assert torch.allclose(out, x, atol=1e-5)


def test_the_full_profile_model_takes_64x64_patches():
    from mbdl_teach.recipes import DIFFUSION_SIZES

    s = DIFFUSION_SIZES["full"]
    m = D.DiffusionModel(**s["config"])
    assert 2e6 < m.num_parameters() < 5e6
    x0 = torch.rand(2, 1, s["patch"], s["patch"])
    loss = D.epsilon_loss(m, (x0, torch.tensor([3, 900]), torch.randn_like(x0)))
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_inverse_gain_and_the_stability_term():
    from mbdl_teach.inn import degradation_loss, inverse_gain

    x = data.random_patches([data.load_image("camera")], 4, 16,
                            generator=torch.Generator().manual_seed(0))
    assert abs(inverse_gain(DegradationINN(1, 0), x) - 1) < 1e-4  # block means: gain 1
    torch.manual_seed(0)
    inn = DegradationINN(1, 2, hidden=8)
    for p in inn.parameters():
        p.data.normal_(0, 0.3)
    assert inverse_gain(inn, x) > 1.5
    batch = (x, F.avg_pool2d(x, 2))
    plain = degradation_loss(inn, batch)
    assert degradation_loss(inn, batch, stability=1.0) > plain > 0


# ------------------------------------------------------------------ noise-aware samplers
def _samplers(model):
    blur = Blur(gaussian_kernel(1.0))
    return {
        "ddnm": lambda y, **kw: D.ddnm(y, blur, model, n_steps=4, **kw),
        "dps": lambda y, **kw: D.dps(y, blur, model, n_steps=4, **kw),
        "diffpir": lambda y, **kw: D.diffpir(y, blur, model, n_steps=4, **kw),
        "indigo": lambda y, **kw: D.indigo(F.avg_pool2d(y, 2), DegradationINN(1, 0), model,
                                           n_steps=4, **kw),
    }


@pytest.mark.parametrize("name", ["ddnm", "dps", "diffpir", "indigo"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_every_sampler_rejects_a_measurement_with_nan_or_inf(model, name, bad):
    y = torch.rand(1, 1, 32, 32)
    y[0, 0, 3, 5] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        _samplers(model)[name](y)


@pytest.mark.parametrize("name", ["ddnm", "dps", "diffpir", "indigo"])
@pytest.mark.parametrize("sigma_y", [-0.1, float("nan"), "0.01", None])
def test_every_sampler_checks_sigma_y(model, name, sigma_y):
    with pytest.raises(ValueError, match="sigma_y"):
        _samplers(model)[name](torch.rand(1, 1, 32, 32), sigma_y=sigma_y)


@pytest.mark.parametrize("name", ["ddnm", "dps", "diffpir", "indigo"])
def test_every_sampler_takes_sigma_y_and_returns_images(model, name):
    out = _samplers(model)[name](torch.rand(2, 1, 32, 32), sigma_y=0.02,
                                 generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 1, 32, 32) and torch.isfinite(out).all()
    assert 0 <= float(out.min()) and float(out.max()) <= 1


def test_noise_free_ddnm_is_the_fixed_delta_of_its_rule(model):
    y = torch.rand(1, 1, 32, 32)
    blur = Blur(gaussian_kernel(1.0))
    a = D.ddnm(y, blur, model, n_steps=6, generator=torch.Generator().manual_seed(1))
    b = D.ddnm(y, blur, model, n_steps=6, delta=D.DDNM_DELTA_MIN,
               generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_noise_aware_ddnm_regularises_more_as_the_noise_level_falls(model):
    """delta_t = (sigma_y / sigma_t')^2: seen through the data misfit of the x0 estimates,
    a noisier y is followed less closely at the end."""
    x = data.load_image("camera", size=32)[None]
    blur = Blur(gaussian_kernel(1.0))
    y = data.add_gaussian_noise(blur(x), 0.05, generator=torch.Generator().manual_seed(0))
    misfit = {}
    for s in (1e-3, 0.05):
        seen = []
        D.ddnm(y, blur, model, n_steps=10, sigma_y=s, generator=torch.Generator().manual_seed(0),
               callback=lambda i, t, xt, x0: seen.append(x0))
        misfit[s] = float((blur((seen[-2] + 1) / 2) - y).pow(2).mean().sqrt())
    assert misfit[0.05] > misfit[1e-3]


def test_ddim_step_takes_the_carried_noise_off_the_fresh_noise():
    s = D.Schedule("linear", T=100)
    x0, eps = torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8)
    big = D.ddim_step(x0, eps, s, 50, 40, 1.0, torch.Generator().manual_seed(0), noise="ddnm",
                      carried=10.0)  # more than the whole budget: no fresh noise left
    assert torch.equal(big, torch.zeros_like(big))
    a = D.ddim_step(x0, eps, s, 50, 40, 1.0, torch.Generator().manual_seed(0), noise="ddnm")
    b = D.ddim_step(x0, eps, s, 50, 40, 1.0, torch.Generator().manual_seed(0), noise="ddnm",
                    carried=0.5 * float(s.sigma(40)))
    ratio = float(b.std() / a.std())
    assert abs(ratio - 0.75**0.5) < 1e-5  # a_p carried^2 = s^2 / 4


def test_dps_checks_its_guidance(model):
    y = torch.rand(1, 1, 32, 32)
    with pytest.raises(ValueError, match="guidance"):
        D.dps(y, Identity(), model, n_steps=2, guidance="linear")
    with pytest.raises(ValueError, match="zeta"):
        D.dps(y, Identity(), model, n_steps=2, zeta=-1.0)


def test_dps_takes_a_non_linear_forward_model_with_shape(model):
    inn = DegradationINN(1, 0, response=4)
    y = torch.rand(1, 1, 16, 16)
    out = D.dps(y, inn.coarse, model, n_steps=3, sigma_y=0.01, shape=(1, 1, 32, 32),
                generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="shape="):
        D.dps(y, inn.coarse, model, n_steps=3)


def test_diffpir_checks_lam_and_zeta(model):
    y = torch.rand(1, 1, 32, 32)
    with pytest.raises(ValueError, match="lam"):
        D.diffpir(y, Identity(), model, n_steps=2, lam=0.0)
    with pytest.raises(ValueError, match="zeta"):
        D.diffpir(y, Identity(), model, n_steps=2, zeta=1.5)


def test_diffpir_data_step_is_the_proximal_step():
    """With zeta = 0 and one step, DiffPIR returns argmin ||y - Hx||^2 + rho ||x - x0||^2
    for the network's x0 (an oracle's: the truth), compared with a dense solve."""
    x = data.load_image("moon", size=8)[None]
    m = D.DiffusionModel(channels=(8, 16, 16), tdim=32, T=100)
    other = data.load_image("camera", size=8)[None]
    m.unet = Oracle(2 * other - 1, m.schedule)  # the network believes in another image
    blur = Blur(gaussian_kernel(0.8))
    y = blur(x)
    out = D.diffpir(y, blur, m, n_steps=1, sigma_y=0.05, lam=2.0, zeta=0.0)
    sig = float(m.schedule.sigma(99)) / 2
    rho = 2.0 * 0.05**2 / sig**2
    n = x.numel()
    cols = torch.eye(n, dtype=torch.float64).reshape(n, 1, 1, 8, 8)
    H = torch.stack([blur(c).flatten() for c in cols], 1)
    ref = torch.linalg.solve(H.T @ H + rho * torch.eye(n, dtype=torch.float64),
                             H.T @ y.double().flatten() + rho * other.double().flatten())
    assert torch.allclose(out.double().flatten(), ref.clamp(0, 1), atol=1e-4)


# ------------------------------------------------------------------ the camera case
def test_monotone_curve_inverts_and_starts_as_the_identity():
    from mbdl_teach.inn.degradation import MonotoneCurve

    c = MonotoneCurve(8)
    u = torch.linspace(-0.3, 1.3, 101)
    assert torch.allclose(c(u), u, atol=1e-5)
    torch.manual_seed(0)
    c.w.data.normal_(0, 1.0)
    c.offset.data.fill_(0.2)
    v = c(u)
    assert (v[1:] > v[:-1]).all()
    assert torch.allclose(c.inverse(v), u, atol=1e-5)


def test_degradation_inn_with_a_response_is_invertible():
    torch.manual_seed(0)
    inn = DegradationINN(levels=1, steps=2, hidden=8, response=8)
    for p in inn.parameters():
        p.data.normal_(0, 0.2)
    x = torch.rand(2, 1, 16, 16)
    c, d = inn(x)
    assert torch.allclose(inn.inverse(c, d), x, atol=1e-5)
    assert DegradationINN(1, 0, response=8)(x)[0].shape == (2, 1, 8, 8)


def test_camera_is_monotone_saturating_and_quantised():
    from mbdl_teach.inn.degradation import camera

    u = torch.linspace(0, 1.5, 301).reshape(1, 1, 1, -1)
    v = camera(u, sigma=0.0, k=3.0, bits=8)
    assert (v[..., 1:] >= v[..., :-1]).all() and float(v.max()) <= 1 and float(v.min()) >= 0
    assert torch.allclose(v * 255, (v * 255).round(), atol=1e-4)
    assert float(v[..., 100] - v[..., 0]) > 3 * float(v[..., 200] - v[..., 100])  # saturates
    with pytest.raises(ValueError):
        camera(u, sigma=-1.0)


def test_fit_linear_blur_recovers_a_linear_degradation():
    from mbdl_teach.inn.degradation import fit_linear_blur

    k = gaussian_kernel(1.0)
    x = torch.rand(3, 1, 24, 24, generator=torch.Generator().manual_seed(0))
    y = Blur(k)(x) + 0.1
    op, b, res = fit_linear_blur(x, y, size=k.shape[0])
    assert torch.allclose(op.kernel, k, atol=1e-5) and abs(b - 0.1) < 1e-5 and res < 1e-5
    with pytest.raises(ValueError, match="odd"):
        fit_linear_blur(x, y, size=4)


def test_quantile_linearisation_undoes_an_increasing_response():
    from mbdl_teach.inn.degradation import quantile_linearisation

    x = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    y = x.sqrt()  # an increasing response, no blur: the quantile map is its inverse
    lin = quantile_linearisation(x, y, n=512)
    assert float((lin(y) - x).abs().max()) < 0.01
