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
    a = model.sample(2, steps=8, eta=0.0, generator=torch.Generator().manual_seed(0))
    b = model.sample(2, steps=8, eta=0.0, generator=torch.Generator().manual_seed(0))
    c = model.sample(2, steps=8, eta=1.0, generator=torch.Generator().manual_seed(0))
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
    out = D.ddnm(y, Identity(), model, steps=10, delta=1e-9,
                 generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out, y, atol=1e-5)


def test_dps_without_guidance_is_the_unconditional_sampler(model):
    op = Blur(gaussian_kernel(1.0))
    y = torch.rand(1, 1, 32, 32)
    a = D.dps(y, op, model, steps=6, zeta=0.0, generator=torch.Generator().manual_seed(3))
    b = model.sample(1, steps=6, eta=1.0, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(a, b, atol=1e-6)


def test_dps_moves_towards_the_data(model):
    x = data.load_image("camera", size=32)[None]
    op = Blur(gaussian_kernel(1.0))
    y = op(x)
    errs = [float((op(D.dps(y, op, model, steps=20, zeta=z,
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
    D.indigo(y, inn, model, steps=5, generator=torch.Generator().manual_seed(0),
             callback=lambda i, t, x, x0: seen.append(x0))
    for x0 in seen:
        assert torch.allclose(inn.coarse((x0 + 1) / 2), y, atol=1e-5)


def test_indigo_with_haar_is_ddnm_on_average_pooling(model):
    y = F.avg_pool2d(data.load_image("coins", size=32)[None], 4)
    a = D.ddnm(y, Downsample(4, box_kernel(4)), model, steps=10, delta=1e-9,
               generator=torch.Generator().manual_seed(5))
    b = D.indigo(y, DegradationINN(levels=2, steps=0), model, steps=10,
                 generator=torch.Generator().manual_seed(5))
    assert torch.allclose(a, b, atol=1e-5)


def test_posterior_mean_averages_seeded_samples(model):
    y = torch.rand(1, 1, 32, 32)
    kw = dict(y=y, op=Blur(gaussian_kernel(1.0)), model=model, steps=4)
    mean, samples = D.posterior_mean(D.ddnm, 3, generator=torch.Generator().manual_seed(0),
                                     return_samples=True, **kw)
    assert samples.shape == (3, 1, 1, 32, 32)
    assert torch.allclose(mean, samples.mean(0))
    again = D.posterior_mean(D.ddnm, 3, generator=torch.Generator().manual_seed(0), **kw)
    assert torch.equal(mean, again)


def test_clear_errors(model):
    with pytest.raises(ValueError, match="multiples of 4"):
        model.sample(1, steps=4, size=30)
    with pytest.raises(ValueError, match="multiples of 4"):
        model(torch.rand(1, 1, 30, 32), 5)
    with pytest.raises(ValueError, match=r"1\.\.100"):
        model.sample(1, steps=101)
    with pytest.raises(ValueError, match=r"1\.\.100"):
        D.ddnm(torch.rand(1, 1, 32, 32), Identity(), model, steps=500)
    with pytest.raises(ValueError, match="y has shape"):
        D.ddnm(torch.rand(1, 1, 8, 8), Identity(), model, steps=4, shape=(1, 1, 32, 32))
    with pytest.raises(ValueError, match="y has shape"):
        D.indigo(torch.rand(1, 1, 8, 8), DegradationINN(levels=1, steps=0), model, steps=4,
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


@pytest.mark.parametrize("solver", ["sample", "ddnm", "dps", "indigo"])
def test_with_an_oracle_network_every_sampler_returns_the_truth(solver):
    """If the network knew the clean image, every sampler (any noise, any guidance that the
    truth satisfies) would end on it: the loops put no error of their own in."""
    x = data.load_image("camera", size=32)[None]
    m = D.DiffusionModel(channels=(8, 16, 16), tdim=32)
    m.unet = Oracle(2 * x - 1, m.schedule)
    g = torch.Generator().manual_seed(0)
    blur = Blur(gaussian_kernel(1.6))
    out = {"sample": lambda: m.sample(1, steps=20, generator=g),
           "ddnm": lambda: D.ddnm(blur(x), blur, m, steps=20, delta=0.01, generator=g),
           "dps": lambda: D.dps(blur(x), blur, m, steps=20, zeta=1.0, generator=g),
           "indigo": lambda: D.indigo(F.avg_pool2d(x, 2), DegradationINN(1, 0), m, steps=20,
                                      generator=g)}[solver]()
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
