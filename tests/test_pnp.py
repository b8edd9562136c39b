import numpy as np
import pytest
import torch

from mbdl_teach import operators as ops
from mbdl_teach import pnp


class NoClosedForm(ops.LinearOperator):
    """Wraps an operator and hides its solve_normal, so the solvers must use CG."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner.forward(x)

    def adjoint(self, y):
        return self.inner.adjoint(y)

    def output_shape(self, shape):
        return self.inner.output_shape(shape)


def _dense_tikhonov(op, y, gamma, n):
    eye = torch.eye(n * n, dtype=torch.float64).reshape(n * n, 1, n, n)
    H = op(eye).reshape(n * n, -1).T
    x = torch.linalg.solve(H.T @ H + gamma * torch.eye(n * n, dtype=torch.float64), H.T @ y.reshape(-1))
    return x.reshape(1, 1, n, n)


def test_conjugate_gradient_matches_closed_form():
    g = torch.Generator().manual_seed(0)
    op = ops.Blur(ops.motion_kernel(5, 20))
    rhs = torch.randn(3, 1, 20, 20, generator=g, dtype=torch.float64)
    x = ops.conjugate_gradient(lambda v: op.normal(v) + 0.1 * v, rhs, n_iter=200, tol=1e-12)
    assert torch.allclose(x, op.solve_normal(rhs, 0.1), atol=1e-9)


def test_identity_operator_and_identity_denoiser_converge_to_y():
    y = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    for solver in (pnp.hqs, pnp.admm):
        x, hist = solver(y, ops.Identity(), lambda v, s: v, n_iter=60, sigmas=[0.1] * 60, **(
            {"beta": 0.5}))
        assert torch.allclose(x, y, atol=1e-6), solver.__name__
        assert hist.residual[-1] < 1e-6


@pytest.mark.parametrize("cg", [False, True])
def test_admm_with_a_quadratic_prior_reaches_tikhonov(cg):
    """ADMM with the prox of gamma*||v||^2 as 'denoiser' solves min ||Hx-y||^2 + gamma||x||^2."""
    n, gamma, rho = 10, 0.05, 0.3
    g = torch.Generator().manual_seed(2)
    op = ops.Downsample(2, ops.gaussian_kernel(0.8))
    y = torch.randn(1, 1, n // 2, n // 2, generator=g, dtype=torch.float64)
    want = _dense_tikhonov(op, y, gamma, n)
    prox = lambda z, s: rho * z / (gamma + rho)  # noqa: E731  argmin gamma|v|^2 + rho|v - z|^2
    x0 = torch.zeros(1, 1, n, n, dtype=torch.float64)
    solver_op = NoClosedForm(op) if cg else op
    x, _ = pnp.admm(y, solver_op, prox, n_iter=300, beta=rho, sigmas=[0.0] * 300, x0=x0, cg_n_iter=100)
    assert torch.allclose(x, want, atol=1e-6)


def test_hqs_fixed_point_is_tikhonov_with_the_effective_weight():
    """HQS with a fixed beta and the quadratic prior converges to Tikhonov with
    gamma' = beta * gamma / (gamma + beta) (the relaxed problem), computed densely."""
    n, gamma, beta = 12, 0.05, 0.2
    g = torch.Generator().manual_seed(3)
    op = ops.Blur(ops.gaussian_kernel(1.0))
    y = torch.randn(1, 1, n, n, generator=g, dtype=torch.float64)
    prox = lambda z, s: beta * z / (gamma + beta)  # noqa: E731
    x, hist = pnp.hqs(y, op, prox, n_iter=400, beta=beta, sigmas=[0.0] * 400)
    want = _dense_tikhonov(op, y, beta * gamma / (gamma + beta), n)
    # the returned estimate is z = prox(x): compare the x that produced it
    assert torch.allclose(x * (gamma + beta) / beta, want, atol=1e-6)


def test_dpir_schedule():
    s = pnp.dpir_sigmas(0.01, 8)
    assert len(s) == 8 and s[0] == pytest.approx(49 / 255) and s[-1] == pytest.approx(0.01)
    assert all(a > b for a, b in zip(s, s[1:]))
    assert np.allclose(np.diff(np.log(s)), np.log(s[1] / s[0]))


def test_history_and_callback():
    x_true = torch.rand(1, 1, 24, 24, generator=torch.Generator().manual_seed(4))
    op = ops.Blur(ops.gaussian_kernel(1.2))
    y = op(x_true) + 0.01 * torch.randn(1, 1, 24, 24, generator=torch.Generator().manual_seed(5))
    seen = []
    x, hist = pnp.hqs(y, op, lambda v, s: v, n_iter=5, noise_level=0.01, x_true=x_true,
                      callback=lambda k, z: seen.append(k))
    assert seen == list(range(1, 6)) and len(hist.psnr) == 5 and len(hist.beta) == 5
    assert hist.beta == sorted(hist.beta)  # the penalty grows as sigma_k falls
    assert hist.n_iter == 5
    # a callback that returns True stops the solver after that iteration
    x, hist = pnp.admm(y, op, lambda v, s: v, n_iter=5, noise_level=0.01,
                       callback=lambda k, z: k == 2)
    assert hist.n_iter == 2 and len(hist.beta) == 2


def test_bad_inputs_are_clear_errors():
    y = torch.rand(1, 1, 16, 16)
    op = ops.Downsample(2)
    with pytest.raises(ValueError, match="operator and image sizes disagree"):
        pnp.hqs(y, op, lambda v, s: v, 3, noise_level=0.01, x0=torch.rand(1, 1, 16, 16))
    with pytest.raises(TypeError, match="prior must be a denoiser"):
        pnp.hqs(y, ops.Identity(), "bm3d", 3, noise_level=0.01)
    with pytest.raises(ValueError, match="n_iter"):
        pnp.admm(y, ops.Identity(), lambda v, s: v, 0, noise_level=0.01)
    with pytest.raises(ValueError, match="sigmas"):
        pnp.hqs(y, ops.Identity(), lambda v, s: v, 3)
    with pytest.raises(ValueError, match=r"batch first"):
        pnp.hqs(y[0], ops.Identity(), lambda v, s: v, 3, noise_level=0.01)
    with pytest.raises(ValueError, match="prior returned"):
        pnp.hqs(y, ops.Identity(), lambda v, s: v[0], 3, noise_level=0.01)
    with pytest.raises(ValueError, match="NaN or inf"):
        pnp.admm(y * float("nan"), ops.Identity(), lambda v, s: v, 3, noise_level=0.01)


def test_initial_estimate_fills_holes_of_a_mask():
    x = torch.full((1, 1, 32, 32), 0.7)
    mask = ops.Mask.random((32, 32), keep=0.3, generator=torch.Generator().manual_seed(0))
    x0 = pnp.initial_estimate(mask(x), mask)
    assert torch.allclose(x0, x, atol=1e-5)  # a constant image is filled exactly
    blur = ops.Blur(ops.gaussian_kernel(1.0))
    assert torch.equal(pnp.initial_estimate(x, blur), x)
    assert pnp.initial_estimate(torch.rand(1, 1, 8, 8), ops.Downsample(2)).shape == (1, 1, 16, 16)
