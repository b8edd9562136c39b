"""How each shipped model of the course is made, and the command line that runs it.

One registry, :data:`RECIPES`: a name -> :class:`Recipe`, the record of how to train the
model (``train(profile, out=None, n_steps=None, progress=True, milestones=None,
checkpoint=None) -> dict``, resumable: running the same command again continues from the
checkpoint, and a larger ``--steps`` trains further) and how to ship it (``export(profile,
checkpoint, milestones) -> manifest entry``: the weights file and the manifest entry, with
the config, profile, schedule and data that were actually trained)::

    python -m mbdl_teach.recipes --list
    python -m mbdl_teach.recipes dncnn --profile quick --out runs/dncnn.pt
    python -m mbdl_teach.recipes dncnn --profile quick --steps 9000 --export
    python -m mbdl_teach.recipes xray_ascent_method --export
    torchrun --nproc-per-node 4 -m mbdl_teach.recipes winnet --profile full   # several GPUs

Every shipped model of ``mbdl_teach/weights/manifest.json`` has a recipe here that rebuilds
it. This package sits above the models (it imports them; none of them imports it).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from ..training import init_distributed
from .denoisers import (DENOISER_SIZES, export_denoiser, train_denoiser, validation_psnr)
from .diffusion import DIFFUSION_SIZES, export_diffusion, train_diffusion
from .inn import INN_SIZES, export_inn, train_inn
from .lfm import LFM_SIZES, export_lfm, train_lfm
from .lista import LISTA_SIZES, train_lista
from .xray import (XRAY_MODELS, export_xray, export_xray_pretrained, train_xray,
                   train_xray_pretrained)
from .xrf import XRF_MODELS, export_xrf, train_xrf

__all__ = ["Recipe", "RECIPES", "register_recipe", "get_recipe", "shipped", "main",
           "DENOISER_SIZES", "LISTA_SIZES", "DIFFUSION_SIZES", "INN_SIZES", "LFM_SIZES",
           "XRAY_MODELS", "train_denoiser", "export_denoiser", "validation_psnr",
           "train_lista", "train_diffusion", "export_diffusion", "train_inn", "export_inn",
           "train_lfm", "export_lfm", "train_xray", "export_xray"]


@dataclass(frozen=True)
class Recipe:
    """How one model is made.

    Attributes
    ----------
    train : callable
        ``train(profile, out=None, n_steps=None, progress=True, milestones=None,
        checkpoint=None) -> dict``.
    export : callable or None
        ``export(profile, checkpoint, milestones) -> manifest entry``; None for a recipe
        that trains but ships nothing.
    """

    train: Callable[..., dict]
    export: Callable[..., dict] | None = None

    def __call__(self, *args, **kwargs) -> dict:
        return self.train(*args, **kwargs)


def _named(fn: Callable, name: str) -> Callable:
    """``fn(name, ...)`` as ``f(...)``: a recipe family's member."""
    def member(*args, **kwargs):
        return fn(name, *args, **kwargs)

    member.__name__ = f"{fn.__name__}[{name}]"
    member.__doc__ = fn.__doc__
    return member


#: name -> :class:`Recipe`: every model of the course, shipped or not.
RECIPES: dict[str, Recipe] = {
    "lista": Recipe(train_lista),
    "diffusion": Recipe(train_diffusion, export_diffusion),
    "xray_pretrained": Recipe(train_xray_pretrained, export_xray_pretrained),
}
for _sizes, _train, _export in ((DENOISER_SIZES, train_denoiser, export_denoiser),
                                (INN_SIZES, train_inn, export_inn),
                                (LFM_SIZES, train_lfm, export_lfm),
                                (XRAY_MODELS, train_xray, export_xray),
                                (XRF_MODELS, train_xrf, export_xrf)):
    RECIPES.update({n: Recipe(_named(_train, n), _named(_export, n)) for n in _sizes})


def register_recipe(name: str, train: Callable, export: Callable | None = None) -> None:
    """Register a recipe under ``name``: how to train it and, optionally, ship it."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a recipe name must be a non-empty string, got {name!r}")
    if not callable(train) or (export is not None and not callable(export)):
        raise TypeError(f"a recipe's train and export must be callable, got {train!r}, "
                        f"{export!r}")
    RECIPES[name] = Recipe(train, export)


def get_recipe(name: str) -> Recipe:
    """The recipe registered under ``name``; an unknown name lists the known ones."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


def shipped() -> list[str]:
    """The names of the recipes that ship a model (``--export``)."""
    return sorted(n for n, r in RECIPES.items() if r.export is not None)


def main(argv: Sequence[str] | None = None) -> dict | None:
    """Command line: ``python -m mbdl_teach.recipes NAME --profile quick|full ...``."""
    parser = argparse.ArgumentParser(prog="python -m mbdl_teach.recipes",
                                     description="Train one of the course's models.")
    parser.add_argument("model", nargs="?",
                        help=f"recipe name, one of: {', '.join(sorted(RECIPES))}")
    parser.add_argument("--list", action="store_true",
                        help="list the recipes (those marked 'ships' rebuild a shipped model)")
    parser.add_argument("--profile", choices=("quick", "full"), default="quick")
    parser.add_argument("--out", type=Path, default=None, help="where to save the weights")
    parser.add_argument("--steps", type=int, default=None,
                        help="total number of training steps (default: the recipe's)")
    parser.add_argument("--decay-at", type=int, nargs="+", default=None, metavar="STEP",
                        help="steps at which the learning rate is multiplied by 0.3 "
                             "(default: the recipe's)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="resumable checkpoint (default: checkpoints/NAME.resume.pt)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: a shared CPU trains best on one)")
    parser.add_argument("--export", action="store_true",
                        help="ship the result: weights file and manifest entry in the package")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.list:
        for name in sorted(RECIPES):
            print(f"{name:32s} {'ships' if RECIPES[name].export else 'trains only'}")
        return None
    if args.model is None:
        parser.error("name a recipe (or --list)")
    try:
        recipe = get_recipe(args.model)
    except ValueError as err:
        parser.error(str(err))
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    if args.export and recipe.export is None:
        parser.error(f"{args.model!r} ships nothing; --export ships {', '.join(shipped())}")
    torch.set_num_threads(args.threads)  # a program, not a library call: it may set this
    init_distributed()
    extra = {} if args.decay_at is None else {"milestones": args.decay_at}
    result = recipe.train(args.profile, out=args.out, n_steps=args.steps,
                          progress=not args.no_progress, checkpoint=args.checkpoint, **extra)
    if args.export:
        entry = recipe.export(args.profile, args.checkpoint, args.decay_at)
        print(f"{args.model}: exported {entry['file']} ({entry['bytes']} bytes, "
              f"sha256 {entry['sha256'][:12]}...)")
    return result
