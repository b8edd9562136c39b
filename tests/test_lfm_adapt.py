"""Light-field networks on new samples: the sample kinds, the subspace ceiling, lfm.adapt."""

from __future__ import annotations

import pytest
import torch

from mbdl_teach import lfm

SMALL = lfm.Optics(n_depths=5, depths=(-20.0, 20.0))


@pytest.fixture(scope="module")
def setup():
    op = lfm.LightField(lfm.psf(SMALL))
    g = torch.Generator().manual_seed(1)
    x = torch.stack([lfm.synthetic_volume(SMALL, (7, 7), seed=g, kind="beads")
                     for _ in range(3)]).double()
    y = lfm.add_noise(op(x), 300.0, seed=2).clamp_min(0)
    net = lfm.UnfoldedLFM(op.twin(), (7, 7), n_layers=2, rank=30).double()
    return op, x, y, net


# ----------------------------------------------------------------------------- kinds
@pytest.mark.parametrize("kind, lo, hi", [("neurons", 0.005, 0.06), ("nuclei", 0.01, 0.15),
                                          ("beads", 1e-4, 0.01)])
def test_volume_kinds_are_sparse_deterministic_and_differ(kind, lo, hi):
    o = lfm.Optics()
    a, b = (lfm.synthetic_volume(o, (21, 21), seed=5, kind=kind) for _ in range(2))
    assert torch.equal(a, b) and a.shape == (15, 63, 63) and a.dtype == torch.float32
    assert 0 <= float(a.min()) and float(a.max()) <= 1
    assert lo < float((a > 0.1).float().mean()) < hi
    assert not torch.equal(a, lfm.synthetic_volume(o, (21, 21), seed=6, kind=kind))


def test_neurons_are_the_default_kind_and_bad_kinds_are_refused():
    o = lfm.Optics()
    assert torch.equal(lfm.synthetic_volume(o, (9, 9), seed=3),
                       lfm.synthetic_volume(o, (9, 9), seed=3, kind="neurons"))
    with pytest.raises(ValueError, match="kind must be one of"):
        lfm.synthetic_volume(o, (9, 9), kind="cells")
    with pytest.raises(ValueError, match="kinds must be"):
        lfm.training_set(lfm.FineModel(SMALL), (7, 7), 1, 1, kinds=("neurons", "dust"))


def test_training_set_splits_the_kinds():
    fm = lfm.FineModel(SMALL)
    x, y, labelled = lfm.training_set(fm, (7, 7), 3, 2, kinds=("neurons", "beads"))
    assert x.shape[0] == y.shape[0] == 5 and labelled.tolist() == [True, True, False, True,
                                                                    False]
    # one kind: the same volumes as before kinds existed (seeded by `seed` alone)
    x1, _, lab1 = lfm.training_set(fm, (7, 7), 1, 1)
    torch.testing.assert_close(x1, fm.sample((7, 7), 2, seed=lfm.TRAINING_SEED)[0])
    assert lab1.tolist() == [True, False]


# ----------------------------------------------------------------------------- ceiling
def test_subspace_psnr_against_a_dense_projection(setup):
    """Against an independent reference: the projection onto the r leading eigenvectors of
    the dense H^T H of each frequency, built here column by column from op.normal."""
    op, x, _, _ = setup
    M = SMALL.n_depths * SMALL.voxels**2
    res = lfm.subspace_psnr(op, x[:1], [5, 20, M])
    assert set(res) == {5, 20, M} and res[5].shape == (1,)
    assert float(res[M]) > 200  # the whole space: the truth itself
    assert float(res[5]) < float(res[20]) < float(res[M])
    # dense reference at one frequency: project the polyphase spectrum of x by hand
    X = op.to_spectrum(x[:1])  # (h, w', M, 1)
    G = op.spectra(7, 7)["G"]
    lam, U = torch.linalg.eigh(G)
    U20 = U.flip(-1)[..., :20]
    ref = op.from_spectrum(U20 @ (U20.mH @ X), 7, 7)
    torch.testing.assert_close(res[20], lfm.volume_psnr(ref, x[:1]))


def test_subspace_psnr_errors(setup):
    op, x, _, _ = setup
    with pytest.raises(ValueError, match="ranks must be ints"):
        lfm.subspace_psnr(op, x, [0])
    with pytest.raises(ValueError, match="ranks must be ints"):
        lfm.subspace_psnr(op, x, [])
    with pytest.raises(ValueError, match="shape"):
        lfm.subspace_psnr(op, x[0], [3])
    with pytest.raises(TypeError, match="LightField"):
        lfm.subspace_psnr(lambda v: v, x, [3])


