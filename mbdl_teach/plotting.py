"""Figures the chapters share: image grids, curves and tables of numbers."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def to_numpy_image(img) -> np.ndarray:
    """A tensor/array image as a NumPy array ready for ``imshow``.

    Accepts (H, W), (C, H, W) with C in {1, 3} or (1, C, H, W); returns (H, W) or (H, W, 3).
    """
    if isinstance(img, torch.Tensor):
        img = img.detach().cpu().float().numpy()
    arr = np.asarray(img)
    if arr.ndim == 4:
        if arr.shape[0] != 1:
            raise ValueError(f"a batch of {arr.shape[0]} images: pass one at a time")
        arr = arr[0]
    if arr.ndim == 3:
        if arr.shape[0] == 1:
            arr = arr[0]
        elif arr.shape[0] == 3:
            arr = np.moveaxis(arr, 0, -1)
        elif arr.shape[-1] not in (1, 3):
            raise ValueError(f"cannot show an image of shape {arr.shape}")
    if arr.ndim not in (2, 3):
        raise ValueError(f"cannot show an image of shape {arr.shape}")
    return arr


def show_images(
    images: Sequence,
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    size: float = 2.6,
    cmap: str = "gray",
    vmin: float | None = 0.0,
    vmax: float | None = 1.0,
    suptitle: str | None = None,
):
    """A row (or grid) of images with titles; returns the figure.

    Parameters
    ----------
    images : sequence of Tensor/ndarray, each (H, W), (C, H, W) or (1, C, H, W)
    titles : sequence of str, optional
    ncols : int, optional
        Columns of the grid (default: all in one row, at most 6).
    size : float
        Inches per panel.
    vmin, vmax : float or None
        Display range; ``None`` lets each panel scale itself (for coefficients).
    """
    images = list(images)
    n = len(images)
    if n == 0:
        raise ValueError("no images to show")
    if titles is not None and len(titles) != n:
        raise ValueError(f"{n} images but {len(titles)} titles")
    ncols = ncols or min(n, 6)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, img in enumerate(images):
        ax = axes.flat[i]
        ax.imshow(to_numpy_image(img), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_curves(
    curves: Mapping[str, Sequence[float]] | Mapping[str, tuple[Sequence[float], Sequence[float]]],
    xlabel: str = "",
    ylabel: str = "",
    title: str | None = None,
    logx: bool = False,
    logy: bool = False,
    ax=None,
    markers: bool = False,
):
    """Several named curves on one axis; values or ``(x, y)`` pairs. Returns the axis."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, values in curves.items():
        if isinstance(values, tuple) and len(values) == 2:
            x, y = values
        else:
            y = values
            x = np.arange(1, len(y) + 1)
        ax.plot(np.asarray(x), np.asarray(y, dtype=float), marker="o" if markers else None, ms=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def format_table(rows: Sequence[Sequence], header: Sequence[str], floatfmt: str = ".2f") -> str:
    """A plain-text table (for printing numbers that nbval compares).

    Parameters
    ----------
    rows : sequence of rows; floats are formatted with ``floatfmt``
    header : column names
    """
    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return format(float(v), floatfmt)
        return str(v)

    cells = [[str(h) for h in header]] + [[fmt(v) for v in r] for r in rows]
    for r in cells:
        if len(r) != len(header):
            raise ValueError(f"row {r} has {len(r)} cells, header has {len(header)}")
    widths = [max(len(r[j]) for r in cells) for j in range(len(header))]
    lines = ["  ".join(c.rjust(wd) if k else c.ljust(wd) for k, (c, wd) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * wd for wd in widths))
    return "\n".join(lines)
