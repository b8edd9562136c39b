"""The model as a prior: its denoiser view (DiffPIR) and measurement-guided samplers
(DPS, DDNM, INDigo), posterior means, loading and checking the shipped model."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import weights
from ..denoisers import Denoiser
from .model import DiffusionModel, _bcast, _check_images, _reverse, ddim_step

__all__ = ["DiffusionDenoiser", "as_denoiser", "load_model", "ddnm", "dps", "indigo",
           "posterior_mean", "check_shipped"]


# ------------------------------------------------------------------ the model as a denoiser
class DiffusionDenoiser(Denoiser):
    """The epsilon network as a Gaussian denoiser at any noise level (DiffPIR's prior step).

    A noisy image ``y = x + sigma n`` in [0, 1] is ``2 y - 1 = x' + 2 sigma n`` on the
    model's scale, which is ``x_t / sqrt(abar_t)`` at the (fractional) step where the
    schedule's ``sqrt((1 - abar)/abar)`` equals ``2 sigma``. So the denoiser sets
    ``x_t = sqrt(abar_t) (2 y - 1)``, predicts ``eps`` and returns Tweedie's
    ``x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)`` mapped back to [0, 1].
    Images whose sides are not multiples of 4 are padded (reflect) and cropped back.
    """

    def __init__(self, model: DiffusionModel, name: str = "diffusion"):
        super().__init__()
        self.model, self.name = model.eval(), name
        self.channels = model.config["in_channels"]

    def _denoise(self, x: Tensor, sigma: Tensor) -> Tensor:
        sched = self.model.schedule
        t = sched.t_of_sigma(2 * sigma)
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        xp = F.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x
        x_t = _bcast(sched.abar(t), x).sqrt() * (2 * xp - 1)
        x0 = self.model.predict(x_t, t, clip=False)[1]
        return ((x0 + 1) / 2)[..., :h, :w]


def as_denoiser(model: DiffusionModel) -> DiffusionDenoiser:
    """``model`` as a :class:`mbdl_teach.denoisers.Denoiser`: ``den(x, sigma)`` for
    :func:`mbdl_teach.pnp.hqs` and friends (DiffPIR is HQS with this prior step)."""
    if not isinstance(model, DiffusionModel):
        raise TypeError(f"expected a DiffusionModel, got {type(model).__name__}")
    return DiffusionDenoiser(model)


def load_model(name: str = "diffusion", device: str | torch.device | None = None) -> DiffusionModel:
    """A shipped diffusion model by its manifest name, in eval mode, on ``device``."""
    model, info = weights.load(name, device=device)
    if not isinstance(model, DiffusionModel):
        raise ValueError(f"{name!r} is a {info['model']!r} model, not a diffusion model")
    model.info = info
    return model


# ------------------------------------------------------------------ guided sampling
def _check_problem(y: Tensor, model: DiffusionModel, steps: int, shape=None,
                   op=None) -> tuple[int, ...]:
    if not isinstance(model, DiffusionModel):
        raise TypeError(f"model must be a DiffusionModel, got {type(model).__name__}")
    if not isinstance(y, Tensor) or y.ndim != 4:
        raise ValueError(f"y must be a tensor of shape (B, C, h, w), got "
                         f"{getattr(y, 'shape', type(y).__name__)}")
    model.schedule.timesteps(steps)  # checks steps
    if shape is None:
        shape = tuple(op.input_shape(tuple(y.shape)))
    _check_images(torch.empty(shape, device="meta"), "the reconstruction")
    if op is not None:
        out = op(torch.zeros(shape, dtype=y.dtype, device=y.device))
        if out.shape != y.shape:
            raise ValueError(f"the operator maps images of shape {tuple(shape)} to "
                             f"{tuple(out.shape)}, but y has shape {tuple(y.shape)}")
    return tuple(shape)


def _start(shape, generator) -> Tensor:
    return torch.randn(shape, generator=generator)


def ddnm(y: Tensor, op, model: DiffusionModel, steps: int = 50, eta: float = 0.85,
         generator: torch.Generator | None = None, delta: float = 1e-4,
         shape: tuple[int, ...] | None = None, callback: Callable | None = None,
         progress: bool = False) -> Tensor:
    """Denoising diffusion null-space model (Wang et al., ICLR 2023).

    At each step the clean estimate ``x0_hat`` (clipped to the data range) is replaced by
    ``x0_hat + A+ (y - H x0_hat)``: its range-space part is taken from ``y``, its
    null-space part kept. ``A+ = (H^T H + delta I)^{-1} H^T`` (``op.solve_normal``), a
    regularised pseudo-inverse: Wiener's filter for a blur; ``delta -> 0`` is the exact
    pseudo-inverse (noise-free data), a larger ``delta`` keeps noise out. The step injects
    noise the DDNM way (:func:`ddim_step` with ``noise="ddnm"``).

    Parameters
    ----------
    y : Tensor, shape (B, C, h, w)
        The measurement, [0, 1] scale.
    op : LinearOperator
        ``H`` (from :mod:`mbdl_teach.operators`).
    steps, eta : int, float
    generator : torch.Generator, optional
    delta : float
        > 0.
    shape : tuple, optional
        Shape of the reconstruction (default: the operator's input shape for ``y``).
    callback : callable, optional
        ``callback(i, t, x_t, x0)`` after each step.

    Returns
    -------
    Tensor, shape ``shape``, in [0, 1]
    """
    shape = _check_problem(y, model, steps, shape, op)

    def project(x0):
        # in float64: (H^T H + delta)^{-1} is 1/delta on the null space, where float32
        # rounding of H^T r would otherwise land
        x01 = (x0 + 1).double() / 2
        r = y.double() - op(x01)
        return (2 * (x01 + op.solve_normal(op.T(r), delta)) - 1).to(x0.dtype)

    def x0_fn(x_t, t):
        eps, x0 = model.predict(x_t, t)
        return eps, project(x0)

    def step(x_t, t, t_prev, eps, x0):
        return ddim_step(x0, eps, model.schedule, t, t_prev, eta, generator, noise="ddnm")

    with torch.no_grad():
        return _reverse(model, _start(shape, generator), steps, x0_fn, step, callback,
                        progress, "DDNM")


def dps(y: Tensor, op, model: DiffusionModel, steps: int = 50, zeta: float = 1.0,
        generator: torch.Generator | None = None, eta: float = 1.0,
        shape: tuple[int, ...] | None = None, callback: Callable | None = None,
        progress: bool = False) -> Tensor:
    """Diffusion posterior sampling (Chung et al., ICLR 2023).

    After each unconditional step (:func:`ddim_step`, ``eta = 1``: DDPM-like), the sample
    moves down the gradient of the data misfit of the clean estimate,
    ``x_{t-1} -= zeta grad_{x_t} ||y - H x0_hat(x_t)|| `` (the norm, not its square, as the
    authors use: the step is scale-free). The gradient goes through the network, so each
    step costs a forward and a backward pass.

    Parameters
    ----------
    zeta : float
        Step size (tune it on training images).

    Other parameters and the return value are :func:`ddnm`'s.
    """
    shape = _check_problem(y, model, steps, shape, op)
    state = {}

    def x0_fn(x_t, t):
        x_t = x_t.detach().requires_grad_(True)
        with torch.enable_grad():
            eps, x0 = model.predict(x_t, t, clip=False)
            misfit = torch.linalg.vector_norm((y - op((x0 + 1) / 2)).flatten(1), dim=1).sum()
            state["grad"] = torch.autograd.grad(misfit, x_t)[0]
        return eps.detach(), x0.detach().clamp(-1, 1)

    def step(x_t, t, t_prev, eps, x0):
        x = ddim_step(x0, eps, model.schedule, t, t_prev, eta, generator)
        return x - zeta * state["grad"] if t_prev >= 0 else x

    return _reverse(model, _start(shape, generator), steps, x0_fn, step, callback, progress,
                    "DPS")


def indigo(y: Tensor, inn, model: DiffusionModel, steps: int = 50,
           generator: torch.Generator | None = None, eta: float = 0.85, zeta: float = 0.0,
           weight: float = 1.0, shape: tuple[int, ...] | None = None,
           callback: Callable | None = None, progress: bool = False) -> Tensor:
    """INDigo (You, Floros & Dragotti 2023): consistency through an invertible network.

    ``inn`` (a :class:`mbdl_teach.inn.DegradationINN`) was trained so that its coarse part
    of a clean image is the degraded image. At each step the clean estimate is split,
    ``(c, d) = INN(x0_hat)``; the coarse part is replaced by the measurement and the INN's
    inverse gives ``x0_cons = INN^{-1}(y, d)``, an image whose simulated degradation is
    ``y`` and whose details are the model's. The step then uses
    ``x0_hat + weight (x0_cons - x0_hat)`` as its clean estimate (DDNM's noise injection);
    ``zeta > 0`` adds INDIGO+'s gradient step on ``||x0_cons - x0_hat||^2`` through the
    network. No formula for ``H`` is used: with the plain Haar INN (block means) and
    average-pooling data, this is DDNM's projection exactly.

    Parameters
    ----------
    y : Tensor, shape (B, 1, h, w)
        The measurement at the INN's coarse resolution (block-average it first when the
        observation is finer than the INN's coarse part).
    inn : DegradationINN
    weight : float
        In (0, 1]: how far the estimate moves to the consistent image (below 1 for noisy
        ``y``).
    zeta : float
        INDIGO+'s gradient step (0: none; each step then costs no backward pass).

    Other parameters and the return value are :func:`ddnm`'s; the reconstruction has
    ``inn.factor`` times the size of ``y`` unless ``shape`` says otherwise.
    """
    if shape is None and isinstance(y, Tensor) and y.ndim == 4:
        shape = (y.shape[0], 1, y.shape[-2] * inn.factor, y.shape[-1] * inn.factor)
    shape = _check_problem(y, model, steps, shape)
    coarse_shape = (shape[0], 1, shape[-2] // inn.factor, shape[-1] // inn.factor)
    if tuple(y.shape) != coarse_shape:
        raise ValueError(f"y has shape {tuple(y.shape)} but the INN's coarse part of a "
                         f"{tuple(shape)} image has shape {coarse_shape}")
    if not 0 < weight <= 1:
        raise ValueError(f"weight must be in (0, 1], got {weight!r}")
    state = {}

    def consistent(x0):
        _, d = inn((x0 + 1) / 2)
        return 2 * inn.inverse(y, d) - 1

    def x0_fn(x_t, t):
        if zeta > 0:
            x_t = x_t.detach().requires_grad_(True)
            with torch.enable_grad():
                eps, x0 = model.predict(x_t, t)
                x0c = consistent(x0)
                loss = (x0c.detach() - x0).pow(2).sum()
                state["grad"] = torch.autograd.grad(loss, x_t)[0]
            eps, x0, x0c = eps.detach(), x0.detach(), x0c.detach()
        else:
            eps, x0 = model.predict(x_t, t)
            x0c = consistent(x0)
        return eps, x0 + weight * (x0c - x0)

    def step(x_t, t, t_prev, eps, x0):
        x = ddim_step(x0, eps, model.schedule, t, t_prev, eta, generator, noise="ddnm")
        return x - zeta * state["grad"] if zeta > 0 and t_prev >= 0 else x

    with torch.set_grad_enabled(zeta > 0):
        return _reverse(model, _start(shape, generator), steps, x0_fn, step, callback,
                        progress, "INDigo")


def posterior_mean(solver: Callable, n_samples: int, generator: torch.Generator | None = None,
                   return_samples: bool = False, **kwargs) -> Tensor | tuple[Tensor, Tensor]:
    """Average ``n_samples`` runs of a sampler: an estimate of the posterior mean.

    Parameters
    ----------
    solver : callable
        :func:`ddnm`, :func:`dps`, :func:`indigo` (or any ``solver(..., generator=g)``).
    n_samples : int
    generator : torch.Generator, optional
        Shared by the runs, one after the other (seeded runs replay).
    return_samples : bool
        Also return the samples, shape (n_samples, B, C, H, W) (their per-pixel standard
        deviation maps the sampler's uncertainty).
    **kwargs
        The solver's arguments.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    samples = torch.stack([solver(generator=generator, **kwargs) for _ in range(n_samples)])
    mean = samples.mean(0)
    return (mean, samples) if return_samples else mean


def check_shipped(model: DiffusionModel, info: dict) -> None:
    """A shipped prior denoises held-out patches (sigma 25/255) by at least 5 dB and its
    samples' mean grey level is within 0.1 of the training patches'."""
    from .. import data, metrics

    g = torch.Generator().manual_seed(0)
    x = data.random_patches([data.load_image(n) for n in data.TEST_IMAGES], 16, 32, generator=g)
    y = data.add_gaussian_noise(x, 25 / 255, generator=g)
    with torch.no_grad():
        gain = float((metrics.psnr(as_denoiser(model)(y, 25 / 255).clamp(0, 1), x)
                      - metrics.psnr(y, x)).mean())
        samples = model.sample(8, steps=20, generator=g)
    assert gain > 5, f"{info.get('file')}: the denoiser view gains only {gain:.2f} dB"
    train = data.random_patches([data.load_image(n) for n in data.TRAIN_IMAGES], 256, 32,
                                generator=g)
    assert abs(float(samples.mean() - train.mean())) < 0.1, (
        f"sample mean {float(samples.mean()):.2f}, training patches {float(train.mean()):.2f}")


weights.register_model("diffusion", DiffusionModel, check=check_shipped,
                       module="mbdl_teach.diffusion")
