"""An invertible network that simulates a degradation: INDigo's INN (chapter 07).

:class:`DegradationINN` is a decimated lifting scheme. Each level splits the image into
2x2 blocks, takes their Haar transform (scaled so that the coarse channel is the block
mean) and runs learned lifting steps on the result; ``levels`` levels leave a coarse
image ``2**levels`` times smaller. Trained so that its coarse output on a clean image
equals the degraded image at that resolution (:func:`degradation_loss`), the forward pass
*simulates* the degradation; whatever the weights, the inverse rebuilds an image from any
coarse part and any details exactly. With no lifting steps it is the plain Haar
transform, whose coarse part is the block mean: the average-pooling degradation.

INDigo (:func:`mbdl_teach.diffusion.indigo`) uses it as a measurement-consistency step
without a formula for ``H``: split the current estimate, replace the coarse part by the
measurement, invert.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import weights
from .blocks import LearnedLiftingStep, check_int, dct_matrix

__all__ = ["DegradationINN", "MonotoneCurve", "degradation_loss", "degraded_pairs",
           "degradation_batches", "inverse_gain", "train_degradation_inn", "camera",
           "fit_linear_blur", "quantile_linearisation"]


class MonotoneCurve(nn.Module):
    """A learned increasing curve ``phi`` on [0, 1], piecewise linear, with its exact inverse.

    ``segments`` equal pieces; each slope is ``softplus(w) + 1e-3`` (so ``phi`` is strictly
    increasing and invertible); beyond [0, 1] the end slopes continue. It starts as the
    identity. :class:`DegradationINN` puts it on its coarse part to learn a camera's
    response (a gamma, a saturation) beside the blur.
    """

    def __init__(self, segments: int = 16):
        super().__init__()
        self.segments = check_int("segments", segments, 1)
        # softplus(w) + 1e-3 = 1: the identity
        self.w = nn.Parameter(torch.full((segments,), float(math.log(math.expm1(1 - 1e-3)))))
        self.offset = nn.Parameter(torch.zeros(1))

    def _knots(self) -> tuple[Tensor, Tensor]:
        slopes = F.softplus(self.w) + 1e-3
        values = torch.cat((self.offset, self.offset + torch.cumsum(slopes, 0) / self.segments))
        return slopes, values

    def forward(self, u: Tensor) -> Tensor:
        slopes, values = self._knots()
        i = (u.detach() * self.segments).floor().clamp(0, self.segments - 1).long()
        return values[i] + slopes[i] * (u - i.to(u.dtype) / self.segments)

    def inverse(self, v: Tensor) -> Tensor:
        slopes, values = self._knots()
        i = (torch.searchsorted(values.detach(), v.detach().contiguous()) - 1)
        i = i.clamp(0, self.segments - 1)
        return i.to(v.dtype) / self.segments + (v - values[i]) / slopes[i]


class DegradationINN(nn.Module):
    """Decimated Haar split + learned lifting steps, ``levels`` times.

    Parameters
    ----------
    levels : int
        The coarse part is ``2**levels`` times smaller than the image.
    steps : int
        Learned lifting steps per level (0: the plain Haar transform).
    hidden, blocks : int
        Size of each predictor / updater (:class:`mbdl_teach.inn.PUNet`, linear here:
        its soft thresholds are driven at noise level 0).
    response : int
        Segments of a learned increasing curve (:class:`MonotoneCurve`) applied to the
        coarse part last, for a camera's non-linear response (0: none, a linear network).

    Examples
    --------
    >>> inn = DegradationINN(levels=2, steps=0)
    >>> x = torch.rand(1, 1, 16, 16)
    >>> c, d = inn(x)                      # c: the 4x4 block means, (1, 1, 4, 4)
    >>> torch.allclose(c, F.avg_pool2d(x, 4), atol=1e-6)
    True
    """

    def __init__(self, levels: int = 1, steps: int = 2, hidden: int = 16, blocks: int = 1,
                 response: int = 0):
        super().__init__()
        self.levels = check_int("levels", levels, 1)
        check_int("steps", steps, 0)
        check_int("response", response, 0)
        self.config = dict(levels=levels, steps=steps, hidden=hidden, blocks=blocks)
        if response:
            self.config["response"] = response
        self.curve = MonotoneCurve(response) if response else None
        self.lifting = nn.ModuleList(
            nn.ModuleList(LearnedLiftingStep(1, 3, hidden, blocks) for _ in range(steps))
            for _ in range(levels))
        # the 2x2 Haar split of inn.blocks (the orthonormal DCT of size 2), with the coarse
        # row halved so that it is the block mean: rows LL, LH, HL, HH of a 2x2 block
        d2 = dct_matrix(2)
        haar = torch.kron(d2, d2) * torch.tensor([0.5, 1, 1, 1], dtype=torch.float64)[:, None]
        # in float32 exactly 0.25 and 0.5 (and 1, 0.5 for the inverse)
        self.register_buffer("_haar", haar.float(), persistent=False)
        self.register_buffer("_haar_inv", torch.linalg.inv(haar).float(), persistent=False)

    @property
    def factor(self) -> int:
        """How much smaller the coarse part is (``2**levels``)."""
        return 2**self.levels

    def _check(self, x) -> None:
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expected an image batch of shape (B, 1, H, W), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        if x.shape[-1] % self.factor or x.shape[-2] % self.factor:
            raise ValueError(f"image size {tuple(x.shape[-2:])} is not divisible by "
                             f"2**levels = {self.factor}")

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        blocks = F.pixel_unshuffle(x, 2)                         # (B, 4, H/2, W/2): a, b, c, d
        y = torch.einsum("ij,bjhw->bihw", self._haar.to(x), blocks)
        return y[:, :1], y[:, 1:]

    def _merge(self, c: Tensor, d: Tensor) -> Tensor:
        y = torch.einsum("ij,bjhw->bihw", self._haar_inv.to(c), torch.cat((c, d), 1))
        return F.pixel_shuffle(y, 2)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``x`` (B, 1, H, W) -> coarse (B, 1, H/f, W/f) and the details of each level,
        finest first (B, 3, H/2, W/2), (B, 3, H/4, W/4), ..."""
        self._check(x)
        zero = x.new_zeros(x.shape[0])
        details, c = [], x
        for steps in self.lifting:
            c, d = self._split(c)
            for step in steps:
                c, d = step(c, d, zero)
            details.append(d)
        return (self.curve(c) if self.curve is not None else c), details

    def inverse(self, c: Tensor, details: Sequence[Tensor]) -> Tensor:
        """Rebuild the image from a coarse part and details (exact for any weights)."""
        if len(details) != self.levels:
            raise ValueError(f"expected {self.levels} detail tensors, got {len(details)}")
        if self.curve is not None:
            c = self.curve.inverse(c)
        zero = c.new_zeros(c.shape[0])
        for steps, d in zip(reversed(self.lifting), reversed(list(details))):
            if d.shape[-2:] != c.shape[-2:] or d.shape[1] != 3:
                raise ValueError(f"coarse part {tuple(c.shape)} and details {tuple(d.shape)} "
                                 "do not belong to the same level")
            for step in reversed(steps):
                c, d = step.inverse(c, d, zero)
            c = self._merge(c, d)
        return c

    def coarse(self, x: Tensor) -> Tensor:
        """The simulated degradation: the coarse part of ``x``."""
        return self(x)[0]


