"""Shipped model weights: the manifest, the sha256 check, and a registry of model kinds.

Models that take longer to train than a notebook may spend ship as small checkpoints in
``mbdl_teach/weights/`` with one ``manifest.json`` entry each: the file and its sha256, the
model's kind and configuration, the data, schedule and profile it was trained with, the wall
time and the command that rebuilds it. Loading checks the sha256 before
``torch.load(..., weights_only=True)``, so a corrupted or tampered file is refused with the
command that rebuilds it.

Each module registers the kinds of model it ships (``register_model("dncnn", DnCNN)`` and
``"winnet"`` in :mod:`mbdl_teach.denoisers`), with a check the tests run on every shipped
entry of that kind. The manifest names the module, so
:func:`load` imports it when the kind is not registered yet: this module imports none of
them.

Resume checkpoints (optimizer state, random states) are not package data: they live in the
repository's ``checkpoints/`` folder, and the manifest's ``resume`` command works from a
clone (``python -m mbdl_teach.recipes NAME ...`` picks them up).
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

__all__ = [
    "WEIGHTS_DIR", "RESUME_DIR", "ModelKind", "register_model", "kinds", "kind_of",
    "read_manifest", "write_entry", "sha256", "load", "check", "export",
]

#: Folder of the shipped weights and their ``manifest.json`` (package data).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: Where resume checkpoints live in a clone of the repository (not in the wheel).
RESUME_DIR = Path("checkpoints")


@dataclass(frozen=True)
class ModelKind:
    """A registered kind of model.

    Attributes
    ----------
    name : str
    builder : callable
        ``builder(**config) -> nn.Module``.
    module : str
        The module that registered it (the manifest records it, so :func:`load` can
        import it).
    check : callable or None
        ``check(model, info) -> None`` raising ``AssertionError`` when a shipped model of
        this kind does not do its job (the tests call it on every manifest entry).
    """

    name: str
    builder: Callable[..., nn.Module]
    module: str
    check: Callable[[nn.Module, dict], None] | None = None


_KINDS: dict[str, ModelKind] = {}


def register_model(kind: str, builder: Callable[..., nn.Module],
                   check: Callable[[nn.Module, dict], None] | None = None,
                   module: str | None = None) -> None:
    """Register a model kind: how to build it from its config, and how to check it.

    Parameters
    ----------
    kind : str
        The name the manifest uses (``"dncnn"``, ``"winnet"``, ...).
    builder : callable
        ``builder(**config) -> nn.Module``.
    check : callable, optional
        ``check(model, info)``; raises ``AssertionError`` when the model fails.
    module : str, optional
        Importable module that registers the kind (default: the builder's module).
    """
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"a model kind must be a non-empty string, got {kind!r}")
    if not callable(builder):
        raise TypeError(f"builder must be callable as builder(**config), got {type(builder).__name__}")
    if check is not None and not callable(check):
        raise TypeError(f"check must be callable as check(model, info), got {type(check).__name__}")
    _KINDS[kind] = ModelKind(kind, builder, module or builder.__module__, check)


def kinds() -> list[str]:
    """The registered model kinds."""
    return sorted(_KINDS)


def kind_of(info: dict) -> ModelKind:
    """The registered kind of a manifest entry (importing its module if needed).

    Raises
    ------
    ValueError
        The kind is not registered and its module does not register it.
    """
    kind = info.get("model")
    if kind not in _KINDS and info.get("module"):
        try:
            importlib.import_module(info["module"])
        except ImportError as err:
            raise ValueError(f"the model kind {kind!r} comes from module {info['module']!r}, "
                             f"which does not import ({err})") from None
    if kind not in _KINDS:
        raise ValueError(f"unknown model kind {kind!r} (registered: {', '.join(kinds()) or 'none'}); "
                         "the module that defines it must call weights.register_model"
                         f"({kind!r}, builder) before it is loaded")
    return _KINDS[kind]


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(path: str | Path | None = None) -> dict:
    """The manifest ``{name: entry}`` (empty when there is none)."""
    path = Path(path) if path is not None else WEIGHTS_DIR / "manifest.json"
    if path.is_dir():
        path = path / "manifest.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def write_entry(name: str, entry: dict, directory: str | Path | None = None) -> None:
    """Add or replace one manifest entry (the file is sorted and indented for review)."""
    directory = Path(directory) if directory is not None else WEIGHTS_DIR
    manifest = read_manifest(directory)
    manifest[name] = entry
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _rebuild(name: str, info: dict) -> str:
    return info.get("command", f"python -m mbdl_teach.recipes {name}")


def load(name: str, device: str | torch.device | None = None,
         directory: str | Path | None = None) -> tuple[nn.Module, dict]:
    """Build a shipped model and load its weights, checking the sha256 first.

    Parameters
    ----------
    name : str
        A key of the manifest (``"dncnn"``, ``"winnet"``, ``"dncnn50"``, ...).
    device : str or torch.device, optional
        Where the model goes (default: the CPU).
    directory : path, optional
        Folder holding ``manifest.json`` and the weight files (default: the package's).

    Returns
    -------
    model : nn.Module
        In eval mode, on ``device``.
    info : dict
        The manifest entry.

    Raises
    ------
    ValueError
        Unknown name (the message lists the manifest), unknown kind, or a corrupted file
        (the message names the command that rebuilds it).
    FileNotFoundError
        A missing file (the message names the command that rebuilds it).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    directory = Path(directory) if directory is not None else WEIGHTS_DIR
    manifest = read_manifest(directory)
    if name not in manifest:
        known = ", ".join(sorted(manifest)) or "none"
        raise ValueError(f"no shipped weights named {name!r}; the manifest lists: {known}")
    info = manifest[name]
    path = directory / info["file"]
    if not path.is_file():
        raise FileNotFoundError(f"the weights file {info['file']} for {name!r} is missing; "
                                f"rebuild it with: {_rebuild(name, info)}")
    digest = sha256(path)
    if digest != info["sha256"]:
        raise ValueError(f"the weights file {info['file']} for {name!r} is corrupted (sha256 "
                         f"{digest[:12]}... but the manifest says {info['sha256'][:12]}...); "
                         f"restore it from git or rebuild it with: {_rebuild(name, info)}")
    kind = kind_of(info)
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = kind.builder(**info["config"])
    model.load_state_dict(state["state_dict"])
    return model.to(device or "cpu").eval(), info


def check(name: str, directory: str | Path | None = None) -> None:
    """Run the check its kind declares on a shipped model (``AssertionError`` on failure)."""
    model, info = load(name, directory=directory)
    kind = kind_of(info)
    if kind.check is None:
        raise ValueError(f"the model kind {kind.name!r} declares no check; give one to "
                         "weights.register_model")
    kind.check(model, info)


def export(name: str, checkpoint: str | Path, *, kind: str, config: dict, command: str,
           profile: str, schedule: str, data: dict, directory: str | Path | None = None,
           note: str | None = None, init: dict | None = None,
           extra: dict[str, Any] | None = None, half: bool = False) -> dict:
    """Ship a training checkpoint: the weights file and its manifest entry.

    Writes ``<directory>/<name>.pt`` (``{"state_dict", "config", "model"}``, loadable with
    ``weights_only=True``) from a checkpoint of :func:`mbdl_teach.training.save_checkpoint`
    (the EMA weights when the checkpoint holds them; stored as float16 when ``half``, which
    :func:`load` casts back to the model's float32), and records what was actually trained:
    kind, module, config, profile, schedule, data, steps, wall time, the final training
    loss, the command that rebuilds it and the command that resumes it from a clone.

    Returns
    -------
    dict
        The manifest entry.
    """
    from .training import load_checkpoint

    directory = Path(directory) if directory is not None else WEIGHTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    k = kind_of({"model": kind})
    state = load_checkpoint(checkpoint)
    weights = state.get("ema") or state["model"]
    model = k.builder(**config)
    model.load_state_dict(weights)  # the config really builds these weights
    steps, hist = int(state["step"]), state["history"]
    path = directory / f"{name}.pt"
    store = {key: (v.half() if half and v.is_floating_point() else v).contiguous()
             for key, v in weights.items()}
    torch.save({"state_dict": store,
                "config": config, "model": kind}, path)
    entry = {
        "file": path.name, "sha256": sha256(path), "bytes": path.stat().st_size,
        "model": kind, "module": k.module, "config": config, "profile": profile,
        "parameters": sum(v.numel() for v in weights.values()),
        "data": data, "optimizer": schedule, "init": init, "steps": steps,
        "ema": bool(state.get("ema")), "dtype": "float16" if half else "float32",
        "wall_seconds": round(float(hist["seconds"])),
        "command": command,
        "resume": f"{command} --steps <more than {steps}>  "
                  f"(continues from {RESUME_DIR / (name + '.resume.pt')} in a clone)",
        "final_train_loss_mean_100": (float(np.mean(hist["losses"][-100:]))
                                      if hist["losses"] else None),
    }
    if hist.get("val_values"):
        entry["validation"] = [hist["val_steps"][-1], round(hist["val_values"][-1], 2)]
    if note:
        entry["note"] = note
    if extra:
        entry.update(extra)
    write_entry(name, entry, directory)
    return entry
