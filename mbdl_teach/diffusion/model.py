"""The generative model: noise schedules, the forward process, a small UNet, the reverse
steps (ancestral DDPM and DDIM) and the training objective."""


from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SCHEDULES", "Schedule", "q_sample", "UNet", "DiffusionModel", "ddpm_step",
           "ddim_step", "epsilon_loss", "diffusion_batches"]

SCHEDULES = ("linear", "cosine")


# ------------------------------------------------------------------ the noise schedule
class Schedule:
    """The variances of the forward process, ``beta_t`` for ``t = 0 .. T-1``.

    Parameters
    ----------
    kind : {"linear", "cosine"}
        ``"linear"``: ``beta`` from ``beta_start`` to ``beta_end`` (Ho et al.);
        ``"cosine"``: ``abar(t) = cos^2(pi/2 (t/T + s)/(1 + s))`` normalised, ``s = 0.008``
        (Nichol & Dhariwal 2021), betas clipped at 0.999.
    T : int
        Number of noising steps.

    Attributes
    ----------
    betas, alpha_bar : Tensor, shape (T,), float64
        ``alpha_bar[t] = prod_{s <= t} (1 - betas[s])``: ``x_t = sqrt(abar) x_0 +
        sqrt(1 - abar) eps``.
    """

    def __init__(self, kind: str = "linear", T: int = 1000, beta_start: float = 1e-4,
                 beta_end: float = 0.02):
        if kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {kind!r}; expected one of {SCHEDULES}")
        if isinstance(T, bool) or not isinstance(T, int) or T < 2:
            raise ValueError(f"T must be an integer >= 2, got {T!r}")
        if not 0 < beta_start <= beta_end < 1:
            raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {beta_start}, {beta_end}")
        self.kind, self.T = kind, T
        if kind == "linear":
            betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
        else:
            s = 0.008
            t = torch.arange(T + 1, dtype=torch.float64) / T
            f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
            betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
        self.betas = betas
        self.alpha_bar = torch.cumprod(1 - betas, 0)

    def __repr__(self) -> str:
        return f"Schedule({self.kind!r}, T={self.T})"

    def abar(self, t: Tensor | float) -> Tensor:
        """``alpha_bar`` at (possibly fractional) steps ``t`` in [0, T-1], interpolated
        linearly in ``log abar``; float64."""
        t = torch.as_tensor(t, dtype=torch.float64).clamp(0, self.T - 1)
        lo = t.floor().long()
        hi = (lo + 1).clamp(max=self.T - 1)
        w = t - lo
        la = self.alpha_bar.log()
        return ((1 - w) * la[lo] + w * la[hi]).exp()

    def sigma(self, t: Tensor | float) -> Tensor:
        """Noise level of ``x_t / sqrt(abar_t) = x_0 + sigma_t eps``:
        ``sigma_t = sqrt((1 - abar_t) / abar_t)`` (the [-1, 1] scale)."""
        a = self.abar(t)
        return ((1 - a) / a).sqrt()

    def t_of_sigma(self, sigma: Tensor | float) -> Tensor:
        """The fractional step whose :meth:`sigma` is ``sigma`` (clamped to the schedule's
        range); float64."""
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        target = -torch.log1p(sigma**2)  # log abar = -log(1 + sigma^2)
        la = self.alpha_bar.log()  # decreasing in t
        hi = torch.searchsorted(-la, -target).clamp(1, self.T - 1)
        lo = hi - 1
        w = ((la[lo] - target) / (la[lo] - la[hi])).clamp(0, 1)
        return lo + w

    def timesteps(self, n_steps: int) -> list[int]:
        """``n_steps`` evenly spaced steps from ``T-1`` down to 0 (the respaced sampler's).

        Raises
        ------
        ValueError
            ``n_steps`` is not an integer in 1..T.
        """
        if (isinstance(n_steps, bool) or not isinstance(n_steps, int)
                or not 1 <= n_steps <= self.T):
            raise ValueError(f"n_steps must be an integer in 1..{self.T} (the schedule's T), "
                             f"got {n_steps!r}")
        return torch.linspace(self.T - 1, 0, n_steps).round().long().tolist()


def _bcast(v: Tensor, like: Tensor) -> Tensor:
    return v.to(device=like.device, dtype=like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def q_sample(x0: Tensor, t: Tensor | int, schedule: Schedule, noise: Tensor | None = None,
             generator: torch.Generator | None = None) -> Tensor:
    """Draw ``x_t ~ q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)``.

    Parameters
    ----------
    x0 : Tensor, shape (B, C, H, W)
        Clean images on the model's scale ([-1, 1]).
    t : int or Tensor of shape (B,)
        Steps in 0..T-1.
    noise : Tensor, optional
        The standard normal noise (drawn from ``generator`` when not given).

    Returns
    -------
    Tensor, shape of ``x0``
    """
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator).to(x0)
    a = schedule.abar(torch.as_tensor(t).expand(x0.shape[0]))
    return _bcast(a.sqrt(), x0) * x0 + _bcast((1 - a).sqrt(), x0) * noise


