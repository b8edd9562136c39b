"""Chapter 10's light-field package: physics of the PSF, the operator, the solvers, the net."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mbdl_teach import lfm, solvers
from mbdl_teach.operators.base import adjointness_error

TINY = lfm.Optics(pixels=5, voxels=2, n_depths=3, depths=(-10.0, 10.0), lenslets=3, oversample=1)


@pytest.fixture(scope="module")
def tiny_psf():
    return lfm.psf(TINY)


@pytest.fixture(scope="module")
def small():
    """The default optics at 5 depths: a real PSF, still fast."""
    o = lfm.Optics(n_depths=5)
    return o, lfm.psf(o, unnormalised=True)


def dense_matrix(P: torch.Tensor, N: int, K: int, h: int, w: int) -> torch.Tensor:
    """H as a dense matrix, one column per voxel: its PSF pasted around its lenslet (wrapping)."""
    D, s = P.shape[0], P.shape[1]
    half = K // 2
    cols = []
    for d in range(D):
        for r in range(h * s):
            for c in range(w * s):
                a, i, b, j = r // s, r % s, c // s, c % s
                img = torch.zeros(h * N, w * N, dtype=P.dtype)
                rows = (np.arange(K * N) + (a - half) * N) % (h * N)
                colsx = (np.arange(K * N) + (b - half) * N) % (w * N)
                img[np.ix_(rows, colsx)] += P[d, i, j]
                cols.append(img.reshape(-1))
    return torch.stack(cols, dim=1)


# ----------------------------------------------------------------------------- optics
def test_spot_width_matches_airy():
    o = lfm.Optics()
    r = np.linspace(0, 2.0, 20001) * o.magnification  # image side, um
    inten = np.abs(lfm.native_field(o, 0.0, r)) ** 2
    first_min = r[np.argmax(np.diff(inten) > 0)] / o.magnification
    assert first_min == pytest.approx(lfm.airy_radius(o), rel=0.01)


def test_energy_is_the_same_at_every_depth(small):
    o, P = small
    energy = P.sum(dim=(1, 2, 3, 4))
    assert float(energy.max() / energy.min()) < 1.01  # the window loses only far tails


def test_psf_is_symmetric_in_x_and_y(small):
    _, P = small
    centre = P[:, 1, 1]
    scale = float(centre.max())
    assert float((centre - centre.transpose(-1, -2)).abs().max()) < 1e-10 * scale
    assert float((centre - centre.flip(-1)).abs().max()) < 1e-10 * scale
    # voxel (0, 2) is voxel (2, 0) transposed
    assert torch.allclose(P[:, 0, 2], P[:, 2, 0].transpose(-1, -2), atol=1e-10 * scale)


def test_focus_fills_one_lenslet_and_defocus_spreads_over_several(small):
    o, P = small
    K, N = o.window, o.pixels
    centre = P[:, 1, 1]
    c = K // 2 * N
    own = centre[:, c:c + N, c:c + N].sum(dim=(1, 2)) / centre.sum(dim=(1, 2))
    assert own[2] > 0.9  # in focus: the whole point lands behind its own lenslet
    assert own[0] < 0.3 and own[-1] < 0.3  # 35 um off: spread over the neighbours


def test_bad_optics():
    with pytest.raises(ValueError, match="below the immersion"):
        lfm.Optics(na=1.4, n=1.33)
    with pytest.raises(ValueError, match="odd"):
        lfm.Optics(pixels=14)
    with pytest.raises(TypeError, match="Optics"):
        lfm.psf({"na": 0.5})


# ----------------------------------------------------------------------------- operator
def test_operator_equals_dense_matrix(tiny_psf):
    h, w = 3, 4
    Hd = dense_matrix(tiny_psf, TINY.pixels, 3, h, w)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, h * 2, w * 2, generator=g, dtype=torch.float64)
    ref = (Hd @ x.reshape(2, -1).T).T.reshape(2, 1, h * 5, w * 5)
    y = torch.rand(2, 1, h * 5, w * 5, generator=g, dtype=torch.float64)
    refT = (Hd.T @ y.reshape(2, -1).T).T.reshape(2, 3, h * 2, w * 2)
    for method in ("fft", "conv"):
        op = lfm.LightField(tiny_psf, method=method)
        torch.testing.assert_close(op(x), ref, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(op.adjoint(y), refT, rtol=1e-10, atol=1e-12)
    op = lfm.LightField(tiny_psf)
    torch.testing.assert_close(op.normal(x), (Hd.T @ Hd @ x.reshape(2, -1).T).T.reshape(x.shape))
    assert op.norm((1, 3, h * 2, w * 2)) == pytest.approx(float(torch.linalg.matrix_norm(Hd, 2)),
                                                          rel=1e-9)


def test_fft_and_conv_agree_and_are_adjoint(small):
    o, P = small
    fft, conv = lfm.LightField(P), lfm.LightField(P, method="conv")
    shape = (2, o.n_depths, 7 * 3, 8 * 3)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(fft(x), conv(x), rtol=1e-9, atol=1e-9 * float(fft(x).abs().max()))
    for op in (fft, conv):
        assert adjointness_error(op, shape) < 1e-12


def test_norm_by_power_iteration_and_exact_solve(tiny_psf):
    op = lfm.LightField(tiny_psf)
    shape = (1, 3, 8, 8)
    assert op.norm(shape, exact=False, n_iter=2000, tol=1e-12) == pytest.approx(op.norm(shape),
                                                                                rel=1e-5)
    rhs = torch.rand(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    x = op.solve_normal(rhs, 0.05)
    torch.testing.assert_close(op.normal(x) + 0.05 * x, rhs)
    cg = lfm.LightField(tiny_psf, method="conv")
    cg.closed_form_solve = False
    torch.testing.assert_close(super(lfm.LightField, cg).solve_normal(rhs, 0.05, cg_n_iter=500), x,
                               rtol=1e-6, atol=1e-8)


def test_operator_moves_with_to_and_keeps_float64(tiny_psf):
    op = lfm.LightField(tiny_psf)
    x = torch.rand(1, 3, 6, 8, dtype=torch.float64)
    assert op(x).dtype == torch.float64 and op.adjoint(op(x)).dtype == torch.float64
    meta = lfm.LightField(tiny_psf).to("meta")
    assert meta.weight.device.type == "meta"
    assert lfm.LightField(tiny_psf).float().weight.dtype == torch.float32


def test_operator_errors(tiny_psf):
    op = lfm.LightField(tiny_psf)
    with pytest.raises(ValueError, match="depth planes"):
        op(torch.zeros(1, 4, 6, 8))
    with pytest.raises(ValueError, match="multiple of 2 voxels"):
        op(torch.zeros(1, 3, 7, 8))
    with pytest.raises(ValueError, match="multiple of 5"):
        op.adjoint(torch.zeros(1, 1, 16, 20))
    with pytest.raises(ValueError, match="smaller than the PSF window"):
        op(torch.zeros(1, 3, 4, 8))
    with pytest.raises(ValueError, match="pixels per lenslet"):
        lfm.LightField(tiny_psf.clone().float())


# ----------------------------------------------------------------------------- solvers
@pytest.fixture(scope="module")
def problem():
    o = lfm.Optics(n_depths=5, depths=(-20.0, 20.0))
    op = lfm.LightField(lfm.psf(o))
    x = lfm.synthetic_volume(o, (7, 7), seed=3).double()[None]
    y = op(x)
    return o, op, x, y


def test_isra_decreases_its_objective(problem):
    _, op, x, y = problem
    values = []
    solvers.isra(y, op, 30,
                 callback=lambda k, z: values.append(float(((op(z) - y) ** 2).sum())))
    assert all(b <= a * (1 + 1e-12) for a, b in zip(values, values[1:]))
    assert values[-1] < 0.2 * values[0]


def test_solvers_improve_on_noise_free_data(problem):
    _, op, x, y = problem
    tr = lfm.Tracker(x).start()
    solvers.isra(y, op, 1, callback=tr)
    first = tr.psnr[0]
    rho = 0.01 * op.norm(x.shape) ** 2
    admm = lambda y, op, n, callback: solvers.admm(
        y, op, solvers.prox_l1(0.0, nonneg=True), n, x0=torch.zeros_like(x), beta=rho,
        callback=callback)
    for solver in (solvers.isra, solvers.richardson_lucy, admm):
        tr = lfm.Tracker(x).start()
        out, hist = solver(y, op, 40, callback=tr)
        assert tr.psnr[-1] > first + 3, solver.__name__
        assert len(tr.seconds) == 40 and tr.seconds == sorted(tr.seconds)
        assert hist.n_iter == 40 and out.shape == x.shape
    # the baselines as the chapter calls them: the same ADMM from x = 0
    tuned = {"admm": (0.01, 0.0, 40), "norm2": op.norm(x.shape) ** 2}
    assert torch.allclose(lfm.baseline("ADMM", op, tuned)(y), admm(y, op, 40, None)[0])


def test_solver_errors(problem):
    _, op, x, y = problem
    with pytest.raises(ValueError, match="no negative values"):
        solvers.isra(y - 0.1 * y.max(), op, 3)
    with pytest.raises(ValueError, match="no negative values"):
        solvers.richardson_lucy(y - 0.1 * y.max(), op, 3)
    with pytest.raises(TypeError, match="LinearOperator"):
        solvers.isra(y, lambda v: v, 3)
    with pytest.raises(ValueError, match="beta must be finite and > 0"):
        solvers.admm(y, op, solvers.prox_l1(0.0, nonneg=True), 3, beta=0.0)
    for solver in (solvers.isra, solvers.richardson_lucy):  # a NaN is an error, not a result
        with pytest.raises(ValueError, match="NaN or inf"):
            solver(y * float("nan"), op, 3)


# ----------------------------------------------------------------------------- unfolded
def test_unfolded_with_zero_corrections_is_the_plain_iteration(problem):
    o, op, x, y = problem
    M = o.n_depths * o.voxels**2
    net = lfm.UnfoldedLFM(op, (7, 7), n_layers=4, rank=M, init="zero").double()
    eta = 1 / op.norm(x.shape) ** 2
    z = torch.zeros_like(x)
    for _ in range(4):
        z = torch.relu(z - eta * (op.normal(z) - op.adjoint(y)))
    torch.testing.assert_close(net(y), z, rtol=1e-9, atol=1e-12)


def test_unfolded_newton_start_and_training_step(problem):
    o, op, x, y = problem
    net = lfm.UnfoldedLFM(op, (7, 7), n_layers=2, rank=20).double()
    plain = lfm.UnfoldedLFM(op, (7, 7), n_layers=2, rank=20, init="zero").double()
    with torch.no_grad():
        p_net, p_plain = (float(lfm.volume_psnr(m(y), x)) for m in (net, plain))
    assert p_net > p_plain + 3  # a Newton step in the kept subspace beats two gradient steps
    loss = lfm.lfm_loss(op)(net, (y, x, torch.tensor([True])))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert sum(p.numel() for p in net.parameters()) == 2 * (2 * 20 + 1 + 5)
    with pytest.raises(ValueError, match="built for 7x7"):
        net(torch.zeros(1, 1, 8 * 15, 8 * 15, dtype=torch.float64))
    with pytest.raises(ValueError, match="rank"):
        lfm.UnfoldedLFM(op, (7, 7), rank=1000)


def test_multiplicative_layer_at_its_own_rank_against_a_dense_projection(problem):
    """``mult_rank = r``: untrained, with no floors, the layer is
    ``z P_r(H^T y) / P_r(H^T H z)``, ``P_r`` the projection on the r leading eigenvectors of
    each frequency's H^T H, built here from a dense eigen-decomposition."""
    o, op, x, y = problem
    net = lfm.UnfoldedLFM(op, (7, 7), n_layers=2, rank=30, multiplicative=1,
                          mult_rank=12).double()
    with torch.no_grad():
        net.m_log_floor.fill_(-math.inf)
        net.den_floor = 0.0
        z = net(y, n_layers=1)
        lam, U = torch.linalg.eigh(op.spectra(7, 7)["G"])
        U12 = U.flip(-1)[..., :12]

        def project(v):
            return op.from_spectrum(U12 @ (U12.mH @ op.to_spectrum(v)), 7, 7)

        ref = z * torch.relu(project(op.adjoint(y))) / torch.relu(project(op.normal(z)))
        torch.testing.assert_close(net(y), torch.relu(ref), rtol=0,
                                   atol=1e-6 * float(ref.max()))
    for bad in (0, 31, 2.0, True):
        with pytest.raises(ValueError, match="mult_rank"):
            lfm.UnfoldedLFM(op, (7, 7), n_layers=2, rank=30, multiplicative=1, mult_rank=bad)


