"""What every recipe shares: checkpoint paths, the machine's name, decay steps, sizes."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from .. import weights


def checkpoint_path(name: str, checkpoint: str | Path | None) -> Path:
    return Path(checkpoint) if checkpoint is not None else weights.RESUME_DIR / f"{name}.resume.pt"


def machine() -> str:
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return (f"{cuda or platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPU cores, {torch.get_num_threads()} torch thread(s)")


def check_milestones(milestones, n_steps: int) -> list[int]:
    """The learning-rate decay steps: the default 80% of ``n_steps``, or checked integers."""
    if milestones is None:
        return [int(0.8 * n_steps)]
    out = [int(m) for m in milestones]
    if not out or any(m != v for m, v in zip(out, milestones)) or any(not 0 < m <= n_steps for m in out):
        raise ValueError(f"milestones must be steps in 1..{n_steps}, got {list(milestones)!r}")
    return sorted(out)


def profile_sizes(table: dict, profile: str, n_steps: int | None) -> dict:
    """A copy of ``table[profile]`` with ``n_steps`` in place of the recipe's when given."""
    if profile not in table:
        raise ValueError(f"profile must be one of {sorted(table)}, got {profile!r}")
    s = dict(table[profile])
    if n_steps is not None:
        s["n_steps"] = int(n_steps)
    return s
