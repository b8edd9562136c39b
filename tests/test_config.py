import random

import numpy as np
import pytest
import torch

from mbdl_teach import config


def test_profile_from_argument_env_and_device(monkeypatch):
    monkeypatch.delenv("MBDL_PROFILE", raising=False)
    assert config.resolve_profile(None, cuda=False) == "quick"
    assert config.resolve_profile(None, cuda=True) == "full"
    assert config.resolve_profile("FULL", cuda=False) == "full"
    monkeypatch.setenv("MBDL_PROFILE", "full")
    assert config.resolve_profile(None, cuda=False) == "full"
    assert config.resolve_profile("quick", cuda=True) == "quick"  # argument beats env


def test_unknown_profile_is_a_clear_error(monkeypatch):
    with pytest.raises(ValueError, match="unknown profile 'fast'.*quick"):
        config.resolve_profile("fast")
    monkeypatch.setenv("MBDL_PROFILE", "paper")
    with pytest.raises(ValueError, match=r"\$MBDL_PROFILE"):
        config.setup(verbose=False)


def test_setup_seeds_everything(monkeypatch, capsys):
    monkeypatch.setenv("MBDL_PROFILE", "quick")
    cfg = config.setup(seed=3)
    out = capsys.readouterr().out
    assert "profile=quick" in out and "seed=3" in out
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    config.setup(seed=3, verbose=False)
    b = (random.random(), np.random.rand(), torch.rand(1).item())
    assert a == b
    assert cfg.quick and cfg.pick(quick=1, full=2) == 1
    assert cfg.device.type in ("cpu", "cuda")
    assert torch.are_deterministic_algorithms_enabled()


def test_generator_is_seeded():
    cfg = config.Config(device=torch.device("cpu"), profile="full", seed=5)
    assert torch.equal(torch.rand(3, generator=cfg.generator(1)), torch.rand(3, generator=cfg.generator(1)))
    assert not torch.equal(torch.rand(3, generator=cfg.generator(1)), torch.rand(3, generator=cfg.generator(2)))
    assert cfg.pick(quick=1, full=2) == 2


def test_bad_seed_type():
    with pytest.raises(TypeError):
        config.seed_everything(1.5)


def test_setup_sets_threads_and_the_environment_wins(monkeypatch):
    n = torch.get_num_threads()
    try:
        monkeypatch.delenv("MBDL_THREADS", raising=False)
        config.setup(threads=1, verbose=False)
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("MBDL_THREADS", "2")
        config.setup(threads=1, verbose=False)
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("MBDL_THREADS", "two")
        with pytest.raises(ValueError, match=r"integer >= 1 \(from the \$MBDL_THREADS\)"):
            config.setup(verbose=False)
        monkeypatch.delenv("MBDL_THREADS")
        with pytest.raises(ValueError, match="threads argument"):
            config.setup(threads=0, verbose=False)
    finally:
        torch.set_num_threads(n)


def test_setup_makes_figures_legible(monkeypatch):
    import matplotlib

    monkeypatch.delenv("MBDL_THREADS", raising=False)
    config.setup(verbose=False)
    assert matplotlib.rcParams["figure.dpi"] >= 100 and matplotlib.rcParams["savefig.dpi"] >= 100
    sizes = [matplotlib.rcParams[k] for k in ("font.size", "axes.titlesize", "xtick.labelsize")]
    assert all(isinstance(s, (int, float)) and s >= 9 for s in sizes)


def test_library_modules_set_no_global_state():
    """Threads and seeds are config.setup's job (and the command line's), no library's."""
    import re
    from pathlib import Path

    pkg = Path(config.__file__).parent
    for path in pkg.rglob("*.py"):
        if path.name == "config.py":
            continue
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if re.search(r"torch\.set_num_threads\(", line) and path.parent.name != "recipes":
                raise AssertionError(f"{path.name}:{i + 1} sets the thread count")
            if re.search(r"torch\.manual_seed\(|np\.random\.seed\(", line):
                # allowed only inside `with torch.random.fork_rng():` (state restored after)
                assert any("fork_rng" in prev for prev in lines[max(0, i - 3):i]), (
                    f"{path.name}:{i + 1} seeds the global generator outside fork_rng")


