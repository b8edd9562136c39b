import math

import numpy as np
import pytest
import torch
from torch import nn

from mbdl_teach import training
from mbdl_teach.training import History, fit, load_checkpoint



def _problem(d=6):
    w_true = torch.linspace(-1, 1, d)

    def batches(step, gen):
        a = torch.randn(16, d, generator=gen)
        return a, a @ w_true + 0.01 * torch.randn(16, generator=gen)

    def loss_fn(model, batch):
        a, b = batch
        return ((model(a).squeeze(-1) - b) ** 2).mean()

    return batches, loss_fn, w_true


def _model(d=6, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 8), nn.Dropout(0.1), nn.Linear(8, 1))


def test_fit_learns_a_linear_map_and_logs():
    batches, loss_fn, _ = _problem()
    model = _model()
    val = lambda m: float(loss_fn(m, batches(0, torch.Generator().manual_seed(99))))
    with torch.no_grad():
        before = val(model)
    hist = fit(model, loss_fn, batches, 300, lr=1e-2, val_fn=val, val_every=100, progress=False)
    assert isinstance(hist, History) and hist.steps == 300
    assert np.mean(hist.losses[-20:]) < 0.05 * np.mean(hist.losses[:20])
    assert hist.val_steps == [100, 200, 300]
    assert max(hist.val_values) < 0.05 * before
    assert len(hist.smoothed(10)) == 291


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path):
    """Dropout (global RNG), the batch generator, Adam and the LR schedule all resume."""
    batches, loss_fn, _ = _problem()
    kw = dict(lr=1e-2, milestones=[15, 25], gamma=0.5, progress=False, seed=3)
    ref_model = _model()
    torch.manual_seed(7)
    ref = fit(ref_model, loss_fn, batches, 30, **kw)

    ckpt = tmp_path / "run.pt"
    torch.manual_seed(7)
    part = _model()
    torch.manual_seed(7)
    fit(part, loss_fn, batches, 12, checkpoint=ckpt, **kw)
    torch.manual_seed(12345)  # the resumed run must not depend on the state in between
    resumed_model = _model(seed=99)
    hist = fit(resumed_model, loss_fn, batches, 30, checkpoint=ckpt, **kw)
    assert hist.losses == ref.losses
    assert hist.lrs == ref.lrs and hist.lrs[-1] == pytest.approx(1e-2 * 0.25)
    for a, b in zip(ref_model.parameters(), resumed_model.parameters()):
        assert torch.equal(a, b)
    state = load_checkpoint(ckpt)  # weights_only=True
    assert state["step"] == 30 and len(state["history"]["losses"]) == 30


def test_resuming_with_more_steps_moves_the_pending_decay(tmp_path):
    """A run planned for 20 steps (decay at 16) stopped at 10, resumed as a 40-step plan."""
    batches, loss_fn, _ = _problem()
    ckpt = tmp_path / "run.pt"
    fit(_model(), loss_fn, batches, 10, lr=1e-2, milestones=[5], gamma=0.5, checkpoint=ckpt,
        progress=False)
    hist = fit(_model(), loss_fn, batches, 40, lr=1e-2, milestones=[32], gamma=0.5,
               checkpoint=ckpt, progress=False)
    lrs = np.array(hist.lrs)
    assert np.allclose(lrs[5:32], 5e-3)  # the decay already made is kept
    assert np.allclose(lrs[32:], 2.5e-3)  # the new milestone applies


def test_without_resume_the_checkpoint_is_ignored(tmp_path):
    batches, loss_fn, _ = _problem()
    ckpt = tmp_path / "c.pt"
    fit(_model(), loss_fn, batches, 5, checkpoint=ckpt, progress=False)
    hist = fit(_model(), loss_fn, batches, 5, checkpoint=ckpt, resume=False, progress=False)
    assert hist.steps == 5


