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

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import weights
from .blocks import LearnedLiftingStep, _check_int

__all__ = ["DegradationINN", "degradation_loss", "degraded_pairs", "degradation_batches",
           "inverse_gain",
           "train_degradation_inn"]


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

    Examples
    --------
    >>> inn = DegradationINN(levels=2, steps=0)
    >>> x = torch.rand(1, 1, 16, 16)
    >>> c, d = inn(x)                      # c: the 4x4 block means, (1, 1, 4, 4)
    >>> torch.allclose(c, F.avg_pool2d(x, 4), atol=1e-6)
    True
    """

    def __init__(self, levels: int = 1, steps: int = 2, hidden: int = 16, blocks: int = 1):
        super().__init__()
        self.levels = _check_int("levels", levels, 1)
        _check_int("steps", steps, 0)
        self.config = dict(levels=levels, steps=steps, hidden=hidden, blocks=blocks)
        self.lifting = nn.ModuleList(
            nn.ModuleList(LearnedLiftingStep(1, 3, hidden, blocks) for _ in range(steps))
            for _ in range(levels))
        h = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64) / 2
        # rows: LL, LH, HL, HH of a 2x2 block (a b / c d); LL is the mean
        haar = torch.kron(h, h) * torch.tensor([1.0, 2, 2, 2], dtype=torch.float64)[:, None]
        # both exact in binary (entries 0.25 and 0.5; 1 and 0.5), so float32 holds them exactly
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
        return c, details

    def inverse(self, c: Tensor, details: Sequence[Tensor]) -> Tensor:
        """Rebuild the image from a coarse part and details (exact for any weights)."""
        if len(details) != self.levels:
            raise ValueError(f"expected {self.levels} detail tensors, got {len(details)}")
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


def degraded_pairs(images: Sequence[str], n: int, patch: int, kernel_std: float | None,
                   factor: int, levels: int,
                   generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``n`` clean patches and their noise-free degradation at the coarse resolution of an
    INN with ``levels`` levels: :func:`mbdl_teach.data.degraded_patches` (made on the finer
    grid), block-averaged further when the INN's coarse part is smaller than the
    observation."""
    from .. import data

    extra = _extra_pooling(factor, levels)
    x, y = data.degraded_patches(images, n, patch, kernel_std, 0.0, factor=factor,
                                 generator=generator)
    return x, (F.avg_pool2d(y, extra) if extra > 1 else y)


def degradation_batches(kernel_std: float | None, factor: int, levels: int, patch: int,
                        batch: int, images: Sequence[str] | None = None) -> Callable:
    """Training pairs of :func:`degraded_pairs` from the training images (or ``images``)."""
    from .. import data

    images = tuple(images or data.TRAIN_IMAGES)
    _extra_pooling(factor, levels)  # a wrong pair of sizes fails here, not at step 1

    def batches(step: int, generator: torch.Generator):
        return degraded_pairs(images, batch, patch, kernel_std, factor, levels, generator)

    return batches


def train_degradation_inn(kernel_std: float | None, factor: int, levels: int, n_steps: int,
                          steps: int = 2, hidden: int = 16, blocks: int = 1, patch: int = 32,
                          batch: int = 16, lr: float = 1e-3, stability: float = 0.0,
                          checkpoint=None, progress: bool = True) -> tuple[DegradationINN, object]:
    """Train a :class:`DegradationINN` to simulate a degradation (Adam, one decay at 80%;
    ``stability``: see :func:`degradation_loss`)."""
    from ..training import fit

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        inn = DegradationINN(levels, steps, hidden, blocks)
    loss = (degradation_loss if not stability
            else lambda m, b: degradation_loss(m, b, stability=stability))
    with torch.random.fork_rng(devices=[]):  # the stability probes replay; global state kept
        torch.manual_seed(1)
        hist = fit(inn, loss, degradation_batches(kernel_std, factor, levels, patch, batch),
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
    x, y = degraded_pairs(data.TEST_IMAGES, 16, 32, d["kernel_std"], d["factor"], inn.levels, g)
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