def test_on_a_gpu_setup_says_what_the_profile_costs_and_how_to_pick_the_other(monkeypatch, capsys):
    monkeypatch.delenv("MBDL_PROFILE", raising=False)
    monkeypatch.delenv("MBDL_THREADS", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    cfg = config.setup(seed=0)
    out = capsys.readouterr().out
    assert cfg.profile == "full" and "profile=full, device=cuda" in out
    assert "minutes per chapter" in out and 'profile="quick"' in out and "MBDL_PROFILE=quick" in out
    config.setup(seed=0, profile="quick")
    out = capsys.readouterr().out
    assert "the quick profile takes minutes" in out and 'profile="full"' in out


def _smoke_cfg(**sizes):
    cfg = config.Config(device=torch.device("cpu"), profile="full", seed=0, smoke=True)
    return cfg.at_smoke(**sizes) if sizes else cfg


def test_smoke_keeps_the_full_dict_and_shrinks_what_is_named():
    quick, full = dict(size=64, steps=40, hidden=8), dict(size=512, steps=4000, hidden=32)
    cfg = _smoke_cfg(size=32, steps=2, unused=1)
    assert cfg.pick(quick=quick, full=full) == dict(size=32, steps=2, hidden=32)
    assert cfg.pick(quick=quick, full=full, smoke=dict(steps=3)) == dict(size=32, steps=3,
                                                                         hidden=32)
    # nothing named for this dict, or a scalar: the CPU-sized quick value
    assert cfg.pick(quick=dict(a=1), full=dict(a=2)) == dict(a=1)
    assert cfg.pick(quick=40, full=300) == 40 and cfg.pick(quick=40, full=300, smoke=2) == 2
    with pytest.raises(ValueError, match=r"\['nope'\] are not keys"):
        cfg.pick(quick=quick, full=full, smoke=dict(nope=1))


def test_smoke_sizes_change_nothing_outside_smoke_scale():
    quick, full = dict(size=64), dict(size=512)
    for profile, want in (("quick", quick), ("full", full)):
        cfg = config.Config(torch.device("cpu"), profile, 0).at_smoke(size=8)
        assert cfg.pick(quick=quick, full=full, smoke=dict(size=4)) == want
        assert not cfg.smoke


def test_smoke_from_the_environment(monkeypatch, capsys):
    monkeypatch.delenv("MBDL_THREADS", raising=False)
    monkeypatch.setenv("MBDL_PROFILE", "full")
    monkeypatch.setenv("MBDL_SMOKE", "1")
    cfg = config.setup()
    assert cfg.smoke and cfg.profile == "full"
    assert "smoke scale" in capsys.readouterr().out
    monkeypatch.setenv("MBDL_SMOKE", "0")
    assert not config.setup(verbose=False).smoke
    monkeypatch.setenv("MBDL_SMOKE", "maybe")
    with pytest.raises(ValueError, match=r"\$MBDL_SMOKE must be 1 or 0"):
        config.setup(verbose=False)
    monkeypatch.setenv("MBDL_SMOKE", "1")
    monkeypatch.setenv("MBDL_PROFILE", "quick")
    with pytest.raises(ValueError, match=r"MBDL_PROFILE=full"):
        config.setup(verbose=False)
    with pytest.raises(ValueError, match="smoke scale shrinks the full profile"):
        config.Config(torch.device("cpu"), "quick", 0, smoke=True)


def test_full_profile_on_cuda_tunes_cudnn_and_the_cpu_stays_deterministic(monkeypatch):
    monkeypatch.delenv("MBDL_SMOKE", raising=False)
    monkeypatch.delenv("MBDL_THREADS", raising=False)
    try:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        config.setup(profile="full", verbose=False)
        assert torch.backends.cudnn.benchmark and not torch.are_deterministic_algorithms_enabled()
        config.setup(profile="quick", verbose=False)  # quick on a GPU: still deterministic
        assert not torch.backends.cudnn.benchmark and torch.are_deterministic_algorithms_enabled()
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        config.setup(profile="full", verbose=False)
        assert not torch.backends.cudnn.benchmark and torch.are_deterministic_algorithms_enabled()
    finally:
        config.make_deterministic()


def test_headline_prints_one_json_line(capsys):
    import json

    config.headline(psnr=28.13, n_steps=40, card="cpu", gap=float("nan"))
    out = capsys.readouterr().out
    assert out.startswith(config.HEADLINE_PREFIX) and out.count("\n") == 1
    assert json.loads(out[len(config.HEADLINE_PREFIX):]) == dict(psnr=28.13, n_steps=40,
                                                                  card="cpu", gap="nan")
    with pytest.raises(TypeError, match="'psnr'.*Tensor"):
        config.headline(psnr=torch.tensor(1.0))
    with pytest.raises(ValueError, match="at least one"):
        config.headline()