def test_multiplicative_layers_untrained_are_isra_steps(problem):
    """With the full rank and no floors, an untrained multiplicative layer is one ISRA step
    from the previous layer's output; trained, its numbers get gradients."""
    o, op, x, y = problem
    M = o.n_depths * o.voxels**2
    net = lfm.UnfoldedLFM(op, (7, 7), n_layers=4, rank=M, multiplicative=2).double()
    with torch.no_grad():
        net.m_log_floor.fill_(-math.inf)
        x2 = net(y, n_layers=2)
        ref = solvers.isra(y, op, 2, x0=x2)[0]
        # the denominator's floor moves the ratio where H^T H z is small
        assert float((net(y) - ref).abs().max()) > 1e-4 * float(ref.max())
        net.den_floor = 0.0
        torch.testing.assert_close(net(y), ref, rtol=0, atol=1e-4 * float(ref.max()))
        net.den_floor = lfm.recon.MULT_DEN_FLOOR
        # with its floor, light reaches voxels the additive layers left at zero
        net.m_log_floor.fill_(math.log(1e-2))
        out = net(y, n_layers=3)
        assert bool((x2 == 0).any()) and bool((out[x2 == 0] > 0).all())
    loss = lfm.lfm_loss(op)(net, (y, x, torch.tensor([True])))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert sum(p.numel() for p in net.parameters()) == 2 * (2 * M + 1 + 5) + 2 * (2 * M + 2 * 5)
    for bad in (3, -1, True):
        with pytest.raises(ValueError, match="multiplicative must be"):
            lfm.UnfoldedLFM(op, (7, 7), n_layers=3, rank=20, multiplicative=bad)


