"""Invertible building blocks: the fixed split, predict / update networks, LINN.

See :mod:`mbdl_teach.inn` for the ideas; WINNet is :class:`mbdl_teach.denoisers.WINNet`.
"""

from __future__ import annotations

import math
from typing import Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_sigma
from ..lifting import LiftingCoupling
from ..wavelets import soft_threshold

SPLITS = {"dct4": 4, "haar": 2}

SigmaLike = Union[float, int, Tensor]


# ------------------------------------------------------------------ checks
def check_image(x, in_channels: int, min_size: int, name: str = "x") -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}")
    if x.shape[1] != in_channels:
        raise ValueError(
            f"{name} must have {in_channels} channel(s) (the model's in_channels), got {x.shape[1]} "
            f"in shape {tuple(x.shape)}"
        )
    h, w = x.shape[-2:]
    if h < min_size or w < min_size:
        raise ValueError(
            f"the split needs height and width >= {min_size} (its filters, dilated, wrap around "
            f"that many pixels), got {h}x{w}"
        )


# ------------------------------------------------------------------ the fixed split
def dct_matrix(n: int) -> Tensor:
    """Orthonormal DCT-II matrix (rows are the basis vectors).

    ``D[k, i] = a_k cos(pi k (2 i + 1) / (2 n))`` with ``a_0 = sqrt(1/n)`` and
    ``a_k = sqrt(2/n)``; ``D @ D.T = I``. For ``n = 2`` it is the Haar matrix.

    Returns
    -------
    Tensor, shape (n, n), float64
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = torch.cos(math.pi * k * (2 * i + 1) / (2 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d


def split_filters(split: str = "dct4") -> Tensor:
    """The 2-D filters of a fixed split: outer products of the 1-D DCT-II basis.

    Filter ``u * k + v`` is ``D[u][:, None] * D[v][None, :]``; filter 0 is the constant
    (coarse) one, ``1 / k`` everywhere. The ``k**2`` filters are orthonormal.

    Returns
    -------
    Tensor, shape (k**2, 1, k, k), float64
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {tuple(SPLITS)}")
    k = SPLITS[split]
    d = dct_matrix(k)
    return (d[:, None, :, None] * d[None, :, None, :]).reshape(k * k, 1, k, k)