def degradation_loss(inn: DegradationINN, batch: tuple[Tensor, Tensor],
                     stability: float = 0.0, probe: float = 0.01) -> Tensor:
    """``mean ||coarse(x) - y_f||^2`` with ``y_f`` the degraded image at the coarse
    resolution (``batch = (x, y_f)``), the INDigo training loss.

    ``stability > 0`` adds ``stability * mean ||INN^{-1}(c + e, d) - x||^2`` with ``e`` white
    noise of std ``probe`` on the coarse part: how much the inverse amplifies an error in
    the measurement. Many lifting steps simulate the same degradation; this term picks
    ones whose inverse does not blow noise up (our addition, for noisy measurements; the
    papers train with the first term only). The probe noise comes from the global
    generator (:func:`train_degradation_inn` seeds it, and a resumed run restores it).
    """
    x, y = batch
    c, d = inn(x)
    loss = F.mse_loss(c, y)
    if stability > 0:
        e = probe * torch.randn(c.shape).to(c)
        loss = loss + stability * F.mse_loss(inn.inverse(c + e, d), x)
    return loss


def inverse_gain(inn: DegradationINN, x: Tensor, probe: float = 0.005,
                 generator: torch.Generator | None = None) -> float:
    """RMS error of ``INN^{-1}(c + e, d)`` per unit of RMS noise ``e`` on the coarse part:
    how much a measurement error grows through INDigo's consistency step (1 for Haar)."""
    with torch.no_grad():
        c, d = inn(x)
        e = probe * torch.randn(c.shape, generator=generator).to(c)
        return float((inn.inverse(c + e, d) - x).pow(2).mean().sqrt() / e.pow(2).mean().sqrt())


