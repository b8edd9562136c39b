"""Every unrolled network of the course, untrained, is the iteration it unfolds.

Each network is set to its iteration's values (its own initialisation, or the parameters
that make it one: a step, a threshold) and compared, layer after layer, with the solver of
:mod:`mbdl_teach.solvers` run on the same operator, or with the iteration written out.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from mbdl_teach import data, inn, lfm, solvers, xray, xrf
from mbdl_teach.operators import LinearOperator
from mbdl_teach.unfolding import Unfolded

T = 4


def _per_layer(net, y, **side):
    """Every layer's state (the codes, for networks whose output is a synthesis of them)."""
    with torch.no_grad():
        return Unfolded.forward(net, y, return_all=True, **side)


def _ista_iterates(y, op, prox, n, **kw):
    return solvers.ista(y, op, prox, n, return_iterates=True, **kw)[1].iterates[1:]


@pytest.fixture(scope="module")
def sparse_problem():
    prob = data.SyntheticSparse(15, 30, 0.15, generator=torch.Generator().manual_seed(0),
                                dtype=torch.float64)
    return prob, *prob.sample(6, torch.Generator().manual_seed(1))


@pytest.mark.parametrize("make", [lambda D: solvers.LISTA(D, T, lam=0.1),
                                  lambda D: solvers.LISTA(D, T, lam=0.1, tied=True),
                                  lambda D: solvers.LISTA_CP(D, T, lam=0.1)],
                         ids=["LISTA", "LISTA-tied", "LISTA-CP"])
def test_lista_family_is_ista(sparse_problem, make):
    prob, y, _ = sparse_problem
    got = _per_layer(make(prob.D), y)
    want = _ista_iterates(y, prob.D, solvers.prox_l1(0.1), T)
    for k in range(T):
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=1e-12)


def test_alista_is_its_analytic_iteration(sparse_problem):
    prob, y, _ = sparse_problem
    net = solvers.ALISTA(prob.D, T, lam=0.1)
    W = solvers.analytic_weight(prob.D)
    gamma = 1 / float(torch.linalg.matrix_norm(W.T @ prob.D, ord=2))
    x, got = torch.zeros(6, 30, dtype=torch.float64), _per_layer(net, y)
    for k in range(T):
        v = x - gamma * (x @ prob.D.T - y) @ W
        x = torch.sign(v) * torch.clamp(v.abs() - 0.1 * gamma, min=0)
        torch.testing.assert_close(got[k], x, rtol=0, atol=1e-12)


def test_unfolded_unmixing_is_projected_gradient():
    det = xrf.Detector(n_channels=512, gain=0.04)
    lines = xrf.Lines(["Pb", "Fe", "Cu"])
    net = xrf.UnfoldedUnmixing(lines, det, n_layers=T).double()
    y = torch.rand(5, 512, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 50
    got = _per_layer(net, y)
    unit, _ = xrf.library_operator(lines, det).normalized_columns()
    y_n = y / (y.sum(1, keepdim=True) / y.shape[1])  # the network's normalised spectra
    step = float(net.step[0, 0])  # 1 / ||A||^2 of its float32 library
    want = _ista_iterates(y_n, unit, solvers.prox_nonneg(), T, step=step)
    for k in range(T):
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-6 * float(want[k].abs().max()))


def test_unfolded_lfm_is_projected_gradient():
    o = lfm.Optics(n_depths=5, depths=(-20.0, 20.0))
    op = lfm.LightField(lfm.psf(o))
    x = lfm.synthetic_volume(o, (7, 7), seed=3).double()[None]
    y = op(x)
    net = lfm.UnfoldedLFM(op, (7, 7), n_layers=T, rank=o.n_depths * o.voxels**2, init="zero")
    got = _per_layer(net, y)
    want = _ista_iterates(y, op, solvers.prox_nonneg(), T, step=net.eta)
    for k in range(T):
        torch.testing.assert_close(got[k], want[k], rtol=1e-9, atol=1e-12)


def test_separation_net_is_ista_on_the_separation_operator():
    panel = xray.synthetic_panel("astronaut", "chelsea", seed=0, size=32)
    net = xray.SeparationNet(n_layers=T, n_atoms=8, filter_size=3).double()
    step, theta, gamma = 0.4, 0.01, 0.5
    with torch.no_grad():  # the same step, threshold and photograph weight in every layer
        net.step.fill_(step), net.theta.fill_(theta), net.gamma.fill_(gamma)
    x, r1 = panel.x.double(), panel.r1.double()
    got = _per_layer(net, x, r1=r1)
    op = xray.SeparationOperator(net.Xi, net.Omega, gamma)
    with torch.no_grad():
        z0 = net.init(x, r1=r1)
        want = _ista_iterates(op.measurement(x, r1), op, solvers.prox_l1(theta / step), T,
                              x0=z0, step=step)
    for k in range(T):
        torch.testing.assert_close(got[k], want[k], rtol=1e-9, atol=1e-12)


class _Conv(LinearOperator):
    """A 3x3 convolution with zero padding as an operator (its adjoint: the transpose)."""

    def __init__(self, weight):
        super().__init__()
        self.weight = weight

    def forward(self, g):
        return F.conv2d(g, self.weight, padding=1)

    def adjoint(self, v):
        return F.conv_transpose2d(v, self.weight, padding=1)

    def input_shape(self, shape):
        return (shape[0], self.weight.shape[1], *shape[2:])

    def output_shape(self, shape):
        return (shape[0], self.weight.shape[0], *shape[2:])


def test_conv_lista_with_the_adjoint_back_projection_is_ista():
    net = inn.ConvLISTA(channels=3, features=6, n_layers=T).double()
    tau = 0.05
    S = _Conv(net.S.weight.detach())
    with torch.no_grad():  # A = tau S^T (the adjoint of a zero-padded 3x3 convolution)
        net.A.weight.copy_(tau * net.S.weight.transpose(0, 1).flip(-2, -1))
    x = torch.randn(2, 3, 9, 10, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    sigma = torch.full((2,), 25 / 255, dtype=torch.float64)
    t = float(net.st[0].threshold(sigma)[0, 0])  # every channel's threshold, every layer
    got = _per_layer(net, x, sigma=sigma)
    want = _ista_iterates(x, S, solvers.prox_l1(t / tau), T, x0=tau * S.adjoint(x), step=tau)
    for k in range(T):
        torch.testing.assert_close(got[k], want[k], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(net(x, sigma), S(want[-1]))


def test_every_unrolled_network_of_the_package_is_tested_here():
    import mbdl_teach

    def subclasses(c):
        return set(c.__subclasses__()).union(*(subclasses(s) for s in c.__subclasses__()))

    import importlib
    import pkgutil
    for m in pkgutil.walk_packages(mbdl_teach.__path__, "mbdl_teach."):
        if not m.name.endswith("__main__"):
            importlib.import_module(m.name)
    names = {c.__name__ for c in subclasses(Unfolded)
             if c.__module__.startswith("mbdl_teach") and not c.__name__.startswith("_")}
    tested = {"LISTA", "LISTA_CP", "ALISTA", "UnfoldedUnmixing", "UnfoldedLFM", "SeparationNet",
              "ConvLISTA"}
    assert names == tested, f"untested unrolled networks: {names - tested}"