class FixedSplit(nn.Module):
    """Undecimated orthonormal filter bank: ``x -> (c, d)``, exactly invertible.

    Each input channel is filtered with the ``F = k**2`` filters of :func:`split_filters`
    at every pixel (stride 1, dilation ``dilation``, circular boundary). Since the filters
    are an orthonormal basis of ``k x k`` patches, every pixel is seen by ``F`` (filter,
    position) pairs with weights whose squares sum to one, so ``T^T T = F I``: the inverse
    is the transposed (adjoint) convolution divided by ``F``, for any image size.

    Parameters
    ----------
    split : {"dct4", "haar"}
    in_channels : int
    dilation : int

    Notes
    -----
    Output channels: ``c`` holds the coarse (DC) response of each input channel,
    shape (B, C, H, W); ``d`` the ``F - 1`` detail responses of channel 0, then of
    channel 1, ..., shape (B, C (F - 1), H, W). Each coefficient has the noise level of
    the input (unit-norm filters); ``c`` is ``k`` times the local mean.
    """

    def __init__(self, split: str = "dct4", in_channels: int = 1, dilation: int = 1):
        super().__init__()
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {tuple(SPLITS)}")
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive integer, got {in_channels!r}")
        if not isinstance(dilation, int) or dilation < 1:
            raise ValueError(f"dilation must be a positive integer, got {dilation!r}")
        self.split, self.in_channels, self.dilation = split, in_channels, dilation
        self.k = SPLITS[split]
        self.n_filters = self.k**2
        # kept in float64 (not a buffer, so .float() cannot round it) and cast on use
        self._weight64 = split_filters(split).repeat(in_channels, 1, 1, 1)
        a = (self.k - 1) // 2  # the window covers n - a*dil ... n + (k-1-a)*dil
        self._pad_fwd = (dilation * a, dilation * (self.k - 1 - a))
        self._pad_inv = self._pad_fwd[::-1]
        F_ = self.n_filters
        idx = torch.arange(in_channels * F_).reshape(in_channels, F_)
        self.register_buffer("_coarse_idx", idx[:, 0].clone(), persistent=False)
        self.register_buffer("_detail_idx", idx[:, 1:].reshape(-1).clone(), persistent=False)
        order = torch.empty(in_channels * F_, dtype=torch.long)
        order[torch.cat((idx[:, 0], idx[:, 1:].reshape(-1)))] = torch.arange(in_channels * F_)
        self.register_buffer("_merge_idx", order, persistent=False)

    @property
    def min_size(self) -> int:
        """Smallest height and width the circular padding allows."""
        return max(1, max(self._pad_fwd))

    @property
    def coarse_channels(self) -> int:
        return self.in_channels

    @property
    def detail_channels(self) -> int:
        return self.in_channels * (self.n_filters - 1)

    def extra_repr(self) -> str:
        return f"split={self.split!r}, in_channels={self.in_channels}, dilation={self.dilation}"

    def weight(self, like: Tensor) -> Tensor:
        """The filters, shape (C F, 1, k, k), on ``like``'s device and dtype."""
        return self._weight64.to(device=like.device, dtype=like.dtype)

    def _pad(self, x: Tensor, p: tuple[int, int]) -> Tensor:
        return F.pad(x, (p[0], p[1], p[0], p[1]), mode="circular") if max(p) > 0 else x

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Split ``x`` (B, C, H, W) into ``c`` (B, C, H, W) and ``d`` (B, C (F-1), H, W)."""
        check_image(x, self.in_channels, self.min_size)
        y = F.conv2d(self._pad(x, self._pad_fwd), self.weight(x), dilation=self.dilation,
                     groups=self.in_channels)
        return y[:, self._coarse_idx], y[:, self._detail_idx]

    def inverse(self, c: Tensor, d: Tensor) -> Tensor:
        """Undo :meth:`forward`: ``x = T^T [c; d] / F`` (exact)."""
        if not isinstance(c, Tensor) or not isinstance(d, Tensor):
            raise TypeError("c and d must be torch.Tensors")
        if (c.ndim != 4 or d.ndim != 4 or c.shape[1] != self.coarse_channels
                or d.shape[1] != self.detail_channels or c.shape[0] != d.shape[0]
                or c.shape[-2:] != d.shape[-2:]):
            raise ValueError(
                f"expected c of shape (B, {self.coarse_channels}, H, W) and d of shape "
                f"(B, {self.detail_channels}, H, W), got {tuple(c.shape)} and {tuple(d.shape)}"
            )
        y = torch.cat((c, d), dim=1)[:, self._merge_idx]
        w = self.weight(y).flip(-1, -2).reshape(self.in_channels, self.n_filters, self.k, self.k)
        x = F.conv2d(self._pad(y, self._pad_inv), w, dilation=self.dilation, groups=self.in_channels)
        return x / self.n_filters


# ------------------------------------------------------------------ predict / update networks
class NoiseSoftThreshold(nn.Module):
    """Soft threshold per channel, scaled by the noise level.

    ``ST(x) = sign(x) max(|x| - t, 0)`` with ``t = softplus_20(theta) * 255 sigma / 50``
    (``softplus_20(u) = log(1 + exp(20 u)) / 20``).

    Parameters
    ----------
    channels : int
    init : float
        Initial ``theta`` (``-0.05`` gives ``t = 0.0157 * sigma_255 / 50``).
    """

    def __init__(self, channels: int, init: float = -0.05):
        super().__init__()
        self.theta = nn.Parameter(torch.full((channels,), float(init)))

    def threshold(self, sigma: Tensor) -> Tensor:
        """Thresholds, shape (B, channels, 1, 1), for ``sigma`` of shape (B,)."""
        return F.softplus(self.theta, beta=20.0)[None, :, None, None] * (sigma * 255.0 / 50.0)[:, None, None, None]

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        t = self.threshold(sigma).to(x.dtype)
        return soft_threshold(x, t, check=False)


def _conv(cin: int, cout: int, k: int, dilation: int = 1, groups: int = 1) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, k, padding=dilation * (k // 2), dilation=dilation, groups=groups, bias=False)
    nn.init.kaiming_uniform_(conv.weight, a=0.0, mode="fan_out", nonlinearity="relu")
    return conv


class _SepConv(nn.Sequential):
    """Depthwise ``k x k`` then pointwise 1x1 convolution."""

    def __init__(self, channels: int, k: int, dilation: int):
        super().__init__(_conv(channels, channels, k, dilation, groups=channels), _conv(channels, channels, 1))


class _ResBlock(nn.Module):
    """``x -> ST(x + SepConv(ST(SepConv(x))))``."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv1, self.conv2 = _SepConv(channels, 5, dilation), _SepConv(channels, 5, dilation)
        self.st1, self.st2 = NoiseSoftThreshold(channels), NoiseSoftThreshold(channels)

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        return self.st2(x + self.conv2(self.st1(self.conv1(x), sigma)), sigma)


