import math

import numpy as np
import pytest
import pywt
import torch
from hypothesis import given, settings, strategies as st

from mbdl_teach import data, plotting, solvers
from mbdl_teach.unfolding import _OnlyLayer, nmse_per_layer, train_unfolded
from mbdl_teach.wavelets import soft_threshold



def _ista(y, D, lam, n_iter, **kw):
    """ISTA on the LASSO: the l1 proximal map, as chapter 06 calls it."""
    return solvers.ista(y, D, solvers.prox_l1(lam), n_iter, **kw)


def _fista(y, D, lam, n_iter, **kw):
    return solvers.fista(y, D, solvers.prox_l1(lam), n_iter, **kw)


def _problem(m=20, n=40, batch=8, seed=0, p=0.15, snr_db=None, dtype=torch.float64):
    prob = data.SyntheticSparse(m, n, p, snr_db=snr_db, generator=torch.Generator().manual_seed(seed),
                              dtype=dtype)
    y, x = prob.sample(batch, torch.Generator().manual_seed(seed + 1))
    return prob, y, x


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 2.0))
def test_soft_threshold_matches_pywavelets(seed, theta):
    v = np.random.default_rng(seed).standard_normal(50)
    got = soft_threshold(torch.from_numpy(v), theta).numpy()
    np.testing.assert_allclose(got, pywt.threshold(v, theta, mode="soft"), atol=1e-12)


def test_soft_threshold_with_support_selection_keeps_the_largest():
    v = torch.tensor([[3.0, -2.0, 0.5, 0.1, -0.05]])
    out = solvers.soft_threshold_ss(v, 0.2, frac=0.4)  # the 2 largest pass unchanged
    assert torch.allclose(out, torch.tensor([[3.0, -2.0, 0.3, 0.0, 0.0]]))
    assert torch.equal(solvers.soft_threshold_ss(v, 0.2, 0.0), soft_threshold(v, 0.2))


def test_lipschitz_is_the_largest_squared_singular_value():
    prob, _, _ = _problem()
    want = np.linalg.svd(prob.D.numpy(), compute_uv=False)[0] ** 2
    assert solvers.lipschitz(prob.D) == pytest.approx(want, rel=1e-10)


@settings(max_examples=8, deadline=None)
@given(st.integers(5, 30), st.integers(5, 60), st.floats(0.01, 1.0), st.integers(0, 1000))
def test_ista_decreases_the_objective_monotonically(m, n, lam, seed):
    _, y, _ = _problem(m, n, batch=4, seed=seed)
    D = _problem(m, n, seed=seed)[0].D
    obj = _ista(y, D, lam, 60, objective=True)[1].objective
    assert len(obj) == 61
    assert all(b <= a + 1e-10 * max(1.0, abs(a)) for a, b in zip(obj, obj[1:]))
    if lam < float((y @ D).abs().max()):  # else x = 0 is already optimal: nothing to decrease
        assert obj[-1] < obj[0]


@pytest.mark.parametrize("solver", [_ista, _fista])
def test_solvers_reach_the_lasso_optimality_conditions(solver):
    """KKT: |D^T(y - Dx)|_i <= lam everywhere, = lam sign(x_i) on the support."""
    prob, y, x = _problem(20, 40, batch=4, p=0.1)
    lam = 0.05
    xh = solver(y, prob.D, lam, 2000)[0]
    g = (y - xh @ prob.D.T) @ prob.D
    assert float(g.abs().max()) <= lam + 1e-6
    on = xh.abs() > 1e-8
    assert torch.allclose(g[on], lam * torch.sign(xh[on]), atol=1e-6)
    # ISTA and FISTA find the same minimiser
    other = _fista if solver is _ista else _ista
    assert torch.allclose(xh, other(y, prob.D, lam, 2000)[0], atol=1e-5)


def test_fista_beats_ista_at_equal_iterations_on_the_synthetic_set():
    prob, y, x = _problem(50, 100, batch=200, p=0.1, dtype=torch.float32)
    for k in (20, 50, 100):
        ri = _ista(y, prob.D, 0.02, k, ref=x, objective=True)[1]
        rf = _fista(y, prob.D, 0.02, k, ref=x, objective=True)[1]
        assert rf.objective[-1] < ri.objective[-1]
        assert rf.nmse[-1] < ri.nmse[-1] - 1.0, (k, rf.nmse[-1], ri.nmse[-1])


def test_results_hold_iterates_and_nmse():
    prob, y, x = _problem()
    xr, r = _ista(y, prob.D, 0.1, 5, ref=x, return_iterates=True)
    assert r.iterates.shape == (6, 8, 40) and torch.equal(r.iterates[-1], xr)
    assert r.n_iter == 5
    assert r.nmse[0] == pytest.approx(0.0)  # x_0 = 0
    assert r.nmse[3] == pytest.approx(10 * math.log10(float(((r.iterates[3] - x) ** 2).sum() / (x**2).sum())))
    single = _ista(y[0], prob.D, 0.1, 5)[0]
    assert single.shape == (40,) and torch.allclose(single, xr[0])
    assert solvers.iterations_to_reach(r.nmse, r.nmse[4]) <= 4
    assert solvers.iterations_to_reach([0.0, -1.0], -5.0) is None


