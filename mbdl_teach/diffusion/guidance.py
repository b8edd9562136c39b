"""The model as a prior: its denoiser view (DiffPIR) and measurement-guided samplers
(DPS, DDNM, INDigo), posterior means, loading and checking the shipped model."""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import weights
from ..denoisers import Denoiser
from .model import DiffusionModel, _bcast, _check_images, _reverse, ddim_step

__all__ = ["DiffusionDenoiser", "as_denoiser", "load_model", "ddnm", "dps", "diffpir",
           "indigo", "posterior_mean", "check_shipped", "pinv_gain", "GUIDANCE", "DDNM_DELTA_MIN",
           "DIFFPIR_LAM", "DIFFPIR_ZETA", "DPS_SCALE"]


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
def _check_problem(y: Tensor, model: DiffusionModel, n_steps: int, sigma_y: float,
                   shape=None, op=None) -> tuple[int, ...]:
    if not isinstance(model, DiffusionModel):
        raise TypeError(f"model must be a DiffusionModel, got {type(model).__name__}")
    if not isinstance(y, Tensor) or y.ndim != 4:
        raise ValueError(f"y must be a tensor of shape (B, C, h, w), got "
                         f"{getattr(y, 'shape', type(y).__name__)}")
    if not torch.isfinite(y).all():
        bad = int((~torch.isfinite(y)).sum())
        raise ValueError(f"y contains {bad} NaN or infinite value(s): a sampler cannot "
                         "project onto them (mask or fill those pixels first)")
    if (isinstance(sigma_y, bool) or not isinstance(sigma_y, (int, float))
            or not math.isfinite(sigma_y) or sigma_y < 0):
        raise ValueError(f"sigma_y (the measurement's noise std, [0, 1] scale) must be a "
                         f"finite float >= 0, got {sigma_y!r}")
    model.schedule.timesteps(n_steps)  # checks n_steps
    if shape is None:
        if not hasattr(op, "input_shape"):
            raise ValueError("give shape= (the reconstruction's shape) for a forward model "
                             "that is not a LinearOperator")
        shape = tuple(op.input_shape(tuple(y.shape)))
    _check_images(torch.empty(shape, device="meta"), "the reconstruction")
    if op is not None:
        with torch.no_grad():
            out = op(torch.zeros(shape, dtype=y.dtype, device=y.device))
        if out.shape != y.shape:
            raise ValueError(f"the forward model maps images of shape {tuple(shape)} to "
                             f"{tuple(out.shape)}, but y has shape {tuple(y.shape)}")
    return tuple(shape)


def _start(shape, generator) -> Tensor:
    return torch.randn(shape, generator=generator)


def _next_sigma(model: DiffusionModel, t_prev: int) -> float:
    """The schedule's noise level ``sigma`` ([-1, 1] scale) of the step about to be made
    (0 at the end)."""
    return float(model.schedule.sigma(t_prev)) if t_prev >= 0 else 0.0


#: The regularisation ``delta`` of DDNM's pseudo-inverse without noise (sigma_y = 0).
DDNM_DELTA_MIN = 1e-4


def pinv_gain(op, y: Tensor, delta: float) -> float:
    """RMS of ``(H^T H + delta I)^{-1} H^T z`` per unit of white noise ``z`` (shape of
    ``y``): how much of the measurement's noise DDNM's step lets in."""
    z = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return float(op.solve_normal(op.T(z.to(y.device)), delta).pow(2).mean().sqrt())


