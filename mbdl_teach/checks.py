"""Input checks shared by every module: one place that says what a noise level is.

``sigma`` is a noise standard deviation on the images' [0, 1] scale (``25 / 255`` for
"sigma 25"): a float, a 0-d or ``(B,)`` tensor, or ``None`` where a model can estimate it
(blind denoising).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["check_sigma"]


def check_sigma(sigma, batch: int, like: torch.Tensor | None = None,
                allow_none: bool = False) -> torch.Tensor | None:
    """``sigma`` as a ``(B,)`` tensor (or ``None`` when allowed).

    Parameters
    ----------
    sigma : float, Tensor of shape () or (B,), or None
        Noise standard deviation on the [0, 1] scale.
    batch : int
        The batch size ``B``.
    like : Tensor, optional
        The result takes its dtype and device (and keeps the autograd graph of a tensor
        ``sigma``); default float64 on the CPU, detached.
    allow_none : bool
        Accept ``None`` (blind use) and return it.

    Returns
    -------
    Tensor of shape (B,), or None

    Raises
    ------
    TypeError
        ``sigma`` is not a number, a tensor or (when allowed) None.
    ValueError
        Wrong shape, NaN, inf or a negative value.
    """
    if sigma is None:
        if not allow_none:
            raise ValueError("this denoiser needs the noise level sigma (got None)")
        return None
    if isinstance(sigma, torch.Tensor):
        s = sigma if like is not None else sigma.detach()
    elif isinstance(sigma, (int, float, np.floating, np.integer)) and not isinstance(sigma, bool):
        s = torch.tensor(float(sigma), dtype=torch.float64)
    else:
        raise TypeError(f"sigma must be a float, a (B,) tensor or None, got {type(sigma).__name__}")
    s = s.to(dtype=like.dtype if like is not None else torch.float64,
              device=like.device if like is not None else "cpu")
    if s.numel() == 1:
        s = s.reshape(()).expand(batch)
    elif tuple(s.shape) != (batch,):
        raise ValueError(f"sigma must be a float or a tensor of shape ({batch},), got shape "
                         f"{tuple(s.shape)}")
    if not torch.isfinite(s).all() or (s < 0).any():
        raise ValueError(f"sigma must be finite and >= 0 (on the [0, 1] scale, e.g. 25/255), "
                         f"got {s.detach().cpu().tolist()}")
    return s
