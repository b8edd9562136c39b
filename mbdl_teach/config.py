"""Run configuration: device, profile (quick | full), seeding and determinism.

Every notebook starts with ``cfg = mbdl_teach.config.setup(seed=0)``. The profile decides
sizes and iteration counts: ``quick`` (small, CPU, minutes) is the default without CUDA and
the one the book's stored outputs come from; ``full`` (paper scale) is the default with
CUDA. The environment variable ``MBDL_PROFILE`` overrides both.

Smoke scale (``MBDL_SMOKE=1``, meant with ``MBDL_PROFILE=full``): the full profile's
branches, model shapes and loops, at sizes small enough to run a whole chapter on a CPU
in seconds. It checks that the full code paths run; its numbers are not the papers'. A
notebook names what to shrink with :meth:`Config.at_smoke` (in a hidden cell); a
:meth:`Config.pick` it does not cover falls back to the ``quick`` value. Data sets the
full profile downloads are replaced by stand-ins (``mbdl_teach.datasets``), labelled so.

:func:`setup` is the one place that sets global state (seeds, torch threads, deterministic
kernels, figure defaults); library functions never do. ``$MBDL_THREADS`` overrides the
thread count a notebook asks for, so the same notebook can be replayed with another one
(reductions then run in another order: a printed number that changes is not robust).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

PROFILES = ("quick", "full")
ENV_PROFILE = "MBDL_PROFILE"
ENV_SMOKE = "MBDL_SMOKE"
ENV_THREADS = "MBDL_THREADS"
#: Figure defaults: legible at the book's width (>= 100 dpi, text >= 9 pt).
FIGURE_DEFAULTS = {"figure.dpi": 110, "savefig.dpi": 110, "font.size": 10,
                   "axes.titlesize": 10, "axes.labelsize": 10, "xtick.labelsize": 9,
                   "ytick.labelsize": 9, "legend.fontsize": 9, "figure.titlesize": 11}
#: Rough wall time of the full profile per chapter on one recent GPU (what setup says).
FULL_PROFILE_NOTE = ("the full profile runs the papers' sizes: expect 10-60 minutes per "
                     "chapter on one GPU (the training chapters the longest)")


@dataclass(frozen=True)
class Config:
    """What :func:`setup` chose.

    Attributes
    ----------
    device : torch.device
        Where tensors and models go (``cuda`` when available, else ``cpu``).
    profile : str
        ``"quick"`` or ``"full"``.
    seed : int
        The seed given to Python, NumPy and torch.
    smoke : bool
        The full profile at smoke scale (``$MBDL_SMOKE``): full code paths, tiny sizes.
    smoke_sizes : tuple of (str, object) pairs
        What :meth:`at_smoke` named: the entries a smoke-scale :meth:`pick` replaces.
    """

    device: torch.device
    profile: str
    seed: int
    smoke: bool = False
    smoke_sizes: tuple = ()

    def __post_init__(self):
        if self.smoke and self.profile != "full":
            raise ValueError(f"smoke scale shrinks the full profile; got profile="
                             f"{self.profile!r} (use ${ENV_PROFILE}=full with ${ENV_SMOKE}=1)")

    @property
    def quick(self) -> bool:
        """True on the quick (CPU, minutes) profile."""
        return self.profile == "quick"

    def pick(self, quick: Any, full: Any, smoke: Any = None) -> Any:
        """Return ``quick`` or ``full`` according to the profile.

        Notebooks keep their sizes in one place with this:
        ``P = cfg.pick(quick=dict(size=128, iters=20), full=dict(size=512, iters=200))``.

        At smoke scale (:attr:`smoke`) the full value is returned with the entries that
        ``smoke`` and :meth:`at_smoke` name replaced (for dicts: ``full`` keeps its keys,
        so the full profile's model shapes and branches stay); a value that neither
        covers falls back to ``quick``, the CPU-sized one.

        Raises
        ------
        ValueError
            At smoke scale, a size named for a key that ``full`` does not have.
        """
        if not self.smoke:
            return quick if self.quick else full
        sizes = dict(self.smoke_sizes)
        if isinstance(full, dict):
            if isinstance(smoke, dict):
                unknown = sorted(set(smoke) - set(full))
                if unknown:
                    raise ValueError(f"smoke sizes {unknown} are not keys of the full "
                                     f"profile's {sorted(full)}")
                sizes.update(smoke)
            covered = {k: v for k, v in sizes.items() if k in full}
            if covered:
                return {**full, **covered}
        elif smoke is not None:
            return smoke
        return quick

    def at_smoke(self, **sizes: Any) -> "Config":
        """This configuration with the sizes a smoke-scale :meth:`pick` uses.

        ``cfg = cfg.at_smoke(size=64, n_steps=3)`` (a notebook's hidden cell, before its
        sizes are picked) changes nothing outside smoke scale; at smoke scale every
        ``cfg.pick(quick=dict(...), full=dict(...))`` whose full dict has one of these
        keys returns the full dict with them replaced.
        """
        return replace(self, smoke_sizes=tuple(dict(self.smoke_sizes, **sizes).items()))

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU ``torch.Generator`` seeded with ``seed + offset``."""
        return torch.Generator().manual_seed(self.seed + offset)


#: The prefix of the line :func:`headline` prints (``tools/course.py gpu-report`` reads it).
HEADLINE_PREFIX = "headline: "


def headline(**numbers: float | int | str) -> None:
    """Print a chapter's headline numbers as one line: ``headline: {"name": value, ...}``.

    A notebook calls it once, in a hidden cell near its end, with the numbers it already
    prints (rounded as it prints them), so ``python tools/course.py gpu-report`` can set
    a full-profile run beside the stored quick one.

    Raises
    ------
    TypeError
        A value that is not a number or a string.
    ValueError
        No numbers.
    """
    import json
    import math

    if not numbers:
        raise ValueError("headline() needs at least one number, e.g. headline(psnr=28.1)")
    for key, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise TypeError(f"headline {key!r}: a number or a string is expected, got "
                            f"{type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            numbers[key] = str(value)
    print(HEADLINE_PREFIX + json.dumps(numbers))


def resolve_profile(profile: str | None = None, cuda: bool | None = None) -> str:
    """Pick the profile: the argument, else ``$MBDL_PROFILE``, else by device.

    Raises
    ------
    ValueError
        If the requested profile is not one of ``PROFILES``.
    """
    if cuda is None:
        cuda = torch.cuda.is_available()
    source = "profile argument"
    if profile is None:
        profile = os.environ.get(ENV_PROFILE) or None
        source = f"${ENV_PROFILE}"
    if profile is None:
        return "full" if cuda else "quick"
    value = str(profile).strip().lower()
    if value not in PROFILES:
        raise ValueError(
            f"unknown profile {profile!r} (from the {source}); expected one of {PROFILES}"
        )
    return value


def resolve_smoke(profile: str) -> bool:
    """True when ``$MBDL_SMOKE`` asks for smoke scale (``1``/``true``/``yes``).

    Raises
    ------
    ValueError
        A value that is not a yes/no, or smoke scale asked for with a profile but ``full``.
    """
    value = os.environ.get(ENV_SMOKE, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value not in ("1", "true", "yes"):
        raise ValueError(f"${ENV_SMOKE} must be 1 or 0, got {value!r}")
    if profile != "full":
        raise ValueError(f"${ENV_SMOKE}=1 shrinks the full profile, but the profile is "
                         f"{profile!r}: set ${ENV_PROFILE}=full too")
    return True


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA)."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))


def make_deterministic() -> None:
    """Ask torch for deterministic kernels (warn, not fail, where none exists)."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    # Needed by cuBLAS for deterministic matmuls; harmless on the CPU.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def make_fast_on_gpu() -> None:
    """The full profile on CUDA: cuDNN autotuning and TF32 matmuls, as PyTorch users set
    them for training (bitwise replay is not promised on a GPU; the CPU is untouched)."""
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.deterministic = False
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def _figure_defaults() -> None:
    """Figures legible at the book's width (see :data:`FIGURE_DEFAULTS`)."""
    import matplotlib

    matplotlib.rcParams.update(FIGURE_DEFAULTS)


def resolve_threads(threads: int | None = None) -> int | None:
    """The torch thread count: ``$MBDL_THREADS``, else the argument, else None (keep).

    Raises
    ------
    ValueError
        A count that is not an integer >= 1.
    """
    env = os.environ.get(ENV_THREADS, "").strip()
    value, source = (env, f"${ENV_THREADS}") if env else (threads, "threads argument")
    if value is None:
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if isinstance(value, bool) or n < 1 or (not isinstance(value, str) and n != value):
        raise ValueError(f"the thread count must be an integer >= 1 (from the {source}), "
                         f"got {value!r}")
    return n


def setup(seed: int = 0, profile: str | None = None, threads: int | None = None,
          verbose: bool = True) -> Config:
    """Choose device and profile, seed everything, set threads, make torch deterministic.

    Parameters
    ----------
    seed : int
        Seed for Python, NumPy and torch.
    profile : {"quick", "full"}, optional
        Forces a profile; otherwise ``$MBDL_PROFILE``, otherwise ``full`` on CUDA and
        ``quick`` on the CPU. ``$MBDL_SMOKE=1`` runs the full profile at smoke scale.
    threads : int, optional
        torch CPU threads (small models run fastest on one thread of a shared CPU);
        ``$MBDL_THREADS`` wins over it. Default: torch's own choice.
    verbose : bool
        Print the choice (one line; on a GPU, a second line on the profile's cost).

    Returns
    -------
    Config

    Raises
    ------
    ValueError
        An unknown profile, a bad thread count, or ``$MBDL_SMOKE=1`` without the full
        profile.
    """
    cuda = torch.cuda.is_available()
    chosen = resolve_profile(profile, cuda)
    smoke = resolve_smoke(chosen)
    n_threads = resolve_threads(threads)
    device = torch.device("cuda" if cuda else "cpu")
    seed_everything(seed)
    make_deterministic()
    if cuda and chosen == "full":
        make_fast_on_gpu()
    if n_threads is not None:
        torch.set_num_threads(n_threads)
    cfg = Config(device=device, profile=chosen, seed=int(seed), smoke=smoke)
    _figure_defaults()
    if verbose:
        print(f"mbdl_teach: profile={cfg.profile}, device={cfg.device.type}, seed={cfg.seed}")
        if smoke:
            print("mbdl_teach: smoke scale: the full profile's code at tiny sizes (a check "
                  "that it runs; its numbers are not the papers')")
        if cuda:
            other = "quick" if chosen == "full" else "full"
            what = FULL_PROFILE_NOTE if chosen == "full" else "the quick profile takes minutes"
            print(f"mbdl_teach: on a GPU; {what}. For the {other} profile: "
                  f"config.setup(seed={seed}, profile=\"{other}\") or ${ENV_PROFILE}={other}")
    return cfg