def test_unfolded_keeps_nothing_of_a_call_and_converts_with_to(problem):
    """Side information goes through arguments (two calls do not interfere), and
    .to(dtype) converts the complex eigenvector buffers instead of dropping their
    imaginary parts."""
    o, op, x, y = problem
    net = lfm.UnfoldedLFM(op.twin(), (7, 7), n_layers=2, rank=20)
    state = set(vars(net))
    with torch.no_grad():
        a = net(y)
        net(2 * y)
        assert torch.equal(net(y), a) and set(vars(net)) == state
        b = net.prepare(y)["b"]
        x1 = net.layer(0, net.init(y), y, b=b)
        torch.testing.assert_close(net.layer(1, x1, y, b=b), a)
        torch.testing.assert_close(net.layer(1, x1, y), a)  # b computed when not given
        net32 = net.to(torch.float32)
        assert net32.U.dtype == torch.complex64 and net32.U.imag.abs().max() > 0
        torch.testing.assert_close(net32(y.float()).double(), a, rtol=1e-3, atol=1e-4 * a.max())
    assert op.weight.dtype == torch.float64  # the twin moved, not the operator it came from


def test_operator_twins_share_their_matrices_but_not_their_device(problem):
    o, op, x, y = problem
    twin = op.twin()
    assert twin.spectra(7, 7) is op.spectra(7, 7)  # computed once for both
    twin.to(torch.float32)
    assert op.weight.dtype == torch.float64 and twin.weight.dtype == torch.float32
    torch.testing.assert_close(twin(x.float()).double(), op(x), rtol=1e-4, atol=1e-6 * y.max())