def ddnm(y: Tensor, op, model: DiffusionModel, n_steps: int = 50, sigma_y: float = 0.0,
         delta: float | None = None, eta: float = 1.0,
         generator: torch.Generator | None = None, shape: tuple[int, ...] | None = None,
         callback: Callable | None = None, progress: bool = False) -> Tensor:
    """Denoising diffusion null-space model (Wang et al., ICLR 2023), noise-aware (DDNM+).

    At each step the clean estimate ``x0_hat`` (clipped to the data range) is replaced by
    ``x0_hat + A+ (y - H x0_hat)``: its range-space part is taken from ``y``, its
    null-space part kept. ``A+ = (H^T H + delta I)^{-1} H^T`` (``op.solve_normal``), a
    regularised pseudo-inverse: Wiener's filter for a blur.

    With ``delta`` left at None it follows the noise level, as DDNM+ does: in no direction
    may the noise that ``A+`` lets in from ``y`` exceed the noise level of the next step,
    ``sigma_{t'}`` (the schedule's, model scale), which hides it. ``A+`` multiplies a
    singular direction of ``H`` with singular value ``s`` by ``s / (s^2 + delta)``, at most
    ``1 / (2 sqrt(delta))``, so the rule is
    ``delta_t = max(DDNM_DELTA_MIN, (sigma_y / sigma_{t'})^2)``: nearly the exact
    pseudo-inverse early, at large noise levels, and a strong regularisation at the end.
    The noise the projection brought (its RMS, measured with a white probe) is taken off
    the noise injected (:func:`ddim_step`'s ``carried``). DDNM+ scales each singular
    direction by ``min(1, ...)``; Wiener's filter is the smooth form of that cut, and
    needs only ``op.solve_normal``.

    Parameters
    ----------
    y : Tensor, shape (B, C, h, w)
        The measurement, [0, 1] scale (finite values only).
    op : LinearOperator
        ``H`` (from :mod:`mbdl_teach.operators`).
    model : DiffusionModel
    n_steps : int
        Network evaluations.
    sigma_y : float
        The measurement's noise std ([0, 1] scale).
    delta : float, optional
        A fixed regularisation for every step (> 0) instead of the noise-aware rule.
    eta : float
        Fraction of the noise drawn fresh at each step (DDNM's form, :func:`ddim_step`);
        the rest reuses the network's noise estimate, which a large projection has made
        stale: 1 (all fresh) is the best choice with the noise-aware rule.
    generator : torch.Generator, optional
    shape : tuple, optional
        Shape of the reconstruction (default: the operator's input shape for ``y``).
    callback : callable, optional
        ``callback(i, t, x_t, x0)`` after each step.

    Returns
    -------
    Tensor, shape ``shape``, in [0, 1]
    """
    shape = _check_problem(y, model, n_steps, sigma_y, shape, op)
    if delta is not None and not delta > 0:
        raise ValueError(f"delta must be > 0 (or None: from sigma_y), got {delta!r}")
    yd = y.double()
    state = {"carried": 0.0}

    def project(x0, d):
        # in float64: (H^T H + delta)^{-1} is 1/delta on the null space, where float32
        # rounding of H^T r would otherwise land
        x01 = (x0 + 1).double() / 2
        r = yd - op(x01)
        return (2 * (x01 + op.solve_normal(op.T(r), d)) - 1).to(x0.dtype)

    def x0_fn(x_t, t):
        eps, x0 = model.predict(x_t, t)
        if delta is not None:
            return eps, project(x0, delta)
        if sigma_y == 0:  # noise-free measurement
            return eps, project(x0, DDNM_DELTA_MIN)
        t_next = state["t_prev"]  # the step being made: t -> t_next
        room = float(model.schedule.sigma(t_next)) if t_next >= 0 else 0.0
        if room == 0:  # the last step: no room for the measurement's noise
            state["carried"] = 0.0
            return eps, x0
        d = max(DDNM_DELTA_MIN, (sigma_y / room) ** 2)
        state["carried"] = 2 * sigma_y * pinv_gain(op, y, d)
        return eps, project(x0, d)

    def step(x_t, t, t_prev, eps, x0):
        return ddim_step(x0, eps, model.schedule, t, t_prev, eta, generator, noise="ddnm",
                         carried=state["carried"])

    with torch.no_grad():
        return _reverse(model, _start(shape, generator), n_steps, x0_fn, step, callback,
                        progress, "DDNM", state)