# ------------------------------------------------------------------ the network
def _time_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of (fractional) steps ``t`` of shape (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    a = t.float()[:, None] * freqs[None]
    return torch.cat((a.sin(), a.cos()), dim=1)


class _ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, tdim: int, groups: int = 8):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(tdim, cout)
        self.norm2, self.conv2 = nn.GroupNorm(groups, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.temb(temb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class _Attention(nn.Module):
    def __init__(self, channels: int, heads: int = 4, groups: int = 8):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv, self.out = nn.Conv2d(channels, 3 * channels, 1), nn.Conv2d(channels, channels, 1)
        self.heads = heads

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        a = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2),
                                           v.transpose(-1, -2))
        return x + self.out(a.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """A small epsilon-prediction UNet: ``unet(x_t, t) -> eps`` (Ho et al.'s design, shrunk).

    Three resolutions (H, H/2, H/4) with ``channels`` features, one residual block per
    level on the way down and two on the way up (with skip connections), self-attention at
    the coarsest level and in the middle; the step ``t`` enters every block through a
    sinusoidal embedding.

    Parameters
    ----------
    in_channels : int
    channels : sequence of 3 ints
    tdim : int
        Width of the time embedding.

    Notes
    -----
    Input (B, C, H, W) with H and W multiples of 4; ``t`` of shape (B,) (fractional steps
    are allowed: the embedding is continuous).
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (32, 64, 64),
                 tdim: int = 128):
        super().__init__()
        if len(channels) != 3 or any(int(c) < 8 or int(c) % 8 for c in channels):
            raise ValueError(f"channels must be 3 multiples of 8, got {channels!r}")
        c1, c2, c3 = (int(c) for c in channels)
        self.in_channels, self.channels, self.tdim = in_channels, (c1, c2, c3), tdim
        self.t_mlp = nn.Sequential(nn.Linear(tdim, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.conv_in = nn.Conv2d(in_channels, c1, 3, padding=1)
        self.down1, self.down2 = _ResBlock(c1, c1, tdim), _ResBlock(c1, c2, tdim)
        self.down3, self.attn3 = _ResBlock(c2, c3, tdim), _Attention(c3)
        self.pool1 = nn.Conv2d(c1, c1, 3, stride=2, padding=1)
        self.pool2 = nn.Conv2d(c2, c2, 3, stride=2, padding=1)
        self.mid1, self.mid_attn, self.mid2 = _ResBlock(c3, c3, tdim), _Attention(c3), _ResBlock(c3, c3, tdim)
        self.up3, self.up_attn3 = _ResBlock(c3 + c3, c3, tdim), _Attention(c3)
        self.up2 = _ResBlock(c3 + c2, c2, tdim)
        self.up1 = _ResBlock(c2 + c1, c1, tdim)
        self.norm_out = nn.GroupNorm(8, c1)
        self.conv_out = nn.Conv2d(c1, in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        temb = self.t_mlp(_time_embedding(t, self.tdim))
        h1 = self.down1(self.conv_in(x), temb)                     # H
        h2 = self.down2(self.pool1(h1), temb)                       # H/2
        h3 = self.attn3(self.down3(self.pool2(h2), temb))           # H/4
        h = self.mid2(self.mid_attn(self.mid1(h3, temb)), temb)
        h = self.up_attn3(self.up3(torch.cat((h, h3), 1), temb))
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.up2(torch.cat((h, h2), 1), temb)
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.up1(torch.cat((h, h1), 1), temb)
        return self.conv_out(F.silu(self.norm_out(h)))


def _check_images(x, name: str = "x", multiple: int = 4) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}")
    if x.shape[-1] % multiple or x.shape[-2] % multiple:
        raise ValueError(f"{name} has size {tuple(x.shape[-2:])}: the UNet halves the image twice, "
                         f"so H and W must be multiples of {multiple} (crop or pad the image)")


class DiffusionModel(nn.Module):
    """An epsilon network and its noise schedule: a generative prior on images in [0, 1].

    Parameters
    ----------
    in_channels, channels, tdim :
        The :class:`UNet`'s.
    schedule : {"linear", "cosine"}
    T : int
        Steps of the forward process.
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (32, 64, 64),
                 tdim: int = 128, schedule: str = "linear", T: int = 1000):
        super().__init__()
        self.unet = UNet(in_channels, channels, tdim)
        self.schedule = Schedule(schedule, T)
        self.config = dict(in_channels=in_channels, channels=list(self.unet.channels), tdim=tdim,
                           schedule=schedule, T=T)

    @property
    def T(self) -> int:
        return self.schedule.T

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, x_t: Tensor, t: Tensor | float) -> Tensor:
        """The predicted noise ``eps(x_t, t)`` ([-1, 1] scale), shape of ``x_t``."""
        _check_images(x_t, "x_t")
        p = next(self.unet.parameters())
        t = torch.as_tensor(t, dtype=torch.float32).expand(x_t.shape[0]).to(p.device)
        return self.unet(x_t.to(p.device, p.dtype), t).to(x_t)

    def predict(self, x_t: Tensor, t: Tensor | float, clip: bool = True) -> tuple[Tensor, Tensor]:
        """``(eps, x0_hat)``: the noise estimate and Tweedie's estimate of the clean image,
        ``x0_hat = (x_t - sqrt(1 - abar) eps) / sqrt(abar)`` (clipped to [-1, 1])."""
        eps = self(x_t, t)
        a = _bcast(self.schedule.abar(torch.as_tensor(t).expand(x_t.shape[0])), x_t)
        x0 = (x_t - (1 - a).sqrt() * eps) / a.sqrt()
        return eps, (x0.clamp(-1, 1) if clip else x0)

    @torch.no_grad()
    def sample(self, n: int, n_steps: int = 50, eta: float = 1.0,
               generator: torch.Generator | None = None, size: int | tuple[int, int] = 32,
               sampler: str = "ddim", callback: Callable | None = None,
               progress: bool = False) -> Tensor:
        """Draw ``n`` images from the model.

        Parameters
        ----------
        n : int
        n_steps : int
            Network evaluations (the schedule respaced, at most ``T``).
        eta : float
            DDIM's noise: 0 is deterministic, 1 matches ancestral DDPM (``sampler="ddim"``).
        generator : torch.Generator, optional
            All the randomness (start and injected noise) comes from it.
        size : int or (H, W)
            Multiples of 4.
        sampler : {"ddim", "ddpm"}
            ``"ddpm"``: ancestral sampling with the posterior variance (:func:`ddpm_step`).
        callback : callable, optional
            ``callback(i, t, x_t, x0_hat)`` after each step.

        Returns
        -------
        Tensor, shape (n, C, H, W), in [0, 1]
        """
        if sampler not in ("ddim", "ddpm"):
            raise ValueError(f"sampler must be 'ddim' or 'ddpm', got {sampler!r}")
        if not 0 <= eta <= 1:
            raise ValueError(f"eta must be in [0, 1], got {eta!r}")
        h, w = (size, size) if isinstance(size, int) else size
        x = torch.randn((n, self.config["in_channels"], h, w), generator=generator)
        _check_images(x, "the sample")

        def x0_fn(x_t, t):
            return self.predict(x_t, t)

        def step(x_t, t, t_prev, eps, x0):
            if sampler == "ddpm":
                return ddpm_step(x_t, x0, self.schedule, t, t_prev, generator)
            return ddim_step(x0, eps, self.schedule, t, t_prev, eta, generator)

        return _reverse(self, x, n_steps, x0_fn, step, callback, progress, "sampling")


