"""One interface for every denoiser of the course: ``denoiser(x, sigma) -> x_hat``.

Every denoiser takes a batch ``x`` of shape ``(B, C, H, W)`` (floats, images in [0, 1]) and
the noise standard deviation ``sigma`` on the same scale (``25 / 255``; a float, a ``(B,)``
tensor, or ``None`` for blind denoising where the denoiser supports it) and returns a
tensor of the same shape. Plug-and-play (chapter 05) and INDigo take any of them.

* :class:`WaveletDenoiser`: BayesShrink soft thresholding in an orthogonal wavelet basis
  (:func:`mbdl_teach.wavelets.denoise`), no learned parameter.
* :class:`BM3DDenoiser`: BM3D through the ``bm3d`` package when it is installed.
* :class:`DnCNN`: a small residual CNN (Zhang et al., IEEE TIP 2017) that predicts the
  noise; blind (it reads the noise level from the image itself, ``sigma`` is not used).
* WINNet (:class:`mbdl_teach.inn.WINNet`, Huang & Dragotti, IEEE TIP 2022): invertible
  wavelet-like network whose thresholds scale with ``sigma``.

:func:`load` returns a ready denoiser by name; the networks come with weights trained on
this machine's CPU (:mod:`mbdl_teach.weights`, checked against their sha256). The training
recipes live here too and are registered in :data:`mbdl_teach.training.RECIPES`::

    python -m mbdl_teach.training dncnn --profile quick --out runs/dncnn.pt
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from . import data, wavelets

#: Folder of the shipped weights and their ``manifest.json``.
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"
#: Names accepted by :func:`load`.
NAMES = ("wavelet", "bm3d", "dncnn", "winnet")


# ------------------------------------------------------------------ input checks
def _check_input(x, channels: int | None = None, multiple: int = 1) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"x must have shape (B, C, H, W), got {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"this denoiser expects {channels} channel(s), got x with "
                         f"{x.shape[1]} (shape {tuple(x.shape)})")
    if multiple > 1 and (x.shape[-2] % multiple or x.shape[-1] % multiple):
        raise ValueError(f"this denoiser needs H and W divisible by {multiple}, got "
                         f"{x.shape[-2]}x{x.shape[-1]}; crop or pad the image")


def _check_sigma(sigma, batch: int, allow_none: bool = True) -> torch.Tensor | None:
    """``sigma`` as a float64 ``(B,)`` tensor (or ``None``); negative or NaN -> ValueError."""
    if sigma is None:
        if not allow_none:
            raise ValueError("this denoiser needs the noise level sigma (got None)")
        return None
    if isinstance(sigma, torch.Tensor):
        s = sigma.detach().to("cpu", torch.float64).reshape(-1)
        if s.numel() == 1:
            s = s.expand(batch)
        if s.numel() != batch:
            raise ValueError(f"sigma must be a float or a tensor of shape ({batch},), got "
                             f"shape {tuple(sigma.shape)}")
    elif isinstance(sigma, (int, float, np.floating, np.integer)) and not isinstance(sigma, bool):
        s = torch.full((batch,), float(sigma), dtype=torch.float64)
    else:
        raise TypeError(f"sigma must be a float, a (B,) tensor or None, got {type(sigma).__name__}")
    if not torch.isfinite(s).all() or (s < 0).any():
        raise ValueError(f"sigma must be finite and >= 0 (on the [0, 1] scale, e.g. 25/255), "
                         f"got {s.tolist()}")
    return s


# ------------------------------------------------------------------ the interface
class Denoiser:
    """Base class: ``denoiser(x, sigma) -> x_hat`` on ``(B, C, H, W)`` tensors.

    Subclasses implement :meth:`_denoise` (inputs already checked); :meth:`__call__`
    checks ``x`` and ``sigma`` and runs without gradients.

    Attributes
    ----------
    name : str
    channels : int or None
        Channel count the denoiser accepts (``None``: any).
    blind : bool
        Whether ``sigma=None`` is accepted.
    """

    name: str = "denoiser"
    channels: int | None = None
    blind: bool = False
    multiple: int = 1

    def __call__(self, x: torch.Tensor, sigma: float | torch.Tensor | None = None) -> torch.Tensor:
        """Denoise ``x`` of shape (B, C, H, W) at noise level ``sigma`` -> (B, C, H, W)."""
        _check_input(x, self.channels, self.multiple)
        s = _check_sigma(sigma, x.shape[0], allow_none=self.blind)
        with torch.no_grad():
            out = self._denoise(x, s)
        return out.to(dtype=x.dtype, device=x.device)

    def _denoise(self, x: torch.Tensor, sigma: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def num_parameters(self) -> int:
        """Number of learned parameters (0 for classical denoisers)."""
        return 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, parameters={self.num_parameters()})"


class WaveletDenoiser(Denoiser):
    """BayesShrink soft thresholding (:func:`mbdl_teach.wavelets.denoise`), per plane.

    Parameters
    ----------
    wavelet : str
        Orthogonal wavelet (default ``"db4"``).
    rule : {"bayes", "sure", "universal"}
    """

    blind = True

    def __init__(self, wavelet: str = "db4", rule: str = "bayes"):
        wavelets._check_wavelet(wavelet)
        wavelets._check_rule_mode(rule, "soft")
        self.wavelet, self.rule, self.name = wavelet, rule, "wavelet"

    def _denoise(self, x, sigma):
        out = torch.empty_like(x)
        for b in range(x.shape[0]):
            s = None if sigma is None else float(sigma[b])
            out[b] = wavelets.denoise(x[b], s, wavelet=self.wavelet, rule=self.rule)
        return out


def bm3d_available() -> tuple[bool, str]:
    """``(True, version)`` when the ``bm3d`` package imports, else ``(False, reason)``."""
    try:
        import bm3d  # noqa: F401
    except Exception as err:  # pragma: no cover - depends on the environment
        return False, f"the bm3d package is not available ({type(err).__name__}: {err}); pip install bm3d"
    from importlib.metadata import version

    return True, version("bm3d")


class BM3DDenoiser(Denoiser):
    """BM3D (Dabov et al., IEEE TIP 2007) through the ``bm3d`` package, per plane.

    Blind calls estimate sigma with :func:`mbdl_teach.wavelets.estimate_sigma`.
    """

    blind = True

    def __init__(self):
        ok, msg = bm3d_available()
        if not ok:
            raise ImportError(msg)
        self.name = "bm3d"

    def _denoise(self, x, sigma):
        import bm3d

        arr = x.detach().cpu().double().numpy()
        out = np.empty_like(arr)
        for b in range(arr.shape[0]):
            for c in range(arr.shape[1]):
                s = wavelets.estimate_sigma(arr[b, c]) if sigma is None else float(sigma[b])
                out[b, c] = arr[b, c] if s == 0 else bm3d.bm3d(arr[b, c], sigma_psd=s)
        return torch.from_numpy(out)


class NetworkDenoiser(Denoiser):
    """Wrap a trained ``nn.Module`` (DnCNN or WINNet) in the common interface.

    Parameters
    ----------
    model : nn.Module
        ``model(x)`` (when ``uses_sigma`` is False) or ``model(x, sigma)``; a model with a
        ``denoise(y, sigma=None)`` method is used for blind calls.
    name : str
    channels : int
    uses_sigma : bool
    multiple : int
        H and W must be multiples of this.
    info : dict, optional
        Manifest entry of the weights (steps, training time, data).
    """

    def __init__(self, model: nn.Module, name: str, channels: int, uses_sigma: bool,
                 multiple: int = 1, info: dict | None = None):
        self.model = model.eval()
        self.name, self.channels, self.uses_sigma, self.multiple = name, channels, uses_sigma, multiple
        self.blind = (not uses_sigma) or hasattr(model, "denoise")
        self.info = info or {}

    def _denoise(self, x, sigma):
        p = next(self.model.parameters())
        xin = x.to(p.device, p.dtype)
        if not self.uses_sigma:
            return self.model(xin)
        if sigma is None:
            return self.model.denoise(xin, None)
        return self.model(xin, sigma.to(p.device, p.dtype))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


# ------------------------------------------------------------------ DnCNN
class DnCNN(nn.Module):
    """Small DnCNN: ``x_hat = y - R(y)`` with ``R`` a plain CNN that predicts the noise.

    Zhang, Zuo, Chen, Meng & Zhang, "Beyond a Gaussian denoiser: residual learning of deep
    CNN for image denoising", IEEE TIP 2017. The first layer is conv + ReLU, the middle
    ``depth - 2`` layers conv + ReLU (no batch normalisation here: with Adam and small
    batches it trains as fast without it and behaves the same in train and eval mode), the
    last layer a conv back to ``channels`` without activation. All convolutions are 3x3
    with zero padding, so any image size works.

    Parameters
    ----------
    channels : int
        Image channels (1 for gray).
    depth : int
        Number of convolution layers (>= 2; the paper uses 17 or 20).
    features : int
        Width of the hidden layers (the paper uses 64).
    """

    def __init__(self, channels: int = 1, depth: int = 15, features: int = 32):
        super().__init__()
        for n, v, lo in (("channels", channels, 1), ("depth", depth, 2), ("features", features, 1)):
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ValueError(f"{n} must be an integer >= {lo}, got {v!r}")
        self.config = dict(channels=channels, depth=depth, features=features)
        layers: list[nn.Module] = [nn.Conv2d(channels, features, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(features, features, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(features, channels, 3, padding=1))
        self.body = nn.Sequential(*layers)
        for m in self.body:  # He initialisation: without batch norm, PyTorch's default
            if isinstance(m, nn.Conv2d):  # init shrinks the signal ~6x per layer
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def residual(self, y: torch.Tensor) -> torch.Tensor:
        """The predicted noise ``R(y)``, shape (B, C, H, W)."""
        _check_input(y, self.config["channels"])
        return self.body(y)

    def forward(self, y: torch.Tensor, sigma: Any = None) -> torch.Tensor:
        """Denoised ``y - R(y)``; ``sigma`` is accepted and ignored (DnCNN is blind)."""
        return y - self.residual(y)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


# ------------------------------------------------------------------ shipped weights
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(path: str | Path | None = None) -> dict:
    """The weights manifest: ``{name: {file, sha256, bytes, model, config, ...}}``."""
    path = Path(path) if path is not None else MANIFEST
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def _build_model(kind: str, config: dict) -> nn.Module:
    if kind == "dncnn":
        return DnCNN(**config)
    if kind == "winnet":
        from . import inn

        return inn.WINNet(**config)
    raise ValueError(f"unknown model kind {kind!r} in the manifest (expected 'dncnn' or 'winnet')")


def load_weights(name: str, directory: str | Path | None = None) -> tuple[nn.Module, dict]:
    """Build a shipped network and load its weights, checking the sha256 first.

    Parameters
    ----------
    name : str
        A key of the manifest (e.g. ``"dncnn"``, ``"winnet"``, ``"dncnn50"``).
    directory : path, optional
        Folder holding ``manifest.json`` and the weight files (default: the package's).

    Returns
    -------
    model : nn.Module (eval mode, on the CPU)
    info : dict
        The manifest entry.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing or corrupted file (the message names the command that rebuilds it), or an
        unknown name.
    """
    directory = Path(directory) if directory is not None else WEIGHTS_DIR
    manifest = read_manifest(directory / "manifest.json")
    if name not in manifest:
        known = ", ".join(sorted(manifest)) or "none"
        raise ValueError(f"no shipped weights named {name!r}; the manifest lists: {known}")
    info = manifest[name]
    path = directory / info["file"]
    rebuild = info.get("rebuild", info.get("command", f"python -m mbdl_teach.training {name}"))
    if not path.is_file():
        raise FileNotFoundError(f"the weights file {info['file']} for {name!r} is missing; "
                                f"rebuild it with: {rebuild}")
    digest = _sha256(path)
    if digest != info["sha256"]:
        raise ValueError(f"the weights file {info['file']} for {name!r} is corrupted (sha256 "
                         f"{digest[:12]}... but the manifest says {info['sha256'][:12]}...); "
                         f"restore it from git or rebuild it with: {rebuild}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = _build_model(info["model"], info["config"])
    model.load_state_dict(state["state_dict"])
    return model.eval(), info


def load(name: str, **kwargs) -> Denoiser:
    """A ready denoiser by name.

    Parameters
    ----------
    name : str
        ``"wavelet"`` (BayesShrink, db4), ``"bm3d"``, ``"dncnn"`` or ``"winnet"`` (shipped
        weights, trained on sigma uniform in [0, 25]/255), or any other manifest key such as
        ``"dncnn50"`` / ``"winnet50"`` (trained at sigma 50/255 only).
    **kwargs
        Passed to :class:`WaveletDenoiser` for ``"wavelet"``.

    Returns
    -------
    Denoiser
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if name == "wavelet":
        return WaveletDenoiser(**kwargs)
    if name == "bm3d":
        return BM3DDenoiser()
    model, info = load_weights(name)
    if info["model"] == "dncnn":
        return NetworkDenoiser(model, name, model.config["channels"], uses_sigma=False, info=info)
    return NetworkDenoiser(model, name, info["config"].get("in_channels", 1), uses_sigma=True,
                           multiple=int(info.get("multiple", 1)), info=info)


# ------------------------------------------------------------------ training recipes
#: Sizes of the training recipes (patches of ``data.TRAIN_IMAGES``, 8 flips/rotations).
RECIPE_SIZES: dict[str, dict[str, dict]] = {
    "dncnn": dict(
        quick=dict(model="dncnn", config=dict(channels=1, depth=15, features=32), patch=40,
                   batch=32, steps=7000, lr=1e-3, sigma=(0.0, 25.0)),
        full=dict(model="dncnn", config=dict(channels=1, depth=17, features=64), patch=40,
                  batch=64, steps=100000, lr=1e-3, sigma=(0.0, 25.0)),
    ),
    "winnet": dict(
        quick=dict(model="winnet", config=dict(in_channels=1, levels=1, steps=2, hidden=16, blocks=1,
                                               lista_iters=4, lista_channels=32,
                                               sigma_train_max=25 / 255),
                   patch=32, batch=16, steps=4000, lr=1e-3, sigma=(0.0, 25.0)),
        full=dict(model="winnet", config=dict(in_channels=1, levels=1, steps=4, hidden=32, blocks=4,
                                              lista_iters=4, lista_channels=64,
                                              sigma_train_max=25 / 255),
                  patch=40, batch=32, steps=100000, lr=1e-3, sigma=(0.0, 25.0)),
    ),
}
# The sigma-50 models (the non-blind optimum at 50, for the generalisation gap of chapter
# 04) start from the shipped sigma-[0, 25] weights ("init") and are fine-tuned at 50 only:
# on this CPU there is no time to train them from scratch.
_FINETUNE_STEPS = {"dncnn": dict(quick=500, full=20000), "winnet": dict(quick=1000, full=20000)}
for _base in ("dncnn", "winnet"):
    RECIPE_SIZES[_base + "50"] = {
        p: dict(s, sigma=(50.0, 50.0), init=_base, steps=_FINETUNE_STEPS[_base][p], lr=5e-4,
                config=dict(s["config"], **({"sigma_train_max": 50 / 255} if _base == "winnet" else {})))
        for p, s in RECIPE_SIZES[_base].items()
    }


def _train_images() -> list[torch.Tensor]:
    return [data.load_image(n) for n in data.TRAIN_IMAGES]


def _augment(p: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    k = int(torch.randint(4, (1,), generator=g))
    p = torch.rot90(p, k, dims=(-2, -1))
    return p.flip(-1) if int(torch.randint(2, (1,), generator=g)) else p


def make_batches(images: list[torch.Tensor], patch: int, batch: int,
                 sigma: tuple[float, float]) -> Callable:
    """``batches(step, g) -> (clean, noisy, sigma)``: random patches, sigma uniform (in /255).

    Returns
    -------
    callable
        ``clean, noisy`` of shape (batch, C, patch, patch), ``sigma`` of shape (batch,) on
        the [0, 1] scale.
    """
    lo, hi = float(sigma[0]) / 255, float(sigma[1]) / 255

    def batches(step: int, g: torch.Generator):
        clean = _augment(data.random_patches(images, batch, patch, generator=g), g)
        s = lo + (hi - lo) * torch.rand(batch, generator=g)
        noisy = clean + s.view(-1, 1, 1, 1) * torch.randn(clean.shape, generator=g)
        return clean, noisy, s

    return batches


def _loss(model: nn.Module, batch) -> torch.Tensor:
    clean, noisy, sigma = batch
    if hasattr(model, "loss"):
        return model.loss(clean, noisy, sigma)
    return torch.mean((model(noisy) - clean) ** 2)


def _val_images() -> torch.Tensor:
    # two training images (tuning happens on TRAIN_IMAGES only), fixed noise at sigma 25
    x = torch.stack([data.load_image(n)[:, 64:192, 64:192] for n in ("aero", "clock")])
    return x


def validation_psnr(model: nn.Module, sigma: float = 25.0) -> float:
    """Mean PSNR (dB) of ``model`` on two fixed training crops at ``sigma`` (/255)."""
    from .metrics import psnr

    x = _val_images()
    y = data.add_gaussian_noise(x, sigma / 255, generator=torch.Generator().manual_seed(7))
    s = torch.full((x.shape[0],), sigma / 255)
    out = model(y, s) if not isinstance(model, DnCNN) else model(y)
    return float(psnr(out.clamp(0, 1), x).mean())


def _check_milestones(milestones, steps: int) -> list[int]:
    """The learning-rate decay steps: the default 80% of ``steps``, or checked integers."""
    if milestones is None:
        return [int(0.8 * steps)]
    out = [int(m) for m in milestones]
    if not out or any(m != v for m, v in zip(out, milestones)) or any(not 0 < m <= steps for m in out):
        raise ValueError(f"milestones must be steps in 1..{steps}, got {list(milestones)!r}")
    return sorted(out)


def train_recipe(name: str, profile: str = "quick", out: str | Path | None = None,
                 steps: int | None = None, progress: bool = True,
                 milestones: Sequence[int] | None = None) -> dict:
    """Train one of :data:`RECIPE_SIZES` with :func:`mbdl_teach.training.fit`.

    The resumable checkpoint is ``<out>.resume.pt`` next to ``out`` (or
    ``runs/<name>.resume.pt``): running the same command again continues from it, and a
    larger ``steps`` trains further (a pending learning-rate decay moves with it). The
    weights ``{"state_dict", "config", ...}`` go to ``out``. ``milestones`` (steps at which
    the learning rate is multiplied by 0.3) replaces the default, 80% of ``steps``.
    """
    from .training import fit

    if name not in RECIPE_SIZES:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPE_SIZES))}")
    if profile not in RECIPE_SIZES[name]:
        raise ValueError(f"profile must be one of {sorted(RECIPE_SIZES[name])}, got {profile!r}")
    s = dict(RECIPE_SIZES[name][profile])
    if steps is not None:
        s["steps"] = int(steps)
    milestones = _check_milestones(milestones, s["steps"])
    out = Path(out) if out is not None else Path("runs") / f"{name}.pt"
    ckpt = out.with_name(out.stem + ".resume.pt")
    torch.set_num_threads(1)  # the course's CPU is shared: one thread per training
    torch.manual_seed(0)
    model = _build_model(s["model"], s["config"])
    if s.get("init") and not ckpt.is_file():  # fine-tuning starts from shipped weights
        model.load_state_dict(load_weights(s["init"])[0].state_dict())
        print(f"{name}: starting from the shipped {s['init']!r} weights")
    batches = make_batches(_train_images(), s["patch"], s["batch"], s["sigma"])
    if s["model"] == "winnet":  # depthwise convolutions run ~1.7x faster channels-last on CPU
        model = model.to(memory_format=torch.channels_last)
        plain = batches
        batches = lambda step, g: tuple(  # noqa: E731
            t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 else t for t in plain(step, g))
    val_sigma = 25.0 if s["sigma"][1] <= 25 else s["sigma"][1]
    t0 = time.perf_counter()
    hist = fit(model, _loss, batches, s["steps"], lr=s["lr"],
               milestones=milestones, gamma=0.3,
               val_fn=lambda m: validation_psnr(m, val_sigma), val_every=250,
               checkpoint=ckpt, checkpoint_every=100, log_every=100, progress=progress,
               seed=0, grad_clip=1.0, desc=name)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "config": s["config"], "model": s["model"]}, out)
    print(f"{name}: {hist.steps} steps, {hist.seconds:.0f} s, validation PSNR "
          f"{hist.val_values[-1] if hist.val_values else float('nan'):.2f} dB at sigma {val_sigma:g}")
    return {"history": hist, "sizes": s, "seconds": time.perf_counter() - t0}