# ----------------------------------------------------------------------------- data
def test_synthetic_volume_is_sparse_and_deterministic():
    o = lfm.Optics()
    a, b = (lfm.synthetic_volume(o, (21, 21), seed=5) for _ in range(2))
    assert torch.equal(a, b) and a.shape == (15, 63, 63)
    occupancy = float((a > 0.1).float().mean())
    assert 0.005 < occupancy < 0.06
    assert not torch.equal(a, lfm.synthetic_volume(o, (21, 21), seed=6))


def test_fine_model_is_finer_and_consistent():
    o = lfm.Optics(n_depths=5, depths=(-20.0, 20.0))
    fine = lfm.fine_optics(o)
    assert fine.voxels == 6 and fine.n_depths == 10
    assert np.allclose(fine.z.reshape(5, 2).mean(axis=1), o.z)  # fine planes between coarse ones
    fm = lfm.FineModel(o)
    x, y = fm.sample((7, 7), 1, seed=1)
    yc = lfm.LightField(lfm.psf(o)).float()(x)
    assert float(y.sum() / yc.sum()) == pytest.approx(1.0, rel=0.01)  # same light in both
    assert 0.01 < float((y - yc).norm() / y.norm()) < 0.5  # ...but not the same model


def test_noise_and_psnr():
    y = torch.full((2, 1, 30, 30), 2.0)
    noisy = lfm.add_noise(y, photons=100.0, read_noise=0.0, seed=0)
    assert float(noisy.mean()) == pytest.approx(2.0, rel=0.02)
    assert float(noisy.var()) == pytest.approx(4.0 / 100, rel=0.15)  # Poisson: var = mean
    x = torch.ones(2, 3, 4, 4)
    assert torch.allclose(lfm.volume_psnr(x * 0.9, x), torch.full((2,), 20.0, dtype=torch.float64))