def test_nan_loss_stops_with_the_step():
    batches, _, _ = _problem()

    calls = []

    def loss_fn(model, batch):
        calls.append(1)
        loss = model(batch[0]).mean() ** 2
        return loss * float("nan") if len(calls) == 4 else loss

    with pytest.raises(FloatingPointError, match="step 4 of 10"):
        fit(_model(), loss_fn, batches, 10, progress=False)


@pytest.mark.parametrize("n_steps", [0, -3, 2.5])
def test_bad_n_steps(n_steps):
    batches, loss_fn, _ = _problem()
    with pytest.raises(ValueError, match="n_steps"):
        fit(_model(), loss_fn, batches, n_steps, progress=False)


def test_bad_arguments():
    batches, loss_fn, _ = _problem()
    with pytest.raises(TypeError, match="nn.Module"):
        fit(lambda x: x, loss_fn, batches, 3)
    with pytest.raises(ValueError, match="lr"):
        fit(_model(), loss_fn, batches, 3, lr=-1.0)
    with pytest.raises(TypeError, match="scalar"):
        fit(_model(), lambda m, b: m(b[0]), batches, 3, progress=False)


def test_iterator_batches_and_running_out():
    _, loss_fn, _ = _problem()
    gen = torch.Generator().manual_seed(0)
    data = [(torch.randn(4, 6, generator=gen), torch.randn(4, generator=gen)) for _ in range(5)]
    assert fit(_model(), loss_fn, iter(data), 5, progress=False).steps == 5
    with pytest.raises(ValueError, match="ran out at step 6"):
        fit(_model(), loss_fn, iter(data), 8, progress=False)


def test_log_every_prints(capsys):
    batches, loss_fn, _ = _problem()
    fit(_model(), loss_fn, batches, 6, log_every=3, progress=False)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[1].startswith("step      6  loss")


def test_ema_is_the_average_of_the_trajectory_and_is_checkpointed(tmp_path):
    batches, loss_fn, _ = _problem()
    model = _model()
    decay = 0.9
    avg = {k: v.clone() for k, v in model.state_dict().items()}

    def track(step, m, hist):
        for k, v in m.state_dict().items():
            avg[k] = decay * avg[k] + (1 - decay) * v

    hist = fit(model, loss_fn, batches, 20, lr=1e-2, progress=False, ema=decay, callbacks=[track],
               checkpoint=tmp_path / "c.pt")
    for k, v in avg.items():
        torch.testing.assert_close(hist.ema[k], v)
    assert load_checkpoint(tmp_path / "c.pt")["ema"].keys() == avg.keys()
    with pytest.raises(ValueError, match="ema must be a decay"):
        fit(_model(), loss_fn, batches, 2, ema=1.5, progress=False)


def test_a_callback_can_stop_training_early(tmp_path):
    batches, loss_fn, _ = _problem()
    hist = fit(_model(), loss_fn, batches, 50, progress=False, checkpoint=tmp_path / "c.pt",
               callbacks=[lambda step, m, h: step == 7])
    assert hist.steps == 7 and load_checkpoint(tmp_path / "c.pt")["step"] == 7


def test_autocast_is_bfloat16_on_cuda_only_and_leaves_a_cpu_run_unchanged(monkeypatch):
    batches, loss_fn, _ = _problem()
    runs = [fit(_model(), loss_fn, batches, 20, lr=1e-2, progress=False, autocast=a).losses
            for a in (False, True)]
    assert runs[0] == runs[1]  # the CPU ignores it: bit for bit the same losses
    seen = []
    real = torch.autocast

    def spy(device_type, dtype=None, enabled=True, **kw):
        seen.append((device_type, dtype, enabled))
        return real("cpu", dtype=torch.bfloat16, enabled=False)

    monkeypatch.setattr(torch, "autocast", spy)
    fit(_model(), loss_fn, batches, 1, progress=False, autocast=True)
    assert seen == [("cuda", torch.bfloat16, False)]  # asked for, off on the CPU
    with pytest.raises(TypeError, match="autocast must be True or False"):
        fit(_model(), loss_fn, batches, 1, progress=False, autocast="bf16")
