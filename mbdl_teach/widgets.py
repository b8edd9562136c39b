"""Interactive controls with a static fallback for the book.

In a live Jupyter or Colab session :func:`interact` shows ipywidgets sliders (ipywidgets
7.x, which Colab ships, or 8.x). Wherever no widget frontend can show them it draws a
static grid of the function's output at a few settings instead, so the page shows a figure
and the outputs stay deterministic:

* the environment variable ``MBDL_STATIC_WIDGETS=1`` (batch execution: the book's stored
  outputs, ``pytest --nbval``, nbclient);
* no IPython kernel (a script, a terminal IPython) or ipywidgets not installed;
* Colab with ipywidgets 8.x when its custom widget manager, which 8.x needs there, cannot
  be enabled (Colab renders 7.x with its built-in manager).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt

from .progress import ENV_STATIC, TextProgress, is_live, progress_bar  # noqa: F401


def interact(
    fn: Callable[..., Any],
    static: Sequence[float] | None = None,
    live: bool | None = None,
    size: float = 3.0,
    **slider: tuple[float, float, float] | tuple[float, float, float, float],
):
    """Show ``fn`` with one slider, live or as a static grid.

    Parameters
    ----------
    fn : callable
        ``fn(ax, value)`` draws on the matplotlib axis ``ax`` for the slider's value.
    static : sequence of float, optional
        Values shown in the static grid (default: 4 evenly spaced in the range).
    live : bool, optional
        Force live (True) or static (False); default :func:`is_live`.
    size : float
        Inches per panel.
    **slider : (min, max, step) or (min, max, step, initial)
        Exactly one keyword: the parameter's name and range.

    Returns
    -------
    The ipywidgets ``interactive`` object (live) or the matplotlib figure (static); both
    are already displayed, so assign the result (``_ = interact(...)``).
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if len(slider) != 1:
        raise ValueError(f"give exactly one slider as name=(min, max, step), got {list(slider)}")
    (name, spec), = slider.items()
    if len(spec) not in (3, 4) or not spec[0] < spec[1] or spec[2] <= 0:
        raise ValueError(f"slider {name} must be (min, max, step[, initial]) with min < max, step > 0")
    lo, hi, step = (float(v) for v in spec[:3])
    init = float(spec[3]) if len(spec) == 4 else (lo + hi) / 2
    live = is_live() if live is None else live
    if live:
        import ipywidgets as widgets

        control = widgets.FloatSlider(value=init, min=lo, max=hi, step=step, description=name,
                                      continuous_update=False)

        def draw(**kw):
            fig, ax = plt.subplots(figsize=(size * 1.3, size * 1.3))
            fn(ax, kw[name])
            plt.show()

        ui = widgets.interactive(draw, **{name: control})
        from IPython.display import display

        display(ui)
        return ui
    values = list(static) if static is not None else [lo + (hi - lo) * k / 3 for k in range(4)]
    fig, axes = plt.subplots(1, len(values), figsize=(size * len(values), size), squeeze=False)
    for ax, v in zip(axes.flat, values):
        fn(ax, v)
        ax.set_xlabel(f"{name} = {v:g}", fontsize=9)
    fig.tight_layout()
    plt.show()
    return fig