def test_adversarial_term_reverses_the_critic_gradient_for_the_network(problem):
    o, op, x, y = problem
    torch.manual_seed(0)
    net = lfm.UnfoldedLFM(op, (7, 7), n_layers=2, rank=20).double()
    model = lfm.WithCritic(net, lfm.Critic(o.n_depths).double())
    batch = (y, x, torch.tensor([True]))

    def grads(loss):
        model.zero_grad()
        loss.backward()
        return [[torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in m.parameters()]
                for m in (net, model.critic)]

    total, critic_total = grads(lfm.lfm_loss(op, 0.0, adversarial=1.0)(model, batch))
    supervised, _ = grads(lfm.lfm_loss(op, 0.0)(model, batch))
    fake = model.critic(net(y))
    plain, _ = grads(torch.nn.functional.binary_cross_entropy_with_logits(
        fake, torch.zeros_like(fake)))
    for g_t, g_s, g_p in zip(total, supervised, plain):
        torch.testing.assert_close(g_t - g_s, -g_p)  # the network works against the critic
    assert all(g.abs().sum() > 0 for g in critic_total)
    with pytest.raises(TypeError, match="WithCritic"):
        lfm.lfm_loss(op, 0.0, adversarial=1.0)(net, batch)


def test_chapter_05_solvers_run_on_the_light_field_operator(problem):
    """LightField is an operators.LinearOperator: plug-and-play HQS uses its exact
    solve_normal, here with the projection onto x >= 0 as the 'denoiser'."""
    from mbdl_teach import pnp

    _, op, x, y = problem
    L = op.norm(x.shape) ** 2
    out, hist = pnp.hqs(y, op, lambda v, s: v.clamp_min(0), 30, sigmas=[0.1] * 30,
                        beta=0.01 * L, x_true=x)
    assert out.shape == x.shape and (out >= 0).all()
    assert hist.psnr[-1] > hist.psnr[0] + 3
    assert float(lfm.volume_psnr(out, x)) > 15
