"""Invertible networks built from lifting steps: LINN and WINNet.

An *invertible network* is a map whose inverse is known in closed form, whatever its
weights. The lifting scheme gives one for free {cite}`sweldens1998lifting`: split the
input into a coarse part ``c`` and a detail part ``d``, then alternate

    d <- d - P(c)        (predict)
    c <- c + U(d)        (update)

with *any* functions ``P`` and ``U`` (here small CNNs). Each step is undone by running it
backwards with the sign swapped (``c <- c - U(d)``, then ``d <- d + P(c)``), because the
step only ever adds to one half a function of the other half, which it leaves unchanged.
This is the additive coupling layer of RealNVP {cite}`dinh2017realnvp`.

This module builds, in small form, the networks of Huang and Dragotti:

* :class:`FixedSplit`: the fixed first stage, a 4x4 DCT-II filter bank (or 2x2 Haar) applied
  as a stride-1, undecimated, circularly padded convolution: 1 coarse + 15 detail channels
  per input channel. The 16 filters form an orthonormal basis of 4x4 patches, so
  ``T^T T = 16 I`` and the inverse is the transposed convolution divided by 16 (exact).
* :class:`LINN` (lifting-inspired invertible network {cite}`huang2021linn`): the split
  followed by ``steps`` :class:`LearnedLiftingStep` s whose predictor (1 -> 15 channels) and
  updater (15 -> 1) are :class:`PUNet` s with soft thresholds driven by the noise level.
  Their output convolutions start at zero, so an untrained LINN is the plain split.
* :class:`WINNet` (wavelet-inspired invertible network {cite}`huang2022winnet`): ``levels``
  LINNs (level ``i`` re-decomposes the previous coarse channel with dilation
  ``min(2**i, 2)``), a convolutional LISTA on each level's detail channels (the coarse
  channel is not touched), and the inverse LINNs. Non-blind (``sigma`` given) or blind
  (``sigma`` from :meth:`WINNet.estimate_sigma`).

Noise levels
------------
``sigma`` is always on the image's [0, 1] scale (``25 / 255`` for "sigma 25"). The soft
thresholds follow the authors' rule ``t = softplus(theta) * sigma_255 / 50`` with
``sigma_255 = 255 * sigma`` and one learned ``theta`` per channel, so a network trained at
one noise level scales its thresholds with the noise.
"""

from __future__ import annotations

import math
from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checks import check_sigma
from .wavelets import MAD_CONSTANT

__all__ = [
    "SPLITS",
    "dct_matrix",
    "split_filters",
    "FixedSplit",
    "NoiseSoftThreshold",
    "PUNet",
    "LearnedLiftingStep",
    "LINN",
    "ConvLISTA",
    "WINNet",
    "estimate_sigma",
]

#: Fixed splits: name -> filter size (a ``k x k`` DCT-II basis; ``k = 2`` is Haar).
SPLITS = {"dct4": 4, "haar": 2}

SigmaLike = Union[float, int, Tensor]


# ------------------------------------------------------------------ checks
def _check_image(x, in_channels: int, min_size: int, name: str = "x") -> None:
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
        _check_image(x, self.in_channels, self.min_size)
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
        return x - torch.clamp(x, -t, t)  # = sign(x) max(|x| - t, 0), in two cheap passes


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