class PUNet(nn.Module):
    """A predictor or updater: 3x3 conv, soft threshold, residual blocks, 3x3 conv.

    No biases, so ``PUNet(0) = 0``; the output convolution starts at zero, so an untrained
    ``PUNet`` returns zeros (the lifting step is then the identity).

    Parameters
    ----------
    in_channels, out_channels : int
    hidden : int
        Feature channels.
    blocks : int
        Residual blocks (depthwise 5x5 + pointwise 1x1, twice, with soft thresholds).
    dilation : int
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 32, blocks: int = 4, dilation: int = 1):
        super().__init__()
        self.conv_in = _conv(in_channels, hidden, 3, dilation)
        self.st_in = NoiseSoftThreshold(hidden)
        self.blocks = nn.ModuleList(_ResBlock(hidden, dilation) for _ in range(blocks))
        self.conv_out = nn.Conv2d(hidden, out_channels, 3, padding=dilation, dilation=dilation, bias=False)
        nn.init.zeros_(self.conv_out.weight)

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        """``x`` (B, in, H, W), ``sigma`` (B,) -> (B, out, H, W)."""
        # channels-last memory makes the depthwise convolutions several times faster on CPU
        x = x.contiguous(memory_format=torch.channels_last)
        h = self.st_in(self.conv_in(x), sigma)
        for block in self.blocks:
            h = block(h, sigma)
        return self.conv_out(h).contiguous()


class LearnedLiftingStep(LiftingCoupling):
    """One lifting step ``d <- d - P(c, sigma); c <- c + U(d, sigma)`` and its exact inverse:
    the coupling of :class:`mbdl_teach.lifting.LiftingCoupling` with :class:`PUNet` s as
    predictor and updater, driven by the noise level.

    Parameters
    ----------
    coarse_channels, detail_channels : int
    hidden, blocks, dilation : int
        Size of the :class:`PUNet` s.
    """

    def __init__(self, coarse_channels: int = 1, detail_channels: int = 15, hidden: int = 32, blocks: int = 4,
                 dilation: int = 1):
        super().__init__()
        self.predict = PUNet(coarse_channels, detail_channels, hidden, blocks, dilation)
        self.update = PUNet(detail_channels, coarse_channels, hidden, blocks, dilation)

    def pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.predict, self.update)]

    def forward(self, c: Tensor, d: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
        """The step: :meth:`lift` with the noise level."""
        return self.lift(c, d, sigma)

    def inverse(self, c: Tensor, d: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
        """Its exact inverse: :meth:`unlift` with the noise level."""
        return self.unlift(c, d, sigma)


def check_int(name: str, v, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    return v


class LINN(nn.Module):
    """Lifting-inspired invertible network: fixed split + learned lifting steps.

    Parameters
    ----------
    in_channels : int
    steps : int
        Lifting steps (each a predict and an update).
    hidden, blocks : int
        Size of each predictor / updater (:class:`PUNet`).
    split : {"dct4", "haar"}
        The fixed first stage (:class:`FixedSplit`).
    dilation : int
        Dilation of the split and of the P/U convolutions (WINNet's deeper levels use 2).

    Examples
    --------
    >>> linn = LINN()
    >>> x = torch.rand(2, 1, 32, 32)
    >>> c, d = linn(x, 25 / 255)            # shapes (2, 1, 32, 32) and (2, 15, 32, 32)
    >>> torch.allclose(linn.inverse(c, d, 25 / 255), x, atol=1e-5)
    True
    """

    def __init__(self, in_channels: int = 1, steps: int = 4, hidden: int = 32, blocks: int = 2,
                 split: str = "dct4", dilation: int = 1):
        super().__init__()
        check_int("in_channels", in_channels, 1)
        check_int("steps", steps, 0)
        check_int("hidden", hidden, 1)
        check_int("blocks", blocks, 0)
        self.in_channels = in_channels
        self.split = FixedSplit(split, in_channels, dilation)
        nc, nd = self.split.coarse_channels, self.split.detail_channels
        self.steps = nn.ModuleList(LearnedLiftingStep(nc, nd, hidden, blocks, dilation) for _ in range(steps))

    @property
    def min_size(self) -> int:
        return self.split.min_size

    def forward(self, x: Tensor, sigma: SigmaLike) -> tuple[Tensor, Tensor]:
        """Forward transform.

        Parameters
        ----------
        x : Tensor, shape (B, C, H, W)
        sigma : float or Tensor of shape (B,)
            Noise level ([0, 1] scale) that sets the soft thresholds inside P and U.

        Returns
        -------
        c : Tensor, shape (B, C, H, W)
        d : Tensor, shape (B, 15 C, H, W) (``3 C`` for Haar)
        """
        c, d = self.split(x)
        s = check_sigma(sigma, x.shape[0], like=x)
        for step in self.steps:
            c, d = step(c, d, s)
        return c, d

    def inverse(self, c: Tensor, d: Tensor, sigma: SigmaLike) -> Tensor:
        """Inverse transform (exact for any weights): steps backwards, then the inverse split."""
        if not isinstance(c, Tensor) or c.ndim != 4:
            raise ValueError(f"c must be a tensor of shape (B, C, H, W), got {getattr(c, 'shape', type(c))}")
        s = check_sigma(sigma, c.shape[0], like=c)
        for step in reversed(self.steps):
            c, d = step.inverse(c, d, s)
        return self.split.inverse(c, d)