def _extra_pooling(factor: int, levels: int) -> int:
    """How much the observation (``factor`` times smaller than the image) must be
    block-averaged to reach the coarse part of an INN with ``levels`` levels."""
    extra = 2**levels // factor
    if extra < 1 or extra * factor != 2**levels:
        raise ValueError(f"2**levels = {2**levels} must be a multiple of the observation's "
                         f"factor {factor}")
    return extra


def camera(u: Tensor, sigma: float = 0.01, k: float = 3.0, bits: int = 8,
           generator: torch.Generator | None = None) -> Tensor:
    """A camera's non-linear read-out of the light ``u`` (B, C, H, W) that reaches it.

    Sensor noise of std ``sigma`` is added to ``u``, a saturating response
    ``(1 - exp(-k u)) / (1 - exp(-k))`` (steep in the shadows like a gamma, flat in the
    highlights) maps it to [0, 1], where it is clipped and quantised to ``bits`` bits.
    Blur, then this, has no closed-form inverse that a linear model can use: chapter 07's
    case for a degradation learned from examples.
    """
    if sigma < 0 or k <= 0:
        raise ValueError(f"need sigma >= 0 and k > 0, got sigma={sigma!r}, k={k!r}")
    check_int("bits", bits, 1)
    if sigma:
        u = u + sigma * torch.randn(u.shape, generator=generator).to(u)
    v = (1 - torch.exp(-k * u)) / (1 - math.exp(-k))
    levels = 2**bits - 1
    return torch.round(v.clamp(0, 1) * levels) / levels


def fit_linear_blur(x: Tensor, y: Tensor, size: int = 9):
    """The best linear model of a degradation from (clean, degraded) pairs: ``y ~ k * x + b``.

    Least squares over every pixel of every pair for a ``size x size`` kernel ``k``
    (circular convolution, as :class:`mbdl_teach.operators.Blur` applies it) and an offset
    ``b``; what a user without a formula for the degradation can fit to examples.

    Parameters
    ----------
    x, y : Tensor, shape (N, 1, H, W)
        Clean patches and their degraded versions (same size).
    size : int
        Odd kernel side.

    Returns
    -------
    op : Blur
        ``H x = k * x``.
    offset : float
        ``b``.
    residual : float
        RMS of ``y - H x - b`` on the pairs: the noise level this model leaves.
    """
    from ..operators import Blur

    if not isinstance(x, Tensor) or not isinstance(y, Tensor) or x.shape != y.shape:
        raise ValueError(f"x and y must be tensors of one shape, got "
                         f"{getattr(x, 'shape', x)} and {getattr(y, 'shape', y)}")
    if check_int("size", size, 1) % 2 == 0:
        raise ValueError(f"size must be odd, got {size}")
    r = size // 2
    xd = x.double()
    cols = [torch.roll(xd, (i, j), dims=(-2, -1)).flatten()
            for i in range(-r, r + 1) for j in range(-r, r + 1)]
    A = torch.stack(cols + [torch.ones_like(cols[0])], 1)
    coef = torch.linalg.lstsq(A, y.double().flatten()[:, None]).solution[:, 0]
    op = Blur(coef[:-1].reshape(size, size).float())
    offset = float(coef[-1])
    residual = float((y.double() - (A @ coef).reshape(y.shape)).pow(2).mean().sqrt())
    return op, offset, residual


def quantile_linearisation(x: Tensor, y: Tensor, n: int = 256) -> Callable[[Tensor], Tensor]:
    """A classical inverse of an unknown increasing response: quantile matching.

    If the degradation is a blur (which keeps grey-level statistics roughly) followed by an
    increasing pointwise response, mapping each degraded grey level to the clean level of
    the same quantile over the pairs undoes the response: ``u = F_x^{-1}(F_y(y))``,
    piecewise linear between ``n + 1`` quantiles.

    Returns
    -------
    callable
        ``lin(y) -> u``, elementwise, any shape.
    """
    qs = torch.linspace(0, 1, n + 1, dtype=torch.float64)
    qy = torch.quantile(y.double().flatten()[:2**24], qs)
    qx = torch.quantile(x.double().flatten()[:2**24], qs)

    def lin(v: Tensor) -> Tensor:
        i = torch.searchsorted(qy, v.double().contiguous()).clamp(1, n)
        w = ((v.double() - qy[i - 1]) / (qy[i] - qy[i - 1]).clamp(min=1e-12)).clamp(0, 1)
        return (qx[i - 1] + w * (qx[i] - qx[i - 1])).to(v.dtype)

    return lin


