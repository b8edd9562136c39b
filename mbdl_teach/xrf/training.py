"""Training the unfolded unmixing network for a line library, stably; the shipped kind."""

from __future__ import annotations

import copy
from typing import Mapping

import numpy as np
import torch

from .. import weights
from ..training import History, fit
from .fitting import _check_lines
from .physics import PIGMENTS, Detector, Lines, simulate_spectra
from .unfolded import UnfoldedUnmixing, amount_loss

__all__ = ["train_unmixing", "library_mixtures", "validation_error", "build_unmixing",
           "unmixing_config", "check_shipped"]


def _check_count(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def library_mixtures(n: int, elements, rng: np.random.Generator,
                     pigments: Mapping[str, Mapping[str, float]] | None = None,
                     max_components: int = 3) -> np.ndarray:
    """Random paint for any line library: amounts (n, len(elements)).

    Each spectrum mixes 1..``max_components`` components with weights uniform in
    [0.05, 1]. The components are the ``pigments`` ({name: {element: fraction}}; default
    the entries of :data:`PIGMENTS` whose elements all lie in the library) and every element
    of the library on its own, so no element is unseen and no co-occurrence is taken for
    granted. A ground of random strength (0 to 0.3) of one random element is added.
    """
    elements = list(elements)
    if pigments is None:
        pigments = {k: v for k, v in PIGMENTS.items() if set(v) <= set(elements)}
    for name, fr in pigments.items():
        missing = set(fr) - set(elements)
        if missing:
            raise ValueError(f"pigment {name!r} holds {sorted(missing)}, which the line "
                             f"library {elements} lacks")
    comps = [np.array([fr.get(el, 0.0) for el in elements]) for fr in pigments.values()]
    comps += list(np.eye(len(elements)))
    comps = np.stack(comps)
    out = np.zeros((n, len(elements)))
    for i in range(n):
        k = rng.integers(1, max_components + 1)
        for c in rng.choice(len(comps), size=k, replace=False):
            out[i] += rng.uniform(0.05, 1.0) * comps[c]
        out[i, rng.integers(len(elements))] += rng.uniform(0.0, 0.3)
    return out


def _spectra(lines, detector, n, rng, pigments):
    amounts = library_mixtures(n, lines.elements, rng, pigments)
    spec, amounts = simulate_spectra(amounts, lines, detector, fine=False,
                                     background=rng.uniform(0.1, 0.6, n))
    return torch.tensor(spec, dtype=torch.float32), torch.tensor(amounts, dtype=torch.float32)


def _scaled(spec, amounts, generator, lo, hi):
    level = torch.exp(lo + (hi - lo) * torch.rand(len(spec), 1, generator=generator))
    f = level / spec.sum(1, keepdim=True)
    return torch.poisson(spec * f, generator=generator), amounts * f


@torch.no_grad()
def validation_error(net: UnfoldedUnmixing, spectra: torch.Tensor,
                     amounts: torch.Tensor) -> float:
    """Mean normalised squared error of the element amounts on validation spectra (moved
    to the network's device)."""
    device = net.step.device
    return float(amount_loss(net, (spectra.to(device), amounts.to(device))))


def train_unmixing(lines: Lines, detector: Detector, n_steps: int = 2000,
                   generator: torch.Generator | None = None, n_layers: int = 10,
                   pigments: Mapping[str, Mapping[str, float]] | None = None,
                   counts_range=(1e3, 3e5), batch: int = 256, n_pool: int = 4096,
                   n_val: int = 1024, val_every: int = 50, lr: float = 3e-3,
                   preconditioner: str = "full", validation=None, progress: bool = False,
                   device: str | torch.device | None = None
                   ) -> tuple[UnfoldedUnmixing, History]:
    """Train an :class:`UnfoldedUnmixing` for a line library, with a validation stop.

    Training spectra are random mixtures (:func:`library_mixtures`) simulated with the
    line library and a continuum (never the sample), counts log-uniform in
    ``counts_range``, Poisson noise drawn at every step. The learning rate falls by 0.3 at
    half and at three quarters of ``n_steps``; every ``val_every`` steps the amount error
    on ``n_val`` held-out synthetic spectra (their own mixtures and noise) is measured and
    the best state is kept, so more steps never give a worse network on that data.

    Parameters
    ----------
    lines : Lines
    detector : Detector
    n_steps : int
        Training steps (Adam, ``batch`` spectra each).
    generator : torch.Generator, optional
        The one source of randomness (mixtures, noise, batches); default seed 0.
    n_layers : int
    pigments : dict, optional
        ``{name: {element: fraction}}``: pigments the user expects (their elements must be
        in the library); default those of :data:`PIGMENTS` inside the library.
    counts_range : (float, float)
    batch, n_pool, n_val, val_every : int
    lr : float
    preconditioner : {"full", "diagonal"}
    validation : (Tensor, Tensor), optional
        Held-out spectra (N, n_channels) and their true amounts (N, n_elements), in counts,
        instead of the ``n_val`` simulated ones (e.g. a user's own simulation).
    progress : bool
    device : str or torch.device, optional
        Where to train (default the CPU); the spectra are drawn on the CPU and moved, so
        the draws are the same on any device.

    Returns
    -------
    net : UnfoldedUnmixing
        In eval mode, with the validation-best weights, on ``device``.
    history : History
        ``val_steps``/``val_values``: the validation error along training; ``best_step``
        and ``best_error``: the state returned (step 0: the untrained network).
    """
    _check_lines(lines, detector)
    for name, v in (("n_steps", n_steps), ("batch", batch), ("n_pool", n_pool),
                    ("n_val", n_val), ("val_every", val_every)):
        _check_count(v, name)
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    if not (len(counts_range) == 2 and 0 < counts_range[0] <= counts_range[1]):
        raise ValueError(f"counts_range must be (low, high) with 0 < low <= high, got "
                         f"{counts_range!r}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    seeds = torch.randint(0, 2**31 - 1, (3,), generator=generator).tolist()
    rng = np.random.default_rng(seeds[0])
    spec, amounts = _spectra(lines, detector, n_pool, rng, pigments)
    lo, hi = float(np.log(counts_range[0])), float(np.log(counts_range[1]))
    g_val = torch.Generator().manual_seed(seeds[1])
    if validation is None:
        val = _scaled(*_spectra(lines, detector, n_val, rng, pigments), g_val, lo, hi)
    else:
        val = tuple(validation)
        if (len(val) != 2 or not all(isinstance(v, torch.Tensor) for v in val)
                or val[0].ndim != 2 or val[0].shape[1] != detector.n_channels
                or val[1].shape != (len(val[0]), len(lines))):
            raise ValueError(f"validation must be (spectra (N, {detector.n_channels}), amounts "
                             f"(N, {len(lines)})) tensors, got "
                             f"{[tuple(getattr(v, 'shape', ())) for v in val]}")
        val = (val[0].float(), val[1].float())

    def batches(step, g):
        idx = torch.randint(0, n_pool, (batch,), generator=g)
        return _scaled(spec[idx], amounts[idx], g, lo, hi)

    net = UnfoldedUnmixing(lines, detector, n_layers=n_layers, preconditioner=preconditioner)
    net = net.to(torch.device(device) if device is not None else torch.device("cpu"))
    best = {"error": validation_error(net, *val), "state": copy.deepcopy(net.state_dict()),
            "step": 0}

    def keep_best(step, model, history):
        if history.val_steps and history.val_steps[-1] == step:
            if history.val_values[-1] < best["error"]:
                best.update(error=history.val_values[-1], step=step,
                            state=copy.deepcopy(model.state_dict()))

    hist = fit(net, amount_loss, batches, n_steps, lr=lr,
               milestones=sorted({max(1, n_steps // 2), max(1, 3 * n_steps // 4)}), gamma=0.3,
               val_fn=lambda m: validation_error(m, *val), val_every=val_every,
               progress=progress, seed=seeds[2], desc="unmixing", callbacks=[keep_best])
    net.load_state_dict(best["state"])
    hist.best_step, hist.best_error = best["step"], best["error"]  # step 0: untrained
    return net.eval(), hist


# --------------------------------------------------------------------------- shipped kind
def unmixing_config(net: UnfoldedUnmixing) -> dict:
    """The JSON config that :func:`build_unmixing` rebuilds ``net`` from."""
    ln, d = net.lines, net.detector
    return {"elements": list(ln.elements), "excitation_kev": ln.excitation_kev,
            "window_kev": list(ln.window_kev), "merge_kev": ln.merge_kev,
            "min_rel": ln.min_rel,
            "detector": {"n_channels": d.n_channels, "zero": d.zero, "gain": d.gain,
                         "noise": d.noise, "fano": d.fano},
            "n_layers": net.n_layers, "n_background": net.op.shape[1] - len(ln),
            "preconditioner": "diagonal" if net.precond is None else "full"}


def build_unmixing(elements, excitation_kev: float, window_kev, merge_kev: float,
                   min_rel: float, detector: dict, n_layers: int, n_background: int,
                   preconditioner: str) -> UnfoldedUnmixing:
    """An :class:`UnfoldedUnmixing` from its JSON config (the shipped kind's builder)."""
    lines = Lines(elements, excitation_kev, tuple(window_kev), merge_kev, min_rel)
    return UnfoldedUnmixing(lines, Detector(**detector), n_layers=n_layers,
                            n_background=n_background, preconditioner=preconditioner)


@torch.no_grad()
def check_errors(net: UnfoldedUnmixing, n: int = 512, counts: float = 2e3) -> tuple[float, float]:
    """Amount error of ``net`` and of projected gradient (the untrained network) on ``n``
    fresh mixtures (seeded) of its library at ``counts`` per spectrum."""
    rng = np.random.default_rng(11)
    g = torch.Generator().manual_seed(11)
    spec, amounts = _spectra(net.lines, net.detector, n, rng, None)
    y, a = _scaled(spec, amounts, g, np.log(counts), np.log(counts))
    p = next(net.parameters())
    y, a = y.to(p), a.to(p)
    fresh = UnfoldedUnmixing(net.lines, net.detector, net.n_layers).to(p)
    return validation_error(net, y, a), validation_error(fresh, y, a)


def check_shipped(net: UnfoldedUnmixing, info: dict) -> None:
    """A shipped network must have under half the amount error of projected gradient with
    as many iterations, and reproduce the error recorded at export (within 2 %)."""
    e_net, e_init = check_errors(net)
    assert e_net < 0.5 * e_init, f"trained {e_net:.4f} vs untrained {e_init:.4f}"
    if "check_error" in info:
        assert abs(e_net / info["check_error"] - 1) < 0.02, (e_net, info["check_error"])


weights.register_model("xrf_unmixing", build_unmixing, check=check_shipped)