GUIDANCE = ("annealed", "constant")
#: The default scale of DPS's annealed step, chosen on chapter 07's training patches (a
#: grid 0.5, 1, 1.5, 2 at 20 and at 50 steps; 2 starts to overshoot).
DPS_SCALE = 1.5


def _data_lipschitz(op, shape) -> float:
    """``||H||^2``, the Lipschitz constant of the gradient of ``||y - H x||^2 / 2``: the
    operator's own ``norm()`` where it has one, else the largest over flat grey images
    (0.05, 0.5, 0.95) of power iteration on ``J^T J`` of the (possibly non-linear) forward
    model, whose slope changes with the grey level."""
    one = (1,) + tuple(shape[1:])
    if hasattr(op, "norm"):
        return float(op.norm(shape=one, generator=torch.Generator().manual_seed(0))) ** 2
    lips = []
    for level in (0.05, 0.5, 0.95):
        x = torch.full(one, level, requires_grad=True)
        v = torch.randn(one, generator=torch.Generator().manual_seed(0))
        with torch.enable_grad():
            fx = op(x)
            for _ in range(8):
                v = v / v.norm()
                with torch.no_grad():  # J v by a central difference (1e-3 of a grey level)
                    jv = (op(x + 1e-3 * v) - op(x - 1e-3 * v)) / 2e-3
                w = torch.autograd.grad(fx, x, jv, retain_graph=True)[0]  # J^T J v
                lip, v = float((v * w).sum()), w
        lips.append(lip)
    return max(lips)


def dps(y: Tensor, op, model: DiffusionModel, n_steps: int = 50, sigma_y: float = 0.0,
        guidance: str = "annealed", zeta: float | None = None,
        generator: torch.Generator | None = None, eta: float = 1.0,
        shape: tuple[int, ...] | None = None, callback: Callable | None = None,
        progress: bool = False) -> Tensor:
    """Diffusion posterior sampling (Chung et al., ICLR 2023).

    After each unconditional step (:func:`ddim_step`, ``eta = 1``: DDPM-like), the sample
    moves down the gradient, with respect to ``x_t`` and through the network, of the data
    misfit of the clean estimate ``x0_hat(x_t)``. Each step costs a forward and a backward
    pass. Two weights:

    * ``"annealed"`` (default): a weight that follows the noise schedule. The step on
      ``x_{t'}`` is chosen so that, read as a change of the clean estimate (taking
      ``d x0_hat / d x_t`` as ``1 / sqrt(abar_t)``), it is a gradient step on
      ``||y - H x||^2 / 2`` of size ``gamma_t = r_t^2 / (sigma_y^2 + r_t^2)``, where
      ``r_t^2 = sigma_t^2 / (4 (1 + sigma_t^2))`` is the error of Tweedie's estimate of a
      unit-variance Gaussian ([0, 1] scale, as in Song et al.'s PiGDM), divided by
      ``||H||^2`` (the data term's Lipschitz constant: ``op.norm()``, or power iteration
      through a non-linear forward model at its steepest): a full step while the estimate is worse than
      the data, a shorter one as it becomes better than ``sigma_y`` allows. ``zeta``
      scales it (default :data:`DPS_SCALE`).
    * ``"constant"``: the paper's ``x_{t'} -= zeta grad ||y - H x0_hat||`` (the norm, not
      its square: scale-free); ``zeta`` (default 1) must be tuned, and ``sigma_y`` is
      not used.

    Parameters
    ----------
    op : LinearOperator or callable
        ``H``; any differentiable ``op(x)`` works when ``shape`` is given (for example
        :meth:`mbdl_teach.inn.DegradationINN.coarse`, a learned non-linear degradation).
    guidance : {"annealed", "constant"}
    zeta : float, optional
        >= 0: the scale of the annealed weight, or the constant step.

    Other parameters and the return value are :func:`ddnm`'s.
    """
    if guidance not in GUIDANCE:
        raise ValueError(f"guidance must be one of {GUIDANCE}, got {guidance!r}")
    if zeta is None:
        zeta = DPS_SCALE if guidance == "annealed" else 1.0
    if not zeta >= 0:
        raise ValueError(f"zeta must be >= 0, got {zeta!r}")
    shape = _check_problem(y, model, n_steps, sigma_y, shape, op)
    sched, state = model.schedule, {}
    lip = _data_lipschitz(op, shape) if guidance == "annealed" and zeta > 0 else 1.0

    def x0_fn(x_t, t):
        x_t = x_t.detach().requires_grad_(True)
        with torch.enable_grad():
            eps, x0 = model.predict(x_t, t, clip=False)
            r = (y - op((x0 + 1) / 2)).flatten(1)
            if guidance == "constant":
                misfit = torch.linalg.vector_norm(r, dim=1).sum()
            else:
                misfit = r.pow(2).sum() / 2
            state["grad"] = torch.autograd.grad(misfit, x_t)[0]
        return eps.detach(), x0.detach().clamp(-1, 1)

    def step(x_t, t, t_prev, eps, x0):
        x = ddim_step(x0, eps, sched, t, t_prev, eta, generator)
        if t_prev < 0:
            return x
        if guidance == "constant":
            return x - zeta * state["grad"]
        a_t, a_p = float(sched.alpha_bar[t]), float(sched.alpha_bar[t_prev])
        s2 = float(sched.sigma(t)) ** 2
        r2 = s2 / (4 * (1 + s2))
        gamma = r2 / (sigma_y**2 + r2)
        # d x0_01 = (gamma / L) H^T r  <=>  d x_t' = -4 sqrt(abar_t' abar_t) gamma / L grad
        return x - zeta * 4 * math.sqrt(a_p * a_t) * gamma / lip * state["grad"]

    return _reverse(model, _start(shape, generator), n_steps, x0_fn, step, callback, progress,
                    "DPS")


