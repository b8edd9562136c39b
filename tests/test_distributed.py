"""Data-parallel training: ``fit`` under ``torchrun`` with two gloo processes on the CPU
takes the same steps as one process on the combined batch."""
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from mbdl_teach.training import _shard, fit

SCRIPT = textwrap.dedent('''
    import sys, torch
    from torch import nn
    from mbdl_teach.training import fit, init_distributed

    rank, world = init_distributed()
    assert world == 2, world
    torch.set_num_threads(1)
    sys.path.insert(0, sys.argv[2])
    from test_distributed import batches, loss_fn, make_model
    model = make_model()
    hist = fit(model, loss_fn, batches, 12, lr=0.05, progress=False, seed=3, ema=0.8)
    if rank == 0:
        torch.save({"model": model.state_dict(), "ema": hist.ema, "losses": hist.losses}, sys.argv[1])
''')


def make_model():
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 1))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model


def batches(step, gen):
    a = torch.randn(8, 5, generator=gen)
    return a, a.sum(1, keepdim=True).sin()


def loss_fn(model, batch):
    a, b = batch
    return ((model(a) - b) ** 2).mean()


def test_shard_splits_every_tensor_of_a_batch():
    batch = (torch.arange(8), {"s": torch.arange(8) * 2}, 3)
    part = _shard(batch, 1, 2)
    assert part[0].tolist() == [4, 5, 6, 7] and part[1]["s"].tolist() == [8, 10, 12, 14]
    assert part[2] == 3
    with pytest.raises(ValueError, match="does not split over 3 processes"):
        _shard(torch.arange(8), 0, 3)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_on_the_whole_batch(tmp_path):
    out = tmp_path / "ddp.pt"
    script = tmp_path / "run_ddp.py"
    script.write_text(SCRIPT)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(script), str(out), str(__import__("pathlib").Path(__file__).parent)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ddp = torch.load(out, weights_only=True)

    model = make_model()
    hist = fit(model, loss_fn, batches, 12, lr=0.05, progress=False, seed=3, ema=0.8)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(ddp["model"][k], v, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(ddp["ema"][k], hist.ema[k], atol=1e-6, rtol=1e-5)
    # each process logs the loss of its half: their mean is the whole batch's loss
    assert len(ddp["losses"]) == 12
