"""xrf.train_unmixing: a validation-stopped training for a user's line library, and the
shipped kind 'xrf_unmixing'."""

import numpy as np
import pytest
import torch

pytest.importorskip("xraylib")

from mbdl_teach import xrf  # noqa: E402
from mbdl_teach.xrf.training import check_errors  # noqa: E402

SMALL = dict(n_layers=3, n_pool=128, n_val=64, batch=32, val_every=10)


@pytest.fixture(scope="module")
def setup():
    lines = xrf.Lines(["Ca", "Fe", "As", "Pb"])
    det = xrf.Detector(n_channels=256, gain=0.08)
    rng = np.random.default_rng(5)
    spec, a = xrf.simulate_spectra(xrf.library_mixtures(96, lines.elements, rng), lines, det,
                                   counts=2e4, rng=rng, fine=False,
                                   background=np.full(96, 0.3))
    val = torch.tensor(spec, dtype=torch.float32), torch.tensor(a, dtype=torch.float32)
    return lines, det, val


def _g(seed):
    return torch.Generator().manual_seed(seed)


def test_training_beats_the_untrained_network_and_more_steps_are_not_worse(setup):
    lines, det, val = setup
    untrained = xrf.validation_error(xrf.UnfoldedUnmixing(lines, det, n_layers=3), *val)
    errors = []
    for n in (20, 80):
        net, h = xrf.train_unmixing(lines, det, n_steps=n, generator=_g(0), validation=val,
                                    **SMALL)
        e = xrf.validation_error(net, *val)
        # the returned state is the best one seen on the validation spectra
        assert e == pytest.approx(h.best_error, rel=1e-5)
        assert e <= min(h.val_values) + 1e-7 and e <= untrained
        errors.append(e)
    assert errors[0] < 0.7 * untrained
    assert errors[1] <= errors[0]


def test_generator_makes_it_reproducible(setup):
    lines, det, _ = setup
    a, _ = xrf.train_unmixing(lines, det, n_steps=12, generator=_g(3), **SMALL)
    b, _ = xrf.train_unmixing(lines, det, n_steps=12, generator=_g(3), **SMALL)
    c, _ = xrf.train_unmixing(lines, det, n_steps=12, generator=_g(4), **SMALL)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert not torch.equal(a.precond, c.precond)


def test_input_errors_are_clear(setup):
    lines, det, val = setup
    with pytest.raises(ValueError, match="n_steps"):
        xrf.train_unmixing(lines, det, n_steps=0)
    with pytest.raises(TypeError, match="generator"):
        xrf.train_unmixing(lines, det, n_steps=5, generator=3)
    with pytest.raises(ValueError, match="lacks"):
        xrf.train_unmixing(lines, det, n_steps=5, pigments={"smalt": {"Co": 0.06}})
    with pytest.raises(ValueError, match="validation"):
        xrf.train_unmixing(lines, det, n_steps=5, validation=(val[0][:, :10], val[1]))
    with pytest.raises(ValueError, match="counts_range"):
        xrf.train_unmixing(lines, det, n_steps=5, counts_range=(1e3, 10.0))


def test_library_mixtures_cover_every_element():
    els = ["S", "Ca", "Cr", "Pb"]
    a = xrf.library_mixtures(400, els, np.random.default_rng(0))
    assert a.shape == (400, 4) and (a >= 0).all()
    assert ((a > 0.05).mean(0) > 0.1).all()  # no element left out


def test_the_shipped_kind_rebuilds_from_its_config(setup):
    lines, det, val = setup
    net, _ = xrf.train_unmixing(lines, det, n_steps=10, generator=_g(1), **SMALL)
    twin = xrf.build_unmixing(**xrf.unmixing_config(net))
    twin.load_state_dict(net.state_dict())
    y = val[0][:8]
    torch.testing.assert_close(twin.amounts(y), net.amounts(y))
    e_net, e_init = check_errors(net, n=64)
    assert e_net < e_init


def test_training_goes_where_it_is_asked_and_the_cpu_run_is_unchanged(setup, monkeypatch):
    lines, det, _ = setup
    a, _ = xrf.train_unmixing(lines, det, n_steps=12, generator=_g(3), **SMALL)
    b, _ = xrf.train_unmixing(lines, det, n_steps=12, generator=_g(3), device="cpu", **SMALL)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(),
                                                  b.state_dict().values()))
    seen = []  # the device the loop is handed and where the network is when it starts
    real_fit = xrf.training.fit

    def spy(model, *args, **kw):
        seen.append(next(model.parameters()).device)
        return real_fit(model, *args, **kw)

    monkeypatch.setattr(xrf.training, "fit", spy)
    net, _ = xrf.train_unmixing(lines, det, n_steps=2, generator=_g(3), device=torch.device("cpu"),
                                **SMALL)
    assert seen == [torch.device("cpu")] and net.step.device == torch.device("cpu")