# ------------------------------------------------------------------ one reverse step
def _abar_prev(schedule: Schedule, t_prev: int) -> Tensor:
    return schedule.alpha_bar[t_prev] if t_prev >= 0 else torch.tensor(1.0, dtype=torch.float64)


def ddpm_step(x_t: Tensor, x0: Tensor, schedule: Schedule, t: int, t_prev: int,
              generator: torch.Generator | None = None) -> Tensor:
    """Ancestral step: draw ``x_{t_prev} ~ q(x_{t_prev} | x_t, x_0 = x0_hat)``.

    The posterior of the forward process between two (respaced) steps has mean
    ``(sqrt(abar_p) b / (1 - abar_t)) x0 + (sqrt(1 - b) (1 - abar_p) / (1 - abar_t)) x_t``
    and variance ``b (1 - abar_p) / (1 - abar_t)``, with ``b = 1 - abar_t / abar_p``.
    ``t_prev = -1`` means the end (``abar = 1``): the result is ``x0``.
    """
    a_t, a_p = schedule.alpha_bar[t], _abar_prev(schedule, t_prev)
    b = 1 - a_t / a_p
    mean = (a_p.sqrt() * b / (1 - a_t)) * x0 + ((1 - b).sqrt() * (1 - a_p) / (1 - a_t)) * x_t
    var = b * (1 - a_p) / (1 - a_t)
    if t_prev < 0:
        return mean
    return mean + float(var.sqrt()) * torch.randn(x_t.shape, generator=generator).to(x_t)


