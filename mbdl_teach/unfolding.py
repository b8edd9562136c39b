"""Deep unfolding: the base of every unrolled network of the course.

An iterative algorithm ``x_{k+1} = f_k(x_k; y)`` run for T iterations *is* a T-layer
network; unfolding makes the pieces of ``f_k`` (matrices, step sizes, thresholds, small
CNNs) learnable per layer and trains them end to end (Gregor & LeCun 2010; Monga, Li &
Eldar 2021). :class:`Unfolded` holds the loop; a subclass says how to start and what one
layer does:

* ``init(y, **side) -> x_0``;
* ``layer(k, x, y, **side) -> x_{k+1}``;
* optionally ``prepare(y, **side) -> dict``: what the layers share and need only once
  (``H^T y``), passed to them as side information.

The same base serves vectors (LISTA on codes (B, n)), images (B, C, H, W) and volumes
(B, D, H, W); side information (a photograph, a mask, a noise level) passes through
``**side`` to both. Untrained, a subclass reproduces the iteration it unfolds (the
course's tests check that).

:func:`train_unfolded` trains any subclass with :func:`mbdl_teach.training.fit`, end to end
or layer by layer, and :func:`nmse_per_layer` measures it layer by layer.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from .metrics import nmse_db
from .training import History, fit

__all__ = ["Unfolded", "nmse_per_layer", "code_loss", "train_unfolded"]


class Unfolded(nn.Module):
    """Base class of unrolled networks: T layers from ``x_0 = init(y)``.

    Subclasses set ``self.n_layers`` and implement :meth:`init` and :meth:`layer`.
    """

    n_layers: int

    def prepare(self, y: torch.Tensor, **side: Any) -> dict[str, Any]:
        """What every layer needs from ``y`` and can compute once (``H^T y``, say), as more
        side information for :meth:`init` and :meth:`layer`; none by default. The network
        keeps nothing of a call on ``self``, so calls do not interfere."""
        return {}

    def init(self, y: torch.Tensor, **side: Any) -> torch.Tensor:  # pragma: no cover
        """The starting point ``x_0`` for measurements ``y`` (and checks of ``y``)."""
        raise NotImplementedError

    def layer(self, k: int, x: torch.Tensor, y: torch.Tensor, **side: Any) -> torch.Tensor:  # pragma: no cover
        """Layer ``k`` (from 0): ``x_k -> x_{k+1}``."""
        raise NotImplementedError

    def forward(self, y: torch.Tensor, n_layers: int | None = None, return_all: bool = False,
                **side: Any) -> torch.Tensor | list[torch.Tensor]:
        """Run ``n_layers`` layers (default all) on ``y``.

        Parameters
        ----------
        y : Tensor
            Measurements, batch first.
        n_layers : int, optional
            How many layers to run, ``0 <= n_layers <= self.n_layers``.
        return_all : bool
            Return ``[x_1, ..., x_T]`` instead of ``x_T``.
        **side
            Side information, passed to :meth:`init` and :meth:`layer`.

        Returns
        -------
        Tensor (``x_T``; ``x_0`` when ``n_layers=0``), or the list of every layer's output.
        """
        T = self.n_layers if n_layers is None else n_layers
        if isinstance(T, bool) or not isinstance(T, int) or not 0 <= T <= self.n_layers:
            raise ValueError(f"n_layers must be an integer in [0, {self.n_layers}], got {n_layers!r}")
        side = {**self.prepare(y, **side), **side}  # what the caller gives wins
        x = self.init(y, **side)
        outs = []
        for k in range(T):
            x = self.layer(k, x, y, **side)
            outs.append(x)
        return outs if return_all else x


@torch.no_grad()
def nmse_per_layer(model: Unfolded, y: torch.Tensor, x: torch.Tensor, **side: Any) -> list[float]:
    """NMSE (dB) of ``x_0, x_1, ..., x_T`` against the truth ``x`` (sums over every element).

    Returns
    -------
    list of T + 1 floats (``x_0 = 0`` gives 0 dB).
    """
    x0 = model.init(y, **{**model.prepare(y, **side), **side})
    return [nmse_db(x0, x)] + [nmse_db(o, x) for o in model(y, return_all=True, **side)]


def _unpack(batch):
    """``(y, x)`` or ``(y, x, side)`` -> ``y, x, side``."""
    if len(batch) == 2:
        return batch[0], batch[1], {}
    if len(batch) == 3 and isinstance(batch[2], dict):
        return batch
    raise ValueError("an unfolded network trains on batches (y, x) or (y, x, side_dict)")


def code_loss(layers: str = "all", n_layers: int | None = None) -> Callable:
    """Normalised squared error of the layers' outputs against the truth.

    Parameters
    ----------
    layers : {"all", "last"}
        Average over every layer's output (each layer is then a good estimate) or use
        the last one.
    n_layers : int, optional
        Run only the first ``n_layers`` layers.

    Returns
    -------
    callable
        ``loss_fn(model, batch)`` for :func:`mbdl_teach.training.fit`.
    """
    if layers not in ("all", "last"):
        raise ValueError(f"layers must be 'all' or 'last', got {layers!r}")

    def loss_fn(model, batch):
        y, x, side = _unpack(batch)
        outs = model(y, n_layers=n_layers, return_all=True, **side)
        if layers == "last":
            outs = outs[-1:]
        den = (x**2).sum()
        return sum(((o - x) ** 2).sum() for o in outs) / (den * len(outs))

    return loss_fn


def train_unfolded(model: Unfolded, batches, n_steps: int, mode: str = "end_to_end",
                   layers: str = "all", lr: float = 1e-3, loss_fn=None, val_fn=None,
                   progress: bool = True, seed: int = 0, **fit_kwargs) -> History | list[History]:
    """Train an unfolded network with :func:`~mbdl_teach.training.fit`.

    Parameters
    ----------
    model : Unfolded
    batches : callable
        ``batches(step, generator) -> (y, x)`` or ``(y, x, side)`` with ``side`` a dict of
        side information.
    n_steps : int
        End to end: the number of steps. Layer-wise: steps *per layer and stage*.
    mode : {"end_to_end", "layerwise"}
        End to end trains all layers at once. Layer-wise (Chen et al. 2018) trains, for
        t = 1..T, the parameters of layer t alone on the loss at layer t, then all layers
        1..t at ``lr / 5`` and ``lr / 50``.
    layers : {"all", "last"}
        End to end: see :func:`code_loss`.
    loss_fn : callable, optional
        Replaces the code loss (e.g. a re-synthesis loss ``||H x_T - y||^2``).

    Returns
    -------
    History (end to end), or a list of them (layer-wise).
    """
    if not isinstance(model, Unfolded):
        raise TypeError(f"model must be an unfolding.Unfolded, got {type(model).__name__}")
    if mode not in ("end_to_end", "layerwise"):
        raise ValueError(f"mode must be 'end_to_end' or 'layerwise', got {mode!r}")
    if layers not in ("all", "last"):
        raise ValueError(f"layers must be 'all' or 'last', got {layers!r}")
    if mode == "end_to_end":
        return fit(model, loss_fn or code_loss(layers), batches, n_steps, lr=lr, val_fn=val_fn,
                   progress=progress, seed=seed, desc=type(model).__name__, **fit_kwargs)
    # Adam with a fresh state leaves entries whose gradient is always zero untouched, so
    # masking gradients restricts a stage to layer t (stage 1) or layers 1..t (the loss
    # stops at layer t, later layers get no gradient).
    histories = []
    for t in range(1, model.n_layers + 1):
        loss = loss_fn or code_loss("last", t)
        for stage, rate in enumerate((lr, lr / 5, lr / 50)):
            with _OnlyLayer(model, t - 1) if stage == 0 else _NoOp():
                histories.append(fit(model, loss, batches, n_steps, lr=rate, progress=progress,
                                     seed=seed + t, desc=f"layer {t}.{stage}", **fit_kwargs))
    return histories


class _NoOp:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


class _OnlyLayer:
    """Within the block, gradients reach only layer ``k``'s slice of per-layer parameters
    (shape (T, ...)); shared parameters (shape (1, ...)) get no gradient."""

    def __init__(self, model: Unfolded, k: int):
        self.model, self.k, self.handles = model, k, []

    def __enter__(self):
        T = self.model.n_layers
        for p in self.model.parameters():
            mask = torch.zeros_like(p)
            if p.ndim >= 1 and p.shape[0] == T:
                mask[self.k] = 1
            self.handles.append(p.register_hook(lambda g, m=mask: g * m))
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
