"""Unfolded non-negative unmixing over the line library (a model-based network)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..unfolding import Unfolded
from .fitting import _as_pixels, _check_lines, _to_maps, library_operator
from .physics import PIGMENTS, Detector, Lines, simulate_spectra

__all__ = ["UnfoldedUnmixing", "pigment_mixtures", "unmixing_batches", "amount_loss"]


class UnfoldedUnmixing(Unfolded):
    """Projected gradient on ``0.5 ||y - A x||^2, x >= 0`` unfolded into ``n_layers`` layers.

    ``A`` is the line library (elements, then continuum bumps) as a
    :class:`~mbdl_teach.operators.MatrixOperator`, columns scaled to unit norm. A spectrum is
    first divided by its total counts ``s`` (so one network serves every count level) and the
    result multiplied back. Layer k:

    ``x_{k+1} = relu(x_k - (diag(w_k) + P_k) (A^T A x_k - A^T y) - theta_k)``

    with a learned per-atom step ``w_k`` (initialised to ``1 / ||A||^2``), a learned full
    preconditioner ``P_k`` (atoms x atoms, initialised to 0; ``preconditioner="diagonal"``
    leaves it out) and a learned per-atom threshold ``theta_k`` (initialised to 0; it may
    turn negative, a bias). Untrained, it is projected gradient descent from ``x_0 = 0``.
    ``P_k`` couples the elements: through it the network learns which elements occur
    together in the pigments it was trained on (Hg with S in vermilion, Co with As in
    smalt...), a prior that a per-pixel least-squares fit does not have.

    Parameters
    ----------
    lines : Lines
    detector : Detector
    n_layers : int
    n_background : int
        Continuum bumps in the library.
    preconditioner : {"full", "diagonal"}
        Learn ``P_k`` (full) or only the per-atom steps ``w_k`` (diagonal).
    """

    def __init__(self, lines: Lines, detector: Detector, n_layers: int = 10,
                 n_background: int = 6, preconditioner: str = "full"):
        super().__init__()
        _check_lines(lines, detector)
        if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
            raise ValueError(f"n_layers must be a positive integer, got {n_layers!r}")
        if preconditioner not in ("full", "diagonal"):
            raise ValueError("preconditioner must be 'full' or 'diagonal', got "
                             f"{preconditioner!r}")
        self.lines, self.detector, self.n_layers = lines, detector, n_layers
        library = library_operator(lines, detector, n_background, dtype=torch.float32)
        self.op, scale = library.normalized_columns()  # unit-norm columns
        self.register_buffer("scale", scale)
        self.register_buffer("gram", self.op.gram())
        n = self.op.shape[1]
        L = self.op.norm() ** 2
        self.step = nn.Parameter(torch.full((n_layers, n), 1.0 / L))
        self.theta = nn.Parameter(torch.zeros(n_layers, n))
        self.precond = (nn.Parameter(torch.zeros(n_layers, n, n)) if preconditioner == "full"
                        else None)
        self.n_elements = len(lines)

    def _norm(self, y):
        return y.sum(1, keepdim=True).clamp(min=1.0) / y.shape[1]

    def _back_projection(self, y):
        """``A^T`` of the normalised spectra (normalised after the product: one pass less)."""
        return self.op.adjoint(y) / self._norm(y)

    def prepare(self, y: torch.Tensor, **side) -> dict:
        """``A^T y`` of the normalised spectra, once for every layer (which then work on the
        Gram matrix)."""
        if y.ndim != 2 or y.shape[1] != self.detector.n_channels:
            raise ValueError(f"y must have shape (B, {self.detector.n_channels}), got "
                             f"{tuple(y.shape)}")
        return {"aty": self._back_projection(y)}

    def init(self, y: torch.Tensor, **side) -> torch.Tensor:
        return torch.zeros(y.shape[0], self.op.shape[1], dtype=y.dtype, device=y.device)

    def layer(self, k: int, x: torch.Tensor, y: torch.Tensor, aty: torch.Tensor | None = None,
              **side) -> torch.Tensor:
        if aty is None:
            aty = self.prepare(y)["aty"]
        grad = x @ self.gram - aty
        step = self.step[k] * grad
        if self.precond is not None:
            step = step + grad @ self.precond[k].T
        return torch.relu(x - step - self.theta[k])

    def amounts(self, y: torch.Tensor) -> torch.Tensor:
        """Element amounts (counts) of spectra y (B, n_channels) -> (B, n_elements)."""
        x = self(y)
        return (x / self.scale)[:, : self.n_elements] * self._norm(y)

    @torch.no_grad()
    def maps(self, cube, lines: Lines | None = None, detector: Detector | None = None,
             batch: int = 4096) -> dict[str, np.ndarray]:
        """Element maps (counts) of a cube (H, W, n_channels), like the other methods."""
        y, hw = _as_pixels(cube, self.detector, dtype=self.step.dtype)
        y = y.to(self.step.device)
        out = torch.cat([self.amounts(y[i:i + batch]) for i in range(0, len(y), batch)])
        return _to_maps(out.double(), self.lines, hw)


def pigment_mixtures(n: int, elements, rng: np.random.Generator,
                     max_pigments: int = 3) -> np.ndarray:
    """Random paint: 1..max_pigments pigments of :data:`PIGMENTS` with random weights on a
    chalk ground of random strength. Returns element amounts (n, len(elements))."""
    names = [p for p in PIGMENTS if p != "chalk"]
    out = np.zeros((n, len(elements)))
    for i in range(n):
        k = rng.integers(1, max_pigments + 1)
        for pig in rng.choice(names, size=k, replace=False):
            w = rng.uniform(0.05, 1.0)
            for el, f in PIGMENTS[pig].items():
                if el in elements:
                    out[i, elements.index(el)] += w * f
        out[i, elements.index("Ca")] += 0.4 * rng.uniform(0.0, 0.6)
    return out


def unmixing_batches(lines: Lines, detector: Detector, n_pool: int = 4096,
                     counts_range=(1e3, 3e5), seed: int = 0, fine: bool = False):
    """A batch source for :func:`~mbdl_teach.unfolding.train_unfolded`: spectra of random
    pigment mixtures, count level log-uniform in ``counts_range``, Poisson noise; the
    targets are the network's normalised coordinates (amounts x column norm / (total /
    n_channels)).

    By default the spectra come from the line library the least-squares methods fit (plus
    the continuum), not from the finer model that makes the test cube (efficiency curve,
    tails, escape peaks): like them, the network never sees what the library lacks.
    ``fine=True`` trains on the finer model instead (an upper bound: that network has
    learned the test cube's detector).

    A pool of ``n_pool`` noise-free spectra is simulated once; each batch picks from it,
    scales and draws Poisson noise with the step's generator.
    """
    rng = np.random.default_rng(seed)
    amounts = pigment_mixtures(n_pool, lines.elements, rng)
    spec, amounts = simulate_spectra(amounts, lines, detector, fine=fine,
                                     background=rng.uniform(0.1, 0.6, n_pool))
    spec = torch.tensor(spec, dtype=torch.float32)
    amounts = torch.tensor(amounts, dtype=torch.float32)
    lo, hi = np.log(counts_range[0]), np.log(counts_range[1])

    def batches(step: int, generator: torch.Generator, batch: int = 256, net: UnfoldedUnmixing | None = None):
        idx = torch.randint(0, n_pool, (batch,), generator=generator)
        level = torch.exp(lo + (hi - lo) * torch.rand(batch, 1, generator=generator))
        mean = spec[idx]
        f = level / mean.sum(1, keepdim=True)
        y = torch.poisson(mean * f, generator=generator)
        return y, amounts[idx] * f

    return batches


def amount_loss(model: UnfoldedUnmixing, batch) -> torch.Tensor:
    """Normalised squared error of the element amounts (per spectrum, averaged)."""
    y, a = batch
    est = model.amounts(y)
    return (((est - a) ** 2).sum(1) / (a**2).sum(1)).mean()
