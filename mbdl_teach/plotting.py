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
    ax.legend()
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


def _diagram_box(ax, x: float, y: float, text: str, color: str, width: float, fontsize: float) -> None:
    ax.add_patch(plt.Rectangle((x - width / 2, y - 0.36), width, 0.72, fc=color, ec="k", lw=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _diagram_arrow(ax, a, b) -> None:
    ax.annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle="->", lw=1))


def plot_winnet_diagram(detail_channels: int = 15, fontsize: float = 10, ax=None):
    """Block diagram of WINNet: split, lifting, LISTA on the details, inverse lifting, merge.

    Parameters
    ----------
    detail_channels : int
        Number of detail channels the LISTA denoises (15 for the 4x4 DCT split).
    fontsize : float
        Font size of every label, in points.
    ax : matplotlib axis, optional
        Draw there (default: a new 7.5 x 2.9 in figure, the book's width).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 2.9))
    w = 1.2  # box width, in the diagram's units
    row = [(0.0, "noisy $y$", "w"), (1.5, "DCT split\n(fixed)", "#dde"),
           (3.0, "lifting\n$\\times M$", "#cdf"), (6.6, "lifting$^{-1}$\n$\\times M$", "#cdf"),
           (8.1, "DCT\nmerge", "#dde"), (9.6, "$\\hat x$", "w")]
    for x, text, color in row:
        _diagram_box(ax, x, 0.5, text, color, w, fontsize)
    _diagram_box(ax, 4.8, 1.45, f"LISTA on the\n{detail_channels} details $d$", "#fdc", 1.8, fontsize)
    _diagram_box(ax, 4.8, -0.45, "coarse $c$\n(untouched)", "#eee", 1.8, fontsize)
    h = w / 2
    for x0, x1 in ((0.0, 1.5), (1.5, 3.0), (6.6, 8.1), (8.1, 9.6)):
        _diagram_arrow(ax, (x0 + h, 0.5), (x1 - h, 0.5))
    _diagram_arrow(ax, (3.0 + h, 0.7), (3.9, 1.45))
    _diagram_arrow(ax, (5.7, 1.45), (6.6 - h, 0.7))
    _diagram_arrow(ax, (3.0 + h, 0.3), (3.9, -0.45))
    _diagram_arrow(ax, (5.7, -0.45), (6.6 - h, 0.3))
    ax.text(3.72, 1.12, "$d$", ha="right", va="center", fontsize=fontsize)
    ax.text(3.72, -0.12, "$c$", ha="right", va="center", fontsize=fontsize)
    ax.text(4.8, -1.2, "every soft threshold: $t = \\mathrm{softplus}(\\theta)\\,\\sigma/50$\n"
            "(the lifting steps use $\\max(\\sigma, \\sigma_{\\mathrm{train}})$)",
            ha="center", va="center", fontsize=fontsize)
    ax.set_xlim(-0.7, 10.3)
    ax.set_ylim(-1.6, 2.0)
    ax.axis("off")
    ax.figure.tight_layout()
    return ax.figure


def plot_unrolled_graph(n_layers: int = 3, ax=None):
    """Draw LISTA unrolled: ``y -> W_e -> (+) -> S_theta -> x_k``, with ``S`` feeding back.

    Returns the matplotlib axis.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(2.4 * n_layers + 1.5, 2.4))
    box = dict(boxstyle="round,pad=0.3", fc="#e8f0fe", ec="#3367d6")
    arrow = dict(arrowstyle="->", color="0.3")
    ax.text(0.2, 2.0, "$y$", fontsize=13, ha="center", va="center")
    ax.annotate("", (0.2, 0.55), (0.2, 1.8), arrowprops=arrow)
    ax.plot([0.2, 2.4 * n_layers - 0.8], [0.5, 0.5], color="0.6", lw=1)
    for k in range(n_layers):
        x0 = 1.0 + 2.4 * k
        ax.text(x0, 0.5, "$W_e^{%d}$" % (k + 1), ha="center", va="center", bbox=box, fontsize=10)
        ax.text(x0 + 0.6, 1.2, "$+$", ha="center", va="center", fontsize=13,
                bbox=dict(boxstyle="circle,pad=0.1", fc="white", ec="0.3"))
        ax.text(x0 + 1.3, 1.2, r"$\mathcal{S}_{\theta_{%d}}$" % (k + 1), ha="center", va="center",
                bbox=dict(boxstyle="round,pad=0.3", fc="#fde8e8", ec="#c5221f"), fontsize=10)
        ax.annotate("", (x0 + 0.45, 1.1), (x0 + 0.15, 0.6), arrowprops=arrow)
        ax.annotate("", (x0 + 1.0, 1.2), (x0 + 0.75, 1.2), arrowprops=arrow)
        ax.text(x0 + 1.95, 1.2, "$x_{%d}$" % (k + 1), ha="center", va="center", fontsize=11)
        ax.annotate("", (x0 + 1.75, 1.2), (x0 + 1.6, 1.2), arrowprops=arrow)
        if k:
            ax.text(x0 - 0.3, 2.0, "$S^{%d}$" % (k + 1), ha="center", va="center", bbox=box, fontsize=10)
            ax.annotate("", (x0 - 0.1, 2.0), (x0 - 0.45, 1.35), arrowprops=arrow)
            ax.annotate("", (x0 + 0.5, 1.35), (x0 + 0.0, 1.95), arrowprops=arrow)
    ax.set_xlim(-0.2, 2.4 * n_layers + 0.6)
    ax.set_ylim(0.1, 2.4)
    ax.axis("off")
    ax.set_title("LISTA: %d unrolled ISTA iterations with learned $W_e^k, S^k, \\theta_k$" % n_layers,
                 fontsize=10)
    return ax


def label_peaks(ax, positions, heights, names, min_gap: float, step: float = 10.0,
                fontsize: float = 8, **kw) -> list:
    """Name peaks of a curve without letting neighbouring names overlap.

    Each name sits just above its point ``(position, height)``; a name closer than
    ``min_gap`` (in data units along x) to the previous one, left to right, is lifted by
    ``step`` points more than it, above the highest peak of its cluster so far, so a
    cluster of close peaks reads as a small staircase.

    Parameters
    ----------
    ax : matplotlib Axes
    positions, heights : sequences of float, length n
        Where each peak is (data coordinates).
    names : sequence of str, length n
    min_gap : float
        Closer than this along x, two names would overlap at ``fontsize``.
    step : float
        The lift per crowded neighbour, in points.

    Returns
    -------
    list of the annotations, left to right.
    """
    if not len(positions) == len(heights) == len(names):
        raise ValueError(f"positions, heights and names must have one length, got "
                         f"{len(positions)}, {len(heights)} and {len(names)}")
    out, prev, lift, top = [], None, 0.0, None
    for x, y, name in sorted(zip(positions, heights, names), key=lambda t: t[0]):
        crowded = prev is not None and x - prev < min_gap
        lift = lift + step if crowded else 0.0
        top = max(top, y) if crowded else y  # a crowded name stands above the highest so far
        prev = x
        out.append(ax.annotate(name, (x, top), xytext=(0, 3 + lift), textcoords="offset points",
                               ha="center", fontsize=fontsize, **kw))
    return out
