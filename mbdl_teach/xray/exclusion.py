"""The exclusion prior: the edges of the two components should not coincide."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def edge_map(x: torch.Tensor, levels: int = 3) -> torch.Tensor:
    """Multi-scale edge strength: mean over scales 1, 2, 4.. of ``|grad|`` (upsampled).

    Parameters
    ----------
    x : Tensor, shape (B, 1, H, W)

    Returns
    -------
    Tensor, shape (B, 1, H, W), >= 0
    """
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    for s in range(levels):
        xs = F.avg_pool2d(x, 2**s) if s else x
        gx, gy = _grad(xs)
        mag = F.pad(gx.abs(), (0, 1, 0, 0)) + F.pad(gy.abs(), (0, 0, 0, 1))
        out = out + F.interpolate(mag, size=(h, w), mode="nearest")
    return out / levels


def exclusion_loss(a: torch.Tensor, b: torch.Tensor, levels: int = 3) -> torch.Tensor:
    """The exclusion loss of Zhang, Ng & Chen (CVPR 2018), as Pu, Huang et al. use it.

    At each of ``levels`` scales (average-pooled by 2 each time), for both gradient
    directions: the gradients of ``b`` are rescaled to the mean magnitude of ``a``'s
    (``lambda = mean|grad a| / mean|grad b|``), both are squashed by ``2 sigmoid(.) - 1``,
    and the loss adds ``mean(ga^2 gb^2)^(1/4)``; the sum is divided by ``2 * levels``.
    Zero when no pixel has an edge in both images at any scale; positive otherwise.

    Parameters
    ----------
    a, b : Tensor, shape (B, C, H, W)
        The two components (H, W >= 2**levels).

    Returns
    -------
    Tensor, scalar
    """
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        raise TypeError("a and b must be torch.Tensors")
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"a and b must have one shape (B, C, H, W), got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be a positive integer, got {levels!r}")
    if min(a.shape[-2:]) < 2**levels:
        raise ValueError(f"images of {tuple(a.shape[-2:])} are too small for {levels} levels")
    loss = a.new_zeros(())
    for s in range(levels):
        if s:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        for ga, gb in zip(_grad(a), _grad(b)):
            lam = ga.abs().mean() / gb.abs().mean().clamp_min(1e-12)
            sa = 2 * torch.sigmoid(ga) - 1
            sb = 2 * torch.sigmoid(lam * gb) - 1
            m = (sa**2 * sb**2).mean()
            # m ** (1/4) with a zero (not infinite) gradient where m == 0
            loss = loss + torch.where(m > 0, m, torch.ones_like(m)) ** 0.25 * (m > 0)
    return loss / (2 * levels)