@pytest.mark.parametrize("tied", [False, True])
def test_untrained_lista_equals_ista_layer_by_layer(tied):
    prob, y, x = _problem(15, 30, batch=5)
    lam, T = 0.1, 7
    net = solvers.LISTA(prob.D, T, lam=lam, tied=tied)
    want = _ista(y, prob.D, lam, T, return_iterates=True)[1].iterates
    with torch.no_grad():
        got = net(y, return_all=True)
    assert len(got) == T
    for k in range(T):
        assert torch.allclose(got[k], want[k + 1], atol=1e-12), k
    assert nmse_per_layer(net, y, x) == pytest.approx(_ista(y, prob.D, lam, T, ref=x)[1].nmse, abs=1e-9)


def test_untrained_lista_cp_equals_ista():
    prob, y, _ = _problem(15, 30, batch=5)
    net = solvers.LISTA_CP(prob.D, 5, lam=0.2)
    with torch.no_grad():
        assert torch.allclose(net(y), _ista(y, prob.D, 0.2, 5)[0], atol=1e-12)
        assert torch.allclose(net(y, n_layers=2), _ista(y, prob.D, 0.2, 2)[0], atol=1e-12)


def test_analytic_weight_solves_its_constrained_problem():
    prob, _, _ = _problem(15, 30)
    D = prob.D
    W = solvers.analytic_weight(D)
    assert torch.allclose(torch.diagonal(W.T @ D), torch.ones(30, dtype=D.dtype), atol=1e-10)
    f = lambda V: float(((V.T @ D) ** 2).sum())
    gen = torch.Generator().manual_seed(123)  # not the seed that drew D
    for _ in range(5):  # feasible directions (diag(E^T D) = 0) only increase ||W^T D||_F
        E = torch.randn(W.shape, generator=gen, dtype=D.dtype)
        E = E - D * ((E * D).sum(0) / (D * D).sum(0))
        assert f(W + 1e-3 * E) > f(W)
    with pytest.raises(ValueError, match="full row rank"):
        solvers.analytic_weight(torch.ones(3, 6, dtype=torch.float64))


def test_alista_has_two_numbers_per_layer_and_learns():
    prob, y, x = _problem(20, 40, batch=200, p=0.1, dtype=torch.float32)
    net = solvers.ALISTA(prob.D, 6, lam=0.1)
    assert sum(p.numel() for p in net.parameters()) == 12
    before = nmse_per_layer(net, y, x)[-1]
    train_unfolded(net, prob.batches(64), 100, lr=3e-3, progress=False)
    assert nmse_per_layer(net, y, x)[-1] < before - 1.0


def test_training_lista_improves_on_ista():
    prob, y, x = _problem(20, 40, batch=300, p=0.1, dtype=torch.float32)
    net = solvers.LISTA(prob.D, 4, lam=0.1)
    base = _ista(y, prob.D, 0.1, 4, ref=x)[1].nmse[-1]
    hist = train_unfolded(net, prob.batches(64), 200, lr=1e-3, progress=False)
    assert hist.steps == 200
    assert nmse_per_layer(net, y, x)[-1] < base - 1.0


