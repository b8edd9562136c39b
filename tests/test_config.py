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