#: DiffPIR's defaults: the prior's weight ``lam`` in ``rho_t = lam sigma_y^2 / sigmabar_t^2``
#: and the share ``zeta`` of fresh noise, chosen on chapter 07's training patches.
DIFFPIR_LAM, DIFFPIR_ZETA = 3.0, 1.0


def diffpir(y: Tensor, op, model: DiffusionModel, n_steps: int = 50, sigma_y: float = 0.0,
            lam: float = DIFFPIR_LAM, zeta: float = DIFFPIR_ZETA,
            generator: torch.Generator | None = None, shape: tuple[int, ...] | None = None,
            callback: Callable | None = None, progress: bool = False) -> Tensor:
    """DiffPIR (Zhu et al., CVPR Workshops 2023): plug-and-play inside the diffusion sampler.

    At each of ``n_steps`` respaced steps ``t -> t'``:

    1. denoise at the schedule's own level: ``x0 = x0_hat(x_t)`` (Tweedie, one network call);
    2. data step, a proximal step of the data term:
       ``x0_hat = argmin_x ||y - H x||^2 + rho_t ||x - x0||^2`` with
       ``rho_t = lam sigma_y^2 / sigmabar_t^2`` (``sigmabar_t = sigma_t / 2``, the [0, 1]
       scale): the measurement counts little while the sample is noisy and more at the end,
       as much as its own noise allows (``op.solve_normal``, in float64);
    3. re-noise: ``x_{t'} = sqrt(abar_t') x0_hat + sqrt(1 - abar_t') (sqrt(1 - zeta)
       eps_hat + sqrt(zeta) z)``, ``eps_hat`` the noise that takes ``x0_hat`` to ``x_t``
       and ``z`` fresh noise.

    Compare :func:`mbdl_teach.pnp.hqs` with :func:`as_denoiser` (HQS with the diffusion
    model as its denoiser): the same two steps, without the sampler's re-noising.

    Parameters
    ----------
    sigma_y : float
        The measurement's noise std ([0, 1] scale; at least 1e-3 is used, so that the
        data step stays a regularised solve on noise-free data).
    lam : float
        > 0: the prior's weight (larger: smoother).
    zeta : float
        In [0, 1]: 0 is deterministic (DDIM-like), 1 all fresh noise.

    Other parameters and the return value are :func:`ddnm`'s.
    """
    shape = _check_problem(y, model, n_steps, sigma_y, shape, op)
    if not lam > 0:
        raise ValueError(f"lam must be > 0, got {lam!r}")
    if not 0 <= zeta <= 1:
        raise ValueError(f"zeta must be in [0, 1], got {zeta!r}")
    sched, yd, hty = model.schedule, y.double(), op.T(y.double())
    noise2 = max(sigma_y, 1e-3) ** 2

    def x0_fn(x_t, t):
        _, x0 = model.predict(x_t, t)
        rho = lam * noise2 / (float(sched.sigma(t)) / 2) ** 2
        x01 = (x0.double() + 1) / 2
        x0 = (2 * op.solve_normal(hty + rho * x01, rho) - 1).to(x_t.dtype)
        a = float(sched.alpha_bar[t])
        return (x_t - math.sqrt(a) * x0) / math.sqrt(1 - a), x0

    def step(x_t, t, t_prev, eps, x0):
        if t_prev < 0:
            return x0
        a_p = float(sched.alpha_bar[t_prev])
        z = torch.randn(x0.shape, generator=generator).to(x0)
        return (math.sqrt(a_p) * x0
                + math.sqrt(1 - a_p) * (math.sqrt(1 - zeta) * eps + math.sqrt(zeta) * z))

    del yd
    with torch.no_grad():
        return _reverse(model, _start(shape, generator), n_steps, x0_fn, step, callback,
                        progress, "DiffPIR")


