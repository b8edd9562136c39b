"""Argument checks shared by the X-ray functions."""

from __future__ import annotations

import math

import torch


def check_pair(x, r1) -> None:
    for t, name, c in ((x, "x", 1), (r1, "r1", 3)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 4 or not torch.is_floating_point(t):
            raise ValueError(f"{name} must be a float tensor of shape (B, {c}, H, W), got "
                             f"{tuple(t.shape)} {t.dtype}")
    if x.shape[1] != 1:
        raise ValueError(f"x (the X-ray) must have one channel, got shape {tuple(x.shape)}")
    if r1.shape[1] != 3:
        raise ValueError(f"r1 must be an RGB photograph of shape (B, 3, H, W), got "
                         f"{tuple(r1.shape)} (a grey photograph will not do: the method "
                         "needs the colours)")
    if x.shape[0] != r1.shape[0] or x.shape[-2:] != r1.shape[-2:]:
        raise ValueError(f"the X-ray {tuple(x.shape)} and the photograph {tuple(r1.shape)} "
                         "differ in batch or size: register them first")
    if not (torch.isfinite(x).all() and torch.isfinite(r1).all()):
        raise ValueError("x or r1 contains NaN or inf")


def check_weight(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 (a loss weight), got {value}")
    return float(value)
