"""Progress of a loop, shown to fit where it is shown, and whether that place is live.

* :func:`is_live` - a person can move sliders here: a kernel with a widget frontend, not
  the book's batch execution (``MBDL_STATIC_WIDGETS=1``);
* :func:`progress_bar` - ``tqdm``'s widget bar in a live notebook, its text bar in a
  terminal, and one line of text (:class:`TextProgress`) on a batch-executed page, where a
  widget would be stored as an empty box.

A core module: :mod:`mbdl_teach.training`, the samplers and :mod:`mbdl_teach.widgets` use it.
"""

from __future__ import annotations

import os
import sys
import time

ENV_STATIC = "MBDL_STATIC_WIDGETS"


def _static_forced() -> bool:
    return os.environ.get(ENV_STATIC, "").strip().lower() in ("1", "true", "yes")


def _colab_can_render(major: int) -> bool:
    """Colab's frontend renders ipywidgets 7 by itself; 8.x needs its custom manager."""
    if major < 8:
        return True
    try:
        from google.colab import output  # type: ignore[import-not-found]

        output.enable_custom_widget_manager()
    except Exception:  # an old or unusual Colab: fall back to the static grid
        return False
    return True


def _in_kernel() -> bool:
    """True inside an IPython kernel (a notebook, nbconvert, nbval), not a terminal."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def is_live() -> bool:
    """True when a person can move sliders: a kernel with a widget frontend, not batch.

    False under ``MBDL_STATIC_WIDGETS=1``, without an IPython kernel, without ipywidgets
    (or with a version this module does not know, outside 7.x and 8.x), and on Colab with
    ipywidgets 8.x when its custom widget manager cannot be enabled.
    """
    if _static_forced():
        return False
    if not _in_kernel():
        return False
    try:
        import ipywidgets
    except ImportError:
        return False
    try:
        major = int(str(ipywidgets.__version__).split(".")[0])
    except ValueError:
        return False
    if major not in (7, 8):
        return False
    if "google.colab" in sys.modules:
        return _colab_can_render(major)
    return True


class TextProgress:
    """A progress bar for a page that cannot show a live one: one line of text at the end.

    The book's pages are executed in batch (``MBDL_STATIC_WIDGETS=1``), where a widget bar
    would be stored as an empty box; this prints ``"<desc>: <n>/<total> in <s> s, <postfix>"``
    once, when the loop closes. It has the part of ``tqdm``'s interface the package uses:
    ``update``, ``set_postfix``, ``close`` and iteration over ``iterable``.
    """

    def __init__(self, iterable=None, total: int | None = None, desc: str = "",
                 initial: int = 0, file=None):
        self.iterable, self.desc, self.n = iterable, desc, initial
        self.total = total if total is not None or iterable is None else len(iterable)
        self.postfix, self.file, self.closed = "", file, False
        self._t0 = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.n += 1
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        total = f"/{self.total}" if self.total is not None else ""
        line = f"{self.desc}: {self.n}{total} in {time.perf_counter() - self._t0:.0f} s"
        print(line + (f", {self.postfix}" if self.postfix else ""),
              file=self.file or sys.stdout, flush=True)


def progress_bar(iterable=None, total: int | None = None, desc: str = "", initial: int = 0):
    """A progress bar that fits where it is shown.

    A live notebook (:func:`is_live`): ``tqdm``'s widget bar. A kernel that cannot show
    widgets, or the book's batch execution (``MBDL_STATIC_WIDGETS=1``): :class:`TextProgress`,
    one line of text when the loop ends. A script or a terminal: ``tqdm``'s text bar.
    The bar is removed when it closes (``leave=False``) except for the one line of text.
    """
    live = is_live()  # once: on Colab it enables the widget manager
    if not live and _in_kernel():
        return TextProgress(iterable, total=total, desc=desc, initial=initial)
    if live:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm(iterable, total=total, desc=desc, initial=initial, leave=False)