def train_dncnn(profile: str = "quick", out=None, steps=None, progress=True, milestones=None) -> dict:
    """Recipe ``dncnn``: small DnCNN, sigma uniform in [0, 25]/255."""
    return train_recipe("dncnn", profile, out, steps, progress, milestones)


def train_winnet(profile: str = "quick", out=None, steps=None, progress=True, milestones=None) -> dict:
    """Recipe ``winnet``: small WINNet, sigma uniform in [0, 25]/255, thresholds floor 25."""
    return train_recipe("winnet", profile, out, steps, progress, milestones)


def train_dncnn50(profile: str = "quick", out=None, steps=None, progress=True, milestones=None) -> dict:
    """Recipe ``dncnn50``: small DnCNN at fixed sigma 50/255."""
    return train_recipe("dncnn50", profile, out, steps, progress, milestones)


def train_winnet50(profile: str = "quick", out=None, steps=None, progress=True, milestones=None) -> dict:
    """Recipe ``winnet50``: small WINNet at fixed sigma 50/255."""
    return train_recipe("winnet50", profile, out, steps, progress, milestones)


# ------------------------------------------------------------------ shipping trained weights
RECIPE_DATA = ("patches of data.TRAIN_IMAGES (gray, native size), random 90-degree rotations "
               "and flips, noise sigma uniform in [lo, hi]/255 drawn per patch")


