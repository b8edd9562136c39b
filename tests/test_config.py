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