def test_layerwise_training_first_stage_changes_only_its_layer():
    prob, _, _ = _problem(10, 20, dtype=torch.float32)
    net = solvers.LISTA(prob.D, 3, lam=0.1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with _OnlyLayer(net, 1):
        train_unfolded(net, prob.batches(16), 3, layers="last", progress=False)
    for name in ("W_e", "S", "theta"):
        changed = [not torch.equal(before[name][k], net.state_dict()[name][k]) for k in range(3)]
        assert changed == [False, True, False], name
    hists = train_unfolded(solvers.LISTA(prob.D, 2, lam=0.1), prob.batches(16), 2, mode="layerwise",
                              progress=False)
    assert len(hists) == 6


def test_synthetic_sparse_statistics():
    prob = data.SyntheticSparse(30, 60, 0.1, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(prob.D.norm(dim=0), torch.ones(60), atol=1e-6)
    y, x = prob.sample(2000, torch.Generator().manual_seed(1))
    assert y.shape == (2000, 30) and x.shape == (2000, 60)
    assert abs(float((x != 0).float().mean()) - 0.1) < 0.01
    assert torch.allclose(y, x @ prob.D.T)
    y2, x2 = prob.sample(2000, torch.Generator().manual_seed(1))
    assert torch.equal(y, y2) and torch.equal(x, x2)
    noisy = data.SyntheticSparse(30, 60, 0.1, snr_db=20, generator=torch.Generator().manual_seed(0))
    yn, xn = noisy.sample(2000, torch.Generator().manual_seed(1))
    clean = xn @ noisy.D.T
    snr = 10 * math.log10(float((clean**2).sum() / ((yn - clean) ** 2).sum()))
    assert snr == pytest.approx(20, abs=0.2)


def test_bad_inputs_give_clear_errors():
    prob, y, _ = _problem()
    with pytest.raises(ValueError, match=r"y has shape \(8, 10\).*to \(8, 20\)"):
        _ista(y[:, :10], prob.D, 0.1, 5)
    with pytest.raises(ValueError, match="lam must be"):
        _ista(y, prob.D, -0.1, 5)
    with pytest.raises(ValueError, match="n_iter"):
        _fista(y, prob.D, 0.1, -1)
    with pytest.raises(ValueError, match=r"shape \(m, n\)"):
        _ista(y, prob.D[None], 0.1, 5)
    with pytest.raises(TypeError, match="torch.Tensor"):
        _ista(y.numpy(), prob.D, 0.1, 5)
    with pytest.raises(ValueError, match="NaN"):
        _ista(y * float("nan"), prob.D, 0.1, 5)
    with pytest.raises(ValueError, match="ref must have shape"):
        _ista(y, prob.D, 0.1, 5, ref=torch.zeros(3, 40))
    with pytest.raises(ValueError, match="lam must be"):
        solvers.LISTA(prob.D, 4, lam=-1.0)
    with pytest.raises(ValueError, match="n_layers"):
        solvers.LISTA(prob.D, 0)
    net = solvers.LISTA(prob.D, 3)
    with pytest.raises(ValueError, match=r"shape \(B, 20\)"):
        net(torch.zeros(2, 21, dtype=torch.float64))
    with pytest.raises(ValueError, match="mode"):
        train_unfolded(net, prob.batches(4), 1, mode="greedy")
    with pytest.raises(ValueError, match="p must be"):
        data.SyntheticSparse(5, 10, p=0.0)


def test_dct_dictionary_and_patches_round_trip():
    D = data.dct_dictionary(8, 16)
    assert D.shape == (64, 256)
    assert torch.allclose(D.norm(dim=0), torch.ones(256), atol=1e-5)
    assert torch.allclose(D[:, 0], torch.full((64,), 1 / 8))
    assert torch.allclose(D[:, 1:].sum(0), torch.zeros(255), atol=1e-5)  # zero-mean atoms
    img = torch.rand(24, 32, generator=torch.Generator().manual_seed(0))
    P = data.image_to_patches(img, 8, 4)
    assert P.shape == (5 * 7, 64) and torch.equal(P[1], img[:8, 4:12].reshape(-1))
    assert torch.allclose(data.patches_to_image(P, (24, 32), 8, 4), img, atol=1e-6)
    with pytest.raises(ValueError, match="multiples of stride"):
        data.image_to_patches(img, 8, 5)


def test_exercise_checkers_pass_the_package_and_catch_mistakes(capsys):
    from mbdl_teach import exercises as ex

    def ista_step(x, y, D, lam, L):
        return _ista(y, D, lam, 1, x0=x)[0]

    def lista_layer(x, y, W_e, S, theta):
        return soft_threshold(y @ W_e.T + x @ S.T, theta)

    assert ex.check_ista_step(ista_step)
    assert ex.check_lista_layer(lista_layer)
    assert not ex.check_ista_step(lambda x, y, D, lam, L: soft_threshold(x + (y - x @ D.T) @ D / L, lam))
    assert not ex.check_lista_layer(lambda x, y, W_e, S, theta: y @ W_e.T + x @ S.T)
    out = capsys.readouterr().out
    assert out.count("PASS") == 2 and out.count("FAIL") == 2


def test_tune_lambda_picks_the_grid_best():
    prob, y, x = _problem(30, 60, batch=100, p=0.1, dtype=torch.float32)
    lams = [0.01, 0.05, 0.2]
    best, scores = solvers.tune_lambda(y, x, prob.D, lams, 30)
    assert best == min(scores, key=scores.get) and set(scores) == set(lams)
    lam, its = solvers.tune_lambda(y, x, prob.D, lams, 30, target_db=scores[best] + 1.0)
    assert lam is not None and its[lam] <= 30 and all(v is None or v >= its[lam] for v in its.values())
    assert solvers.tune_lambda(y, x, prob.D, lams, 5, target_db=-500.0)[0] is None


def test_an_untrained_network_is_worth_its_own_number_of_iterations():
    """Untrained LISTA is ISTA: matching it takes T iterations (up to rounding at the target)."""
    prob = data.SyntheticSparse(20, 40, 0.1, generator=torch.Generator().manual_seed(5))
    train, test = prob.sample(200, torch.Generator().manual_seed(6)), prob.sample(200, torch.Generator().manual_seed(7))
    T, lam = 6, 0.1
    target, chosen, its = solvers.iterations_matched(solvers.LISTA(prob.D, T, lam=lam), train, test, prob.D, [lam], 50)
    assert chosen == lam and its is not None and abs(its - T) <= 1
    assert target == pytest.approx(_ista(test[0], prob.D, lam, T, ref=test[1])[1].nmse[T], abs=1e-3)
    with pytest.raises(ValueError, match="method"):
        solvers.iterations_matched(solvers.LISTA(prob.D, T, lam=lam), train, test, prob.D, [lam], 50, method="admm")