def ddim_step(x0: Tensor, eps: Tensor, schedule: Schedule, t: int, t_prev: int, eta: float,
              generator: torch.Generator | None = None, noise: str = "ddim",
              carried: float = 0.0) -> Tensor:
    """``x_{t_prev} = sqrt(abar_p) x0 + sqrt(1 - abar_p - s^2) eps + s z``.

    Parameters
    ----------
    noise : {"ddim", "ddnm"}
        How ``eta`` sets the fresh noise ``s``: ``"ddim"`` (Song et al.):
        ``s = eta sqrt((1 - abar_p)/(1 - abar_t)) sqrt(1 - abar_t/abar_p)``, so that
        ``eta = 1`` is DDPM and ``eta = 0`` deterministic; ``"ddnm"`` (Wang et al.):
        ``s = eta sqrt(1 - abar_p)``, the fraction ``eta`` of the whole noise, which suits
        samplers that move ``x0`` (projections) between steps.
    carried : float
        Std of noise that ``x0`` already carries (from a noisy measurement put into it,
        [-1, 1] scale): the fresh noise is reduced so that the total stays ``s``,
        ``s_fresh^2 = s^2 - abar_p carried^2`` (DDNM+'s noise-aware step, Wang et al.).
    """
    a_t, a_p = schedule.alpha_bar[t], _abar_prev(schedule, t_prev)
    if noise == "ddim":
        s = eta * ((1 - a_p) / (1 - a_t)).sqrt() * (1 - a_t / a_p).sqrt()
    elif noise == "ddnm":
        s = eta * (1 - a_p).sqrt()
    else:
        raise ValueError(f"noise must be 'ddim' or 'ddnm', got {noise!r}")
    out = float(a_p.sqrt()) * x0 + float((1 - a_p - s**2).clamp(min=0).sqrt()) * eps
    if carried:
        s = (s**2 - a_p * carried**2).clamp(min=0).sqrt()
    if t_prev < 0 or float(s) == 0:
        return out
    return out + float(s) * torch.randn(x0.shape, generator=generator).to(x0)


def _reverse(model: DiffusionModel, x: Tensor, n_steps: int, x0_fn: Callable, step: Callable,
             callback: Callable | None, progress: bool, desc: str,
             state: dict | None = None) -> Tensor:
    """The loop every sampler shares: from ``x`` at the first of ``n_steps`` respaced steps
    down to 0; ``x0_fn(x_t, t) -> (eps, x0)``, ``step(x_t, t, t_prev, eps, x0) -> x_prev``.
    ``state["t_prev"]``, when a dict is given, holds the step being made (for samplers
    whose ``x0_fn`` depends on it). Returns the last ``x0`` on the [0, 1] scale."""
    ts = model.schedule.timesteps(n_steps)
    it = range(len(ts))
    if progress:
        from ..progress import progress_bar

        it = progress_bar(it, desc=desc)
    x0 = x
    for i in it:
        t = ts[i]
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        if state is not None:
            state["t_prev"] = t_prev
        eps, x0 = x0_fn(x, t)
        x = step(x, t, t_prev, eps, x0).detach()
        if callback is not None:
            callback(i, t, x, x0)
    return ((x0.detach() + 1) / 2).clamp(0, 1)


# ------------------------------------------------------------------ training
def epsilon_loss(model: DiffusionModel, batch: Tensor | tuple) -> Tensor:
    """The denoising objective ``E ||eps - eps_theta(x_t, t)||^2`` with ``t`` uniform.

    ``batch`` is ``(x0, t, noise)`` as :func:`diffusion_batches` makes them (clean images in
    [0, 1], steps, standard normal noise), so that every random draw comes from the
    training loop's generator.
    """
    x0, t, noise = batch
    x_t = q_sample(2 * x0 - 1, t, model.schedule, noise=noise)
    return F.mse_loss(model(x_t, t), noise)


def diffusion_batches(images: Sequence[Tensor], patch: int, batch: int, T: int) -> Callable:
    """A batch source for :func:`epsilon_loss`: augmented random patches, steps and noise.

    Returns
    -------
    callable
        ``batches(step, generator) -> (x0, t, noise)``: ``x0`` (batch, C, patch, patch) in
        [0, 1], ``t`` (batch,) integers in 0..T-1, ``noise`` like ``x0``.
    """
    from ..data import augment, random_patches

    def batches(step: int, generator: torch.Generator):
        x0 = augment(random_patches(images, batch, patch, generator=generator), generator)
        t = torch.randint(T, (batch,), generator=generator)
        return x0, t, torch.randn(x0.shape, generator=generator)

    return batches