class LearnedLiftingStep(nn.Module):
    """``d <- d - P(c); c <- c + U(d)`` and its exact inverse.

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

    def forward(self, c: Tensor, d: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
        d = d - self.predict(c, sigma)
        c = c + self.update(d, sigma)
        return c, d

    def inverse(self, c: Tensor, d: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
        c = c - self.update(d, sigma)
        d = d + self.predict(c, sigma)
        return c, d


def _check_int(name: str, v, lo: int) -> int:
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
        _check_int("in_channels", in_channels, 1)
        _check_int("steps", steps, 0)
        _check_int("hidden", hidden, 1)
        _check_int("blocks", blocks, 0)
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


# ------------------------------------------------------------------ the sparsity-driven denoiser
class ConvLISTA(nn.Module):
    """Convolutional LISTA with shared weights on the detail channels.

    ``g = A x``; ``iters`` times ``g <- ST_i(g + A(x - S g))``; output ``S g``. With
    ``iters = 0`` it is a single soft threshold per detail channel (LINN's simplest
    denoiser).

    Parameters
    ----------
    channels : int
        Detail channels (15 for the DCT split).
    features : int
        Channels of the sparse code ``g``.
    iters : int
    """

    def __init__(self, channels: int = 15, features: int = 64, iters: int = 4):
        super().__init__()
        self.iters = iters
        if iters == 0:
            self.st = nn.ModuleList([NoiseSoftThreshold(channels)])
            self.A = self.S = None
        else:
            self.A = _conv(channels, features, 3)
            self.S = _conv(features, channels, 3)
            self.st = nn.ModuleList(NoiseSoftThreshold(features) for _ in range(iters))

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        if self.iters == 0:
            return self.st[0](x, sigma)
        g = self.A(x)
        for st in self.st:
            g = st(g + self.A(x - self.S(g)), sigma)
        return self.S(g)

    def orthogonality(self) -> Tensor:
        """``||delta - S * A||^2``: squared distance of the composed convolution from identity.

        Computed by passing an impulse in each channel through ``A`` then ``S`` on a grid
        just large enough for the composed 5x5 kernel (zero padding loses nothing).
        """
        if self.iters == 0:
            return self.st[0].theta.new_zeros(())
        c, k = self.A.in_channels, self.A.kernel_size[0]
        n = 2 * k - 1
        delta = self.A.weight.new_zeros(c, c, n, n)
        delta[torch.arange(c), torch.arange(c), n // 2, n // 2] = 1.0
        return ((self.S(self.A(delta)) - delta) ** 2).sum()


# ------------------------------------------------------------------ noise estimation
def _mad_highpass(y: Tensor) -> Tensor:
    """sigma = median(|HH|) / Phi^{-1}(3/4) (the "0.6745") on the non-overlapping 2x2 Haar diagonal band."""
    h, w = (y.shape[-2] // 2) * 2, (y.shape[-1] // 2) * 2
    y = y[..., :h, :w]
    hh = (y[..., 0::2, 0::2] - y[..., 0::2, 1::2] - y[..., 1::2, 0::2] + y[..., 1::2, 1::2]) / 2
    return hh.flatten(1).abs().median(dim=1).values / MAD_CONSTANT


def _pca_sigma(y: Tensor, patch: int, keep: float) -> Tensor:
    """sigma^2 = smallest eigenvalue of the covariance of the flattest patches."""
    out = []
    for img in y:
        p = F.unfold(img[None], patch, stride=max(1, patch // 2))[0].T  # (n, C p^2)
        p = p.double()
        # weights: keep the patches with the least high-pass energy (weak texture)
        hp = p.reshape(p.shape[0], -1, patch, patch)  # C is folded in; differences along x, y
        energy = (hp.diff(dim=-1) ** 2).mean(dim=(1, 2, 3)) + (hp.diff(dim=-2) ** 2).mean(dim=(1, 2, 3))
        m = max(p.shape[1] + 1, int(keep * p.shape[0]))
        sel = p[energy.argsort()[:m]]
        sel = sel - sel.mean(dim=0, keepdim=True)
        cov = sel.T @ sel / max(1, sel.shape[0] - 1)
        out.append(torch.linalg.eigvalsh(cov)[0].clamp_min(0).sqrt())
    return torch.stack(out).to(y.dtype)


def estimate_sigma(y: Tensor, method: str = "mad", patch: int = 4, keep: float = 1.0) -> Tensor:
    """Estimate the Gaussian noise level of each image (blind denoising).

    * ``"mad"`` (default): ``median(|HH|) / 0.6745`` on the non-overlapping 2x2 Haar
      diagonal band (Donoho's rule). On the training images with sigma 5-50 (in 255 units)
      its mean error was at most 1.6.
    * ``"pca"``: a small, unlearned form of the weighted PCA of {cite}`huang2022winnet`:
      white noise adds ``sigma^2`` to every eigenvalue of the covariance of image patches,
      and natural-image patches leave some direction with (almost) no signal, so
      ``sigma`` is the square root of the smallest eigenvalue of the covariance of the
      half-overlapping ``patch x patch`` patches. The paper *learns* a weight per patch to
      discount textured ones; here ``keep < 1`` keeps only the flattest fraction of patches
      (a 0/1 weighting), which biases the estimate low at high noise (the flattest noisy
      patches are those with the weakest noise draw). On the training images it was within
      about 2 (255 units) for sigma <= 50 with the defaults.

    Parameters
    ----------
    y : Tensor, shape (B, C, H, W)
    method : {"mad", "pca"}
    patch : int
        Patch side for ``"pca"``.
    keep : float in (0, 1]
        Fraction of the flattest patches kept by ``"pca"``.

    Returns
    -------
    Tensor, shape (B,)
        On the image's scale.
    """
    _check_image(y, y.shape[1] if isinstance(y, Tensor) and y.ndim == 4 else 1, 2, "y")
    if method == "mad":
        return _mad_highpass(y)
    if method != "pca":
        raise ValueError(f"unknown method {method!r}; expected 'pca' or 'mad'")
    if y.shape[-1] < patch or y.shape[-2] < patch:
        raise ValueError(f"the PCA estimator needs images of at least {patch}x{patch}, got {tuple(y.shape[-2:])}")
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    with torch.no_grad():
        return _pca_sigma(y, patch, keep)


# ------------------------------------------------------------------ WINNet
def _largest_singular_value(m: Tensor) -> Tensor:
    """``||m||_2`` from the eigenvalues of the smaller Gram matrix (cheaper than an SVD)."""
    g = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    return torch.linalg.eigvalsh(g)[-1].clamp_min(0).sqrt()


class WINNet(nn.Module):
    """Wavelet-inspired invertible network for denoising {cite}`huang2022winnet`.

    ``levels`` LINNs give a redundant multi-scale transform; a convolutional LISTA removes
    noise from each level's detail channels; the inverse LINNs rebuild the image from the
    denoised details and the untouched coarse channel.

    Parameters
    ----------
    in_channels : int
    levels : int
        Scales ``K``; level ``i`` re-decomposes level ``i - 1``'s coarse channel with
        dilation ``min(2**i, 2)``.
    steps, hidden, blocks : int
        Lifting steps per level and the size of each predictor / updater.
    lista_iters, lista_channels : int
        Iterations and code channels of the convolutional LISTA (``lista_iters = 0``: one
        learned soft threshold per detail channel).
    split : {"dct4", "haar"}
    sigma_train_max : float, optional
        When set, the transform uses ``max(sigma, sigma_train_max)`` (the authors' rule
        that makes WINNet robust to noise levels below the training one); the LISTA
        always sees the actual ``sigma``.
    ortho_weight, spectral_weight : float
        Weights of :meth:`orthogonality_loss` and :meth:`spectral_penalty` in
        :meth:`loss`. The authors weigh them 10 and 0.1 against a data term
        ``sum of squares / (2 B)`` on 40x40 patches (800 times a mean square); the
        defaults are these weights rescaled to the mean-square error of :meth:`loss`.

    Notes
    -----
    The default configuration has 173,440 parameters, the count the authors' code gives
    for ``K = 1``.
    """

    def __init__(self, in_channels: int = 1, levels: int = 1, steps: int = 4, hidden: int = 32, blocks: int = 4,
                 lista_iters: int = 4, lista_channels: int = 64, split: str = "dct4",
                 sigma_train_max: float | None = None, ortho_weight: float = 10.0 / 800,
                 spectral_weight: float = 0.1 / 800):
        super().__init__()
        _check_int("levels", levels, 1)
        _check_int("lista_iters", lista_iters, 0)
        _check_int("lista_channels", lista_channels, 1)
        if sigma_train_max is not None:
            sigma_train_max = float(sigma_train_max)
            if not math.isfinite(sigma_train_max) or sigma_train_max < 0:
                raise ValueError(f"sigma_train_max must be a number >= 0 or None, got {sigma_train_max}")
            if sigma_train_max > 1:
                raise ValueError(f"sigma_train_max is on the [0, 1] scale (25/255 for sigma 25), got {sigma_train_max}")
        self.in_channels, self.levels, self.split_name = in_channels, levels, split
        self.sigma_train_max = sigma_train_max
        self.ortho_weight, self.spectral_weight = float(ortho_weight), float(spectral_weight)
        self.linns = nn.ModuleList(
            LINN(in_channels, steps, hidden, blocks, split, dilation=min(2**i, 2)) for i in range(levels)
        )
        nd = self.linns[0].split.detail_channels
        self.denoisers = nn.ModuleList(ConvLISTA(nd, lista_channels, lista_iters) for _ in range(levels))

    @property
    def min_size(self) -> int:
        """Smallest height and width the transform accepts."""
        return max(linn.min_size for linn in self.linns)

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    # -------------------------------------------------------------- inputs
    def _inputs(self, y: Tensor, sigma: SigmaLike, name: str = "y") -> Tensor:
        _check_image(y, self.in_channels, self.min_size, name)
        return check_sigma(sigma, y.shape[0], like=y)

    def _sigma_transform(self, s: Tensor) -> Tensor:
        if self.sigma_train_max is None:
            return s
        return s.clamp_min(self.sigma_train_max)

    # -------------------------------------------------------------- transform
    def transform(self, x: Tensor, sigma: SigmaLike) -> list[tuple[Tensor, Tensor]]:
        """Multi-scale forward transform.

        Parameters
        ----------
        x : Tensor, shape (B, C, H, W)
        sigma : float or Tensor of shape (B,)
            Noise level; the transform uses ``max(sigma, sigma_train_max)`` when set.

        Returns
        -------
        list of (c, d), one per level
            ``c`` (B, C, H, W), ``d`` (B, 15 C, H, W); level ``i`` splits level ``i-1``'s ``c``.
        """
        s = self._sigma_transform(self._inputs(x, sigma, "x"))
        coeffs, c = [], x
        for linn in self.linns:
            c, d = linn(c, s)
            coeffs.append((c, d))
        return coeffs

    def inverse_transform(self, coeffs: Sequence[tuple[Tensor, Tensor]], sigma: SigmaLike) -> Tensor:
        """Exact inverse of :meth:`transform`.

        Only the last level's ``c`` is used: each level's coarse channel is rebuilt from the
        next level's coefficients (as in a wavelet reconstruction).
        """
        if not isinstance(coeffs, (list, tuple)) or len(coeffs) != self.levels:
            raise ValueError(f"coeffs must be a list of {self.levels} (c, d) pairs, got "
                             f"{len(coeffs) if isinstance(coeffs, (list, tuple)) else type(coeffs).__name__}")
        c = coeffs[-1][0]
        s = self._sigma_transform(check_sigma(sigma, c.shape[0], like=c))
        for linn, (_, d) in zip(reversed(self.linns), reversed(list(coeffs))):
            c = linn.inverse(c, d, s)
        return c

    # -------------------------------------------------------------- denoising
    def forward(self, y: Tensor, sigma: SigmaLike) -> Tensor:
        """Non-blind denoising: transform, LISTA on the details, inverse transform.

        Parameters
        ----------
        y : Tensor, shape (B, C, H, W)
            Noisy images.
        sigma : float or Tensor of shape (B,)
            Noise standard deviation on the [0, 1] scale.

        Returns
        -------
        Tensor, shape (B, C, H, W)
        """
        s = self._inputs(y, sigma)
        coeffs = self.transform(y, s)
        clean = [(c, dn(d, s)) for (c, d), dn in zip(coeffs, self.denoisers)]
        return self.inverse_transform(clean, s)

    @staticmethod
    def estimate_sigma(y: Tensor, method: str = "mad") -> Tensor:
        """Noise level of each image, shape (B,): see :func:`estimate_sigma`."""
        return estimate_sigma(y, method)

    def denoise(self, y: Tensor, sigma: SigmaLike | None = None) -> Tensor:
        """Denoise ``y``; blind (``sigma`` from :meth:`estimate_sigma`) when ``sigma`` is None."""
        if sigma is None:
            _check_image(y, self.in_channels, self.min_size, "y")
            sigma = self.estimate_sigma(y)
        return self(y, sigma)

    # -------------------------------------------------------------- training
    def orthogonality_loss(self) -> Tensor:
        """Mean over levels of ``||delta - S * A||^2`` of each LISTA (zero without LISTA)."""
        return torch.stack([dn.orthogonality() for dn in self.denoisers]).mean()

    def spectral_penalty(self) -> Tensor:
        """Mean over the predictors / updaters of the sum of their convolutions' largest
        singular values (each weight matricised as ``(out, in * k * k)``): a simplified form
        of the authors' penalty on the linearised P/U networks, which keeps the lifting
        steps, and so the inverse, well conditioned."""
        terms = []
        for linn in self.linns:
            for step in linn.steps:
                for net in (step.predict, step.update):
                    ws = [m.weight for m in net.modules() if isinstance(m, nn.Conv2d) and m is not net.conv_out]
                    terms.append(sum(_largest_singular_value(w.flatten(1)) for w in ws))
        if not terms:
            return next(self.parameters()).new_zeros(())
        return torch.stack(terms).mean()

    def loss(self, clean: Tensor, noisy: Tensor, sigma: SigmaLike) -> Tensor:
        """Training loss: ``MSE(forward(noisy, sigma), clean)`` plus the weighted regularisers."""
        _check_image(clean, self.in_channels, self.min_size, "clean")
        if clean.shape != getattr(noisy, "shape", None):
            raise ValueError(f"clean and noisy must have the same shape, got {tuple(clean.shape)} and "
                             f"{tuple(getattr(noisy, 'shape', ()))}")
        out = F.mse_loss(self(noisy, sigma), clean)
        if self.ortho_weight:
            out = out + self.ortho_weight * self.orthogonality_loss()
        if self.spectral_weight:
            out = out + self.spectral_weight * self.spectral_penalty()
        return out


# ------------------------------------------------------------------ shipped weights
def _register() -> None:
    from . import weights
    from .denoisers import check_gain

    weights.register_model("winnet", WINNet, check=check_gain)


_register()