def export_weights(name: str, checkpoint: str | Path, command: str,
                   directory: str | Path | None = None, keep_resume_below: int = 3_000_000,
                   note: str | None = None, optimizer: str | None = None) -> dict:
    """Ship a training checkpoint: weights file, resumable copy, manifest entry.

    Writes ``<directory>/<name>.pt`` (``{"state_dict", "config", "model"}``, loadable with
    ``weights_only=True``), copies the checkpoint to ``<name>.resume.pt`` when it is smaller
    than ``keep_resume_below`` bytes, and records sha256, size, configuration, data, the
    command, steps, training wall time and an optional ``note`` in ``manifest.json``.
    ``optimizer`` describes the schedule when it was not the recipe's default.

    Returns
    -------
    dict
        The manifest entry.
    """
    from .training import load_checkpoint

    directory = Path(directory) if directory is not None else WEIGHTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    if name not in RECIPE_SIZES:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPE_SIZES))}")
    state = load_checkpoint(checkpoint)
    s = RECIPE_SIZES[name]["quick"]
    steps, hist = int(state["step"]), state["history"]
    weights = {"state_dict": {k: v.contiguous() for k, v in state["model"].items()},
               "config": s["config"], "model": s["model"]}
    path = directory / f"{name}.pt"
    torch.save(weights, path)
    entry = {
        "file": path.name, "sha256": _sha256(path), "bytes": path.stat().st_size,
        "model": s["model"], "config": s["config"], "multiple": 1,
        "parameters": sum(v.numel() for v in weights["state_dict"].values()),
        "data": {"images": list(data.TRAIN_IMAGES), "patch": s["patch"], "batch": s["batch"],
                 "patches_seen": steps * s["batch"], "sigma_range_255": list(s["sigma"]),
                 "description": RECIPE_DATA},
        "optimizer": optimizer or f"Adam lr {s['lr']:g}, x0.3 at 80% of the planned {s['steps']} steps, grad-norm clip 1",
        "init": (None if not s.get("init") else
                 {"from": s["init"], "sha256": read_manifest(directory / "manifest.json").get(s["init"], {}).get("sha256")}),
        "steps": steps, "wall_seconds": round(float(hist["seconds"])),
        "machine": "2 shared CPU cores, one torch thread per training",
        "command": command,
        "rebuild": command,
        "val_psnr_train_crops_sigma": [hist["val_steps"][-1] if hist["val_steps"] else None,
                                       round(hist["val_values"][-1], 2) if hist["val_values"] else None],
        "final_train_loss_mean_100": float(np.mean(hist["losses"][-100:])) if hist["losses"] else None,
    }
    if note:
        entry["note"] = note
    ckpt = Path(checkpoint)
    if ckpt.stat().st_size < keep_resume_below:
        shutil.copyfile(ckpt, directory / f"{name}.resume.pt")
        entry["resume_file"] = f"{name}.resume.pt"
        entry["resume_sha256"] = _sha256(directory / f"{name}.resume.pt")
        entry["resume"] = (f"mkdir -p runs && cp mbdl_teach/weights/{name}.resume.pt runs/{name}.resume.pt && "
                           f"{re.sub(r' --steps [0-9]+', '', command)} --steps <more than {steps}>")
    manifest = read_manifest(directory / "manifest.json")
    manifest[name] = entry
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return entry