# ----------------------------------------------------------------------------- adapt
def test_adapt_lowers_the_resynthesis_loss_and_returns_a_copy(setup):
    op, x, y, net = setup
    before = {k: v.clone() for k, v in net.state_dict().items()}
    loss = lfm.lfm_loss(op)
    none = torch.zeros(len(y), dtype=torch.bool)
    with torch.no_grad():
        l0 = float(loss(net, (y, y, none)))
    a = lfm.adapt(net, y, n_steps=60, lr=1e-2, batch=2, teacher=None, head=0,
                  generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        l1 = float(loss(a, (y, y, none)))
    assert a.head is None
    assert l1 < 0.9 * l0
    assert len(a.adapt_history) == 60
    assert a is not net and a.op is not net.op
    for k, v in net.state_dict().items():  # the passed network is untouched
        assert torch.equal(v, before[k])
    assert not torch.equal(a.a1, net.a1)
    assert not any(p.requires_grad for p in a.parameters()) and not a.training
    with torch.no_grad():
        out = a(y)
    assert out.shape == x.shape and bool((out >= 0).all())


def test_adapt_learns_the_teacher_through_a_head_that_starts_as_the_identity(setup):
    """The default: the copy gets a head and moves toward Richardson-Lucy's reconstruction
    of the same light fields, computed here independently with the solver itself."""
    from mbdl_teach import solvers

    op, x, y, net = setup
    rl = solvers.richardson_lucy(y, op, 20)[0]
    a = lfm.adapt(net, y, n_steps=40, lr=1e-2, batch=2, teacher_iters=20, head=4,
                  generator=torch.Generator().manual_seed(0))
    assert net.head is None and a.head is not None
    assert a.head[0].out_channels == 4 and a.head[0].in_channels == SMALL.n_depths
    with torch.no_grad():
        before, after = net(y), a(y)
    gap = lambda v: float(((v - rl) ** 2).sum() / (rl**2).sum())  # noqa: E731
    assert gap(after) < 0.7 * gap(before)
    assert a.adapt_history[-1] < 0.7 * a.adapt_history[0]
    # the history is the teacher's loss: recompute it on the whole set at the end
    assert abs(gap(after) - sum(a.adapt_history[-5:]) / 5) < 0.5 * gap(before)
    # adapting an adapted network keeps its head
    b = lfm.adapt(a, y, n_steps=2, batch=2, teacher_iters=5)
    assert b.head[0].out_channels == 4
    with pytest.raises(ValueError, match="teacher must be"):
        lfm.adapt(net, y, teacher="isra")
    with pytest.raises(ValueError, match="teacher_iters"):
        lfm.adapt(net, y, teacher_iters=0)
    with pytest.raises(ValueError, match="head"):
        lfm.adapt(net, y, head=-1)


def test_add_head_starts_as_the_identity_and_is_saved(setup):
    op, x, y, net = setup
    a = lfm.UnfoldedLFM(op.twin(), (7, 7), n_layers=2, rank=30).double()
    with torch.no_grad():
        ref, ref1 = a(y), a(y, n_layers=1)
        a.add_head(3, generator=torch.Generator().manual_seed(5))
        torch.testing.assert_close(a(y), ref, rtol=0, atol=0)
        a.head[2].weight.add_(0.01)
        assert not torch.equal(a(y), ref)
        # the head acts on the last layer only; earlier layers are as before
        torch.testing.assert_close(a(y, n_layers=1), ref1, rtol=0, atol=0)
    keys = a.state_dict().keys()
    assert {"head.0.weight", "head.2.bias"} <= set(keys)
    c = lfm.UnfoldedLFM(op.twin(), (7, 7), n_layers=2, rank=30).double().add_head(3)
    c.load_state_dict(a.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(c(y), a(y))
    # the same generator, the same start
    d = lfm.UnfoldedLFM(op.twin(), (7, 7), n_layers=2, rank=30).double()
    d.add_head(3, generator=torch.Generator().manual_seed(5))
    e = lfm.UnfoldedLFM(op.twin(), (7, 7), n_layers=2, rank=30).double()
    e.add_head(3, generator=torch.Generator().manual_seed(5))
    assert torch.equal(d.head[0].weight, e.head[0].weight)
    with pytest.raises(ValueError, match="width"):
        e.add_head(0)
    with pytest.raises(ValueError, match="head already"):
        e.add_head(3)


def test_adapt_is_deterministic_given_the_generator(setup):
    _, _, y, net = setup
    run = [lfm.adapt(net, y, n_steps=5, batch=2, generator=torch.Generator().manual_seed(s))
           for s in (3, 3, 4)]
    assert torch.equal(run[0].a1, run[1].a1)
    assert not torch.equal(run[0].a1, run[2].a1)


def test_adapt_proximity_and_labelled_terms(setup):
    """A strong proximity penalty keeps the numbers near the trained ones; a labelled
    synthetic term changes the result, and its data are checked."""
    op, x, y, net = setup
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    free = lfm.adapt(net, y, n_steps=20, lr=1e-2, batch=2, generator=g())
    held = lfm.adapt(net, y, n_steps=20, lr=1e-2, batch=2, generator=g(), proximity=1e6)

    def moved(a):
        pairs = zip(a.parameters(), net.parameters())
        return sum(float(((p - q).detach() ** 2).sum()) for p, q in pairs)

    assert moved(held) < 0.1 * moved(free)
    yl = op(x)
    lab = lfm.adapt(net, y, n_steps=20, lr=1e-2, batch=2, generator=g(), labelled=(x, yl))
    assert not torch.equal(lab.a2, free.a2)
    with pytest.raises(ValueError, match="proximity"):
        lfm.adapt(net, y, proximity=-1.0)
    with pytest.raises(TypeError, match="pair"):
        lfm.adapt(net, y, labelled=x)
    with pytest.raises(ValueError, match="lenslets"):
        lfm.adapt(net, y, labelled=(x[..., :-3], yl))
    with pytest.raises(ValueError, match="float32"):
        lfm.adapt(net, y, labelled=(x.float(), yl.float()))
    with pytest.raises(ValueError, match="photons"):
        lfm.adapt(net, y, labelled=(x, yl), photons=(10.0, 1.0))


def test_adapt_progress_is_one_line_on_a_batch_executed_page(setup, capsys, monkeypatch):
    from mbdl_teach import progress

    _, _, y, net = setup
    monkeypatch.setattr(progress, "_in_kernel", lambda: True)
    monkeypatch.setenv(progress.ENV_STATIC, "1")
    adapted = lfm.adapt(net, y, n_steps=4, batch=1, progress=True)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("adapt: 4/4 in ")
    mean_last = sum(adapted.adapt_history) / 4
    assert out[0].endswith(f"loss {mean_last:.5f}")


def test_adapt_errors(setup):
    op, x, y, net = setup
    with pytest.raises(TypeError, match="UnfoldedLFM"):
        lfm.adapt(torch.nn.Identity(), y)
    with pytest.raises(ValueError, match=r"shape \(B, 1, h\*N, w\*N\)"):
        lfm.adapt(net, y[:, 0])
    with pytest.raises(ValueError, match="built for 7x7"):
        lfm.adapt(net, torch.ones(1, 1, 8 * 15, 8 * 15, dtype=torch.float64))
    with pytest.raises(ValueError, match="float32"):
        lfm.adapt(net, y.float())
    with pytest.raises(ValueError, match="NaN or inf"):
        lfm.adapt(net, y * float("nan"))
    with pytest.raises(ValueError, match=">= 0"):
        lfm.adapt(net, y - 1.0)
    with pytest.raises(ValueError, match="all zeros"):
        lfm.adapt(net, torch.zeros_like(y))
    with pytest.raises(ValueError, match="n_steps"):
        lfm.adapt(net, y, n_steps=0)
    with pytest.raises(ValueError, match="lr"):
        lfm.adapt(net, y, lr=-1.0)
    with pytest.raises(TypeError, match="Generator"):
        lfm.adapt(net, y, generator=0)


def test_shipped_unseen_sample_network_never_saw_beads_and_adapts():
    """Chapter 10's unseen-sample network: trained on neurons and nuclei only (beads stay
    unseen), its last layer multiplicative; adapt fine-tunes that layer's numbers too."""
    from mbdl_teach import weights

    net, info = weights.load("lfm_unfolded_mult")
    assert "beads" not in info["data"]["kinds"] and net.multiplicative == 1
    assert (net.n_layers, net.rank) == (3, 96)
    g = torch.Generator().manual_seed(3)
    o = lfm.Optics()
    x = torch.stack([lfm.synthetic_volume(o, net.grid, seed=g, kind="beads") for _ in range(2)])
    y = lfm.add_noise(net.op(x), 300.0, seed=g).clamp_min(0)
    a = lfm.adapt(net, y, n_steps=3, batch=2, generator=torch.Generator().manual_seed(0))
    assert a.multiplicative == 1 and not torch.equal(a.m_num, net.m_num)
    with torch.no_grad():
        assert a(y).shape == x.shape


def test_shipped_adapt_network_never_saw_beads_and_is_the_faster_twin():
    """Chapter 10's network for adapt: lfm_unfolded_mult's recipe at rank 64, its
    multiplicative layer at rank 32; adapt gives it a head."""
    from mbdl_teach import weights

    net, info = weights.load("lfm_unfolded_mult_fast")
    assert "beads" not in info["data"]["kinds"] and net.multiplicative == 1
    assert (net.n_layers, net.rank, net.mult_rank) == (3, 64, 32) and net.head is None
    g = torch.Generator().manual_seed(3)
    o = lfm.Optics()
    x = torch.stack([lfm.synthetic_volume(o, net.grid, seed=g, kind="beads") for _ in range(2)])
    y = lfm.add_noise(net.op(x), 300.0, seed=g).clamp_min(0)
    a = lfm.adapt(net, y, n_steps=3, batch=2, teacher_iters=3,
                  generator=torch.Generator().manual_seed(0))
    assert a.head is not None and net.head is None
    with torch.no_grad():
        assert a(y).shape == x.shape