def indigo(y: Tensor, inn, model: DiffusionModel, n_steps: int = 50, sigma_y: float = 0.0,
           weight: float | None = None, eta: float = 1.0, zeta: float = 0.0,
           generator: torch.Generator | None = None, shape: tuple[int, ...] | None = None,
           callback: Callable | None = None, progress: bool = False) -> Tensor:
    """INDigo (You, Floros & Dragotti 2023): consistency through an invertible network.

    ``inn`` (a :class:`mbdl_teach.inn.DegradationINN`) was trained so that its coarse part
    of a clean image is the degraded image. At each step the clean estimate is split,
    ``(c, d) = INN(x0_hat)``; the coarse part is replaced by the measurement and the INN's
    inverse gives ``x0_cons = INN^{-1}(y, d)``, an image whose simulated degradation is
    ``y`` and whose details are the model's. The step then uses
    ``x0_hat + w (x0_cons - x0_hat)`` as its clean estimate (DDNM's noise injection);
    ``zeta > 0`` adds INDIGO+'s gradient step on ``||x0_cons - x0_hat||^2`` through the
    network. No formula for ``H`` is used: with the plain Haar INN (block means) and
    average-pooling data, this is DDNM's projection exactly.

    With ``weight`` left at None, ``w`` follows the noise level as DDNM+'s step does: the
    noise that the consistency step brings from ``y``, ``2 sigma_y G`` on the model's scale
    (``G``: how much the INN's inverse amplifies an error in the coarse part, measured at
    each step with a probe), must fit in the next step's noise ``eta sigma_{t'}``;
    ``w = min(1, eta sigma_{t'} / (2 sigma_y G))``, and the injected noise is reduced by
    what the step brought. ``sigma_y = 0``: ``w = 1``.

    Parameters
    ----------
    y : Tensor, shape (B, 1, h, w)
        The measurement at the INN's coarse resolution (block-average it first when the
        observation is finer than the INN's coarse part).
    inn : DegradationINN
    sigma_y : float
        The noise std of ``y`` as given (after any block averaging).
    weight : float, optional
        A fixed ``w`` in (0, 1] for every step instead of the noise-aware rule.
    zeta : float
        INDIGO+'s gradient step (0: none; each step then costs no backward pass).

    Other parameters and the return value are :func:`ddnm`'s; the reconstruction has
    ``inn.factor`` times the size of ``y`` unless ``shape`` says otherwise.
    """
    if shape is None and isinstance(y, Tensor) and y.ndim == 4:
        shape = (y.shape[0], 1, y.shape[-2] * inn.factor, y.shape[-1] * inn.factor)
    shape = _check_problem(y, model, n_steps, sigma_y, shape)
    coarse_shape = (shape[0], 1, shape[-2] // inn.factor, shape[-1] // inn.factor)
    if tuple(y.shape) != coarse_shape:
        raise ValueError(f"y has shape {tuple(y.shape)} but the INN's coarse part of a "
                         f"{tuple(shape)} image has shape {coarse_shape}")
    if weight is not None and not 0 < weight <= 1:
        raise ValueError(f"weight must be in (0, 1] (or None: from sigma_y), got {weight!r}")
    probe = torch.randn(y.shape, generator=torch.Generator().manual_seed(0)).to(y)
    state = {"carried": 0.0}

    def consistent(x0):
        _, d = inn((x0 + 1) / 2)
        return 2 * inn.inverse(y, d) - 1, d

    def step_weight(d):
        if weight is not None:
            return weight
        if sigma_y == 0:
            return 1.0
        with torch.no_grad():  # the inverse's gain on an error of the measurement's size
            e = sigma_y * probe
            gain = float((inn.inverse(y + e, d) - inn.inverse(y, d)).pow(2).mean().sqrt()
                         / e.pow(2).mean().sqrt())
        noise = 2 * sigma_y * gain
        w = min(1.0, eta * _next_sigma(model, state["t_prev"]) / noise)
        state["carried"] = w * noise
        return w

    def x0_fn(x_t, t):
        if zeta > 0:
            x_t = x_t.detach().requires_grad_(True)
            with torch.enable_grad():
                eps, x0 = model.predict(x_t, t)
                x0c, d = consistent(x0)
                loss = (x0c.detach() - x0).pow(2).sum()
                state["grad"] = torch.autograd.grad(loss, x_t)[0]
            eps, x0, x0c = eps.detach(), x0.detach(), x0c.detach()
            d = [v.detach() for v in d]
        else:
            eps, x0 = model.predict(x_t, t)
            x0c, d = consistent(x0)
        return eps, x0 + step_weight(d) * (x0c - x0)

    def step(x_t, t, t_prev, eps, x0):
        x = ddim_step(x0, eps, model.schedule, t, t_prev, eta, generator, noise="ddnm",
                      carried=state["carried"])
        return x - zeta * state["grad"] if zeta > 0 and t_prev >= 0 else x

    with torch.set_grad_enabled(zeta > 0):
        return _reverse(model, _start(shape, generator), n_steps, x0_fn, step, callback,
                        progress, "INDigo", state)


def posterior_mean(solver: Callable, n_samples: int, generator: torch.Generator | None = None,
                   return_samples: bool = False, **kwargs) -> Tensor | tuple[Tensor, Tensor]:
    """Average ``n_samples`` runs of a sampler: an estimate of the posterior mean.

    Parameters
    ----------
    solver : callable
        :func:`ddnm`, :func:`dps`, :func:`diffpir`, :func:`indigo` (or any
        ``solver(..., generator=g)``).
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
        samples = model.sample(8, n_steps=20, generator=g)
    assert gain > 5, f"{info.get('file')}: the denoiser view gains only {gain:.2f} dB"
    train = data.random_patches([data.load_image(n) for n in data.TRAIN_IMAGES], 256, 32,
                                generator=g)
    assert abs(float(samples.mean() - train.mean())) < 0.1, (
        f"sample mean {float(samples.mean()):.2f}, training patches {float(train.mean()):.2f}")


weights.register_model("diffusion", DiffusionModel, check=check_shipped,
                       module="mbdl_teach.diffusion")