def degraded_pairs(images: Sequence[str], n: int, patch: int, kernel_std: float | None,
                   factor: int, levels: int, generator: torch.Generator | None = None,
                   camera_args: dict | None = None, coarse: bool = True) -> tuple[Tensor, Tensor]:
    """``n`` clean patches and their noise-free degradation at the coarse resolution of an
    INN with ``levels`` levels: :func:`mbdl_teach.data.degraded_patches` (made on the finer
    grid), block-averaged further when the INN's coarse part is smaller than the
    observation.

    ``camera_args`` (a dict of :func:`camera`'s arguments) reads the blurred patch out
    through that camera (noise, response, quantisation) before the block averaging;
    ``coarse=False`` returns the observation itself (no further averaging).
    """
    from .. import data

    extra = _extra_pooling(factor, levels)
    x, y = data.degraded_patches(images, n, patch, kernel_std, 0.0, factor=factor,
                                 generator=generator)
    if camera_args is not None:
        y = camera(y, generator=generator, **camera_args)
    return x, (F.avg_pool2d(y, extra) if extra > 1 and coarse else y)


def degradation_batches(kernel_std: float | None, factor: int, levels: int, patch: int,
                        batch: int, images: Sequence[str] | None = None,
                        camera_args: dict | None = None) -> Callable:
    """Training pairs of :func:`degraded_pairs` from the training images (or ``images``)."""
    from .. import data

    images = tuple(images or data.TRAIN_IMAGES)
    _extra_pooling(factor, levels)  # a wrong pair of sizes fails here, not at step 1

    def batches(step: int, generator: torch.Generator):
        return degraded_pairs(images, batch, patch, kernel_std, factor, levels, generator,
                              camera_args=camera_args)

    return batches


def train_degradation_inn(kernel_std: float | None, factor: int, levels: int, n_steps: int,
                          steps: int = 2, hidden: int = 16, blocks: int = 1, patch: int = 32,
                          batch: int = 16, lr: float = 1e-3, stability: float = 0.0,
                          checkpoint=None, progress: bool = True, camera_args: dict | None = None,
                          response: int = 0) -> tuple[DegradationINN, object]:
    """Train a :class:`DegradationINN` to simulate a degradation (Adam, one decay at 80%;
    ``stability``: see :func:`degradation_loss`; ``camera_args``: pairs read out through
    :func:`camera`, learned with a ``response`` curve of that many segments)."""
    from ..training import fit

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        inn = DegradationINN(levels, steps, hidden, blocks, response=response)
    loss = (degradation_loss if not stability
            else lambda m, b: degradation_loss(m, b, stability=stability))
    with torch.random.fork_rng(devices=[]):  # the stability probes replay; global state kept
        torch.manual_seed(1)
        hist = fit(inn, loss, degradation_batches(kernel_std, factor, levels, patch, batch,
                                                  camera_args=camera_args),
                   n_steps, lr=lr, milestones=[max(1, int(0.8 * n_steps))], gamma=0.3,
                   checkpoint=checkpoint, checkpoint_every=100, progress=progress, seed=0,
                   desc="degradation INN")
    return inn, hist


def _check_shipped(inn: DegradationINN, info: dict) -> None:
    """A shipped INN simulates its degradation on held-out patches at least twice better than
    plain Haar (or, where Haar is the degradation, as well), with a bounded inverse gain where
    the manifest asks for one."""
    from .. import data

    d = info["degradation"]
    g = torch.Generator().manual_seed(0)
    x, y = degraded_pairs(data.TEST_IMAGES, 16, 32, d["kernel_std"], d["factor"], inn.levels, g,
                          camera_args=d.get("camera"))
    with torch.no_grad():
        ours = float(F.mse_loss(inn.coarse(x), y))
        haar = float(F.mse_loss(F.avg_pool2d(x, inn.factor), y))
    # at most half Haar's error, or (where Haar is already the degradation) negligible
    assert ours < max(0.5 * haar, 1e-6), (
        f"{info.get('file')}: coarse MSE {ours:.2e} vs Haar's {haar:.2e}")
    if d.get("max_inverse_gain"):
        gain = inverse_gain(inn, x, generator=g)
        assert gain < d["max_inverse_gain"], f"{info.get('file')}: inverse gain {gain:.1f}"


weights.register_model("degradation_inn", DegradationINN, check=_check_shipped)
