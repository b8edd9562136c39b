"""The one interface of every denoiser: ``denoiser(x, sigma) -> x_hat``, and what every
trained denoiser shares (its loss, the check of a shipped one)."""

from __future__ import annotations

import torch
from torch import nn

from ..checks import check_sigma


def check_input(x, channels: int | None = None, multiple: int = 1) -> None:
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


# ------------------------------------------------------------------ the interface
class Denoiser(nn.Module):
    """Base class: ``denoiser(x, sigma) -> x_hat`` on ``(B, C, H, W)`` tensors.

    Subclasses implement :meth:`_denoise` (inputs already checked; ``sigma`` a float64
    ``(B,)`` CPU tensor or None). :meth:`forward` checks ``x`` and ``sigma`` and returns the
    result in ``x``'s dtype and on its device.

    Attributes
    ----------
    name : str
    channels : int or None
        Channel count the denoiser accepts (``None``: any).
    blind : bool
        Whether ``sigma=None`` is accepted.
    differentiable : bool
        Whether gradients flow from the output to ``x``.
    """

    name: str = "denoiser"
    channels: int | None = None
    blind: bool = False
    multiple: int = 1
    differentiable: bool = True

    def forward(self, x: torch.Tensor, sigma: float | torch.Tensor | None = None) -> torch.Tensor:
        """Denoise ``x`` of shape (B, C, H, W) at noise level ``sigma`` -> (B, C, H, W)."""
        check_input(x, self.channels, self.multiple)
        s = check_sigma(sigma, x.shape[0], allow_none=self.blind)
        return self._denoise(x, s).to(dtype=x.dtype, device=x.device)

    def _denoise(self, x: torch.Tensor, sigma: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def num_parameters(self) -> int:
        """Number of learned parameters (0 for classical denoisers)."""
        return sum(p.numel() for p in self.parameters())

    def extra_repr(self) -> str:
        return f"name={self.name!r}, parameters={self.num_parameters()}"


def denoising_loss(model: nn.Module, batch) -> torch.Tensor:
    """The training loss of a denoiser on ``(clean, noisy, sigma)`` batches.

    The model's own ``loss(clean, noisy, sigma)`` when it has one (WINNet adds its
    regularisers), else the mean squared error of ``model(noisy)``.
    """
    clean, noisy, sigma = batch
    if hasattr(model, "loss"):
        return model.loss(clean, noisy, sigma)
    return torch.mean((model(noisy) - clean) ** 2)


def check_gain(model: nn.Module, info: dict, min_gain_db: float = 4.0) -> None:
    """The check of a shipped denoiser: it gains > ``min_gain_db`` dB on a training crop.

    The noise level is the top of the range it was trained on (``info["data"]``).
    """
    from .. import data, metrics

    sigma = info["data"]["sigma_range_255"][1] / 255
    x = data.load_image("aero", 64)[None]
    y = data.add_gaussian_noise(x, sigma, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(y, torch.full((1,), sigma))
    gain = float(metrics.psnr(out.clamp(0, 1), x) - metrics.psnr(y, x))
    assert gain > min_gain_db, f"{info.get('file')}: gains {gain:.2f} dB at sigma {sigma * 255:g}"
