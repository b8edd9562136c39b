"""What WINNet does to the details of its transform: a convolutional LISTA, and the noise
level estimated from the image for blind use.

WINNet itself, the denoiser, is :class:`mbdl_teach.denoisers.WINNet`; see
:mod:`mbdl_teach.inn` for the ideas and {cite}`huang2022winnet` for the network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..unfolding import Unfolded
from ..wavelets import MAD_CONSTANT
from .blocks import NoiseSoftThreshold, _conv, check_image

# ------------------------------------------------------------------ the sparsity-driven denoiser
class ConvLISTA(Unfolded):
    """Convolutional LISTA with shared weights on the detail channels.

    ISTA on the codes ``g`` of the details ``x`` in the synthesis dictionary ``S``,
    ``min 1/2 ||x - S g||^2 + ||t . g||_1``, with the back-projection ``tau S^T`` learned as
    a convolution ``A`` (LISTA-CP's coupling): ``g_0 = A x``, then ``n_layers`` times
    ``g <- ST_k(g + A(x - S g))``; output ``S g``. With ``A = tau S^T`` it is ISTA with step
    ``tau``. With ``n_layers = 0`` it is a single soft threshold per detail channel (LINN's
    simplest denoiser).

    Parameters
    ----------
    channels : int
        Detail channels (15 for the DCT split).
    features : int
        Channels of the sparse code ``g``.
    n_layers : int
        Unrolled iterations (layers).
    """

    def __init__(self, channels: int = 15, features: int = 64, n_layers: int = 4):
        super().__init__()
        self.n_layers = n_layers
        if n_layers == 0:
            self.st = nn.ModuleList([NoiseSoftThreshold(channels)])
            self.A = self.S = None
        else:
            self.A = _conv(channels, features, 3)
            self.S = _conv(features, channels, 3)
            self.st = nn.ModuleList(NoiseSoftThreshold(features) for _ in range(n_layers))

    def init(self, y: Tensor, sigma: Tensor) -> Tensor:
        """``g_0 = A y``."""
        return self.A(y)

    def layer(self, k: int, g: Tensor, y: Tensor, sigma: Tensor) -> Tensor:
        """``g <- ST_k(g + A(y - S g))``: a gradient step on ``1/2 ||y - S g||^2`` through the
        learned back-projection, then the noise-scaled soft threshold."""
        return self.st[k](g + self.A(y - self.S(g)), sigma)

    def forward(self, x: Tensor, sigma: Tensor) -> Tensor:
        """The denoised details ``S g_T`` (B, channels, H, W)."""
        if self.n_layers == 0:
            return self.st[0](x, sigma)
        return self.S(Unfolded.forward(self, x, sigma=sigma))

    def orthogonality(self) -> Tensor:
        """``||delta - S * A||^2``: squared distance of the composed convolution from identity.

        Computed by passing an impulse in each channel through ``A`` then ``S`` on a grid
        just large enough for the composed 5x5 kernel (zero padding loses nothing).
        """
        if self.n_layers == 0:
            return self.st[0].theta.new_zeros(())
        c, k = self.A.in_channels, self.A.kernel_size[0]
        n = 2 * k - 1
        delta = self.A.weight.new_zeros(c, c, n, n)
        delta[torch.arange(c), torch.arange(c), n // 2, n // 2] = 1.0
        return ((self.S(self.A(delta)) - delta) ** 2).sum()


# ------------------------------------------------------------------ noise estimation
def _mad_highpass(y: Tensor) -> Tensor:
    """sigma = median(|HH|) / Phi^{-1}(3/4) (the "0.6745") on the non-overlapping 2x2 Haar diagonal band."""
    h, w = (y.shape[-2] // 2) * 2, (y.shape[-1] // 2) * 2
    y = y[..., :h, :w]
    hh = (y[..., 0::2, 0::2] - y[..., 0::2, 1::2] - y[..., 1::2, 0::2] + y[..., 1::2, 1::2]) / 2
    return hh.flatten(1).abs().median(dim=1).values / MAD_CONSTANT


def _pca_sigma(y: Tensor, patch: int, keep: float) -> Tensor:
    """sigma^2 = smallest eigenvalue of the covariance of the flattest patches."""
    out = []
    for img in y:
        p = F.unfold(img[None], patch, stride=max(1, patch // 2))[0].T  # (n, C p^2)
        p = p.double()
        # weights: keep the patches with the least high-pass energy (weak texture)
        hp = p.reshape(p.shape[0], -1, patch, patch)  # C is folded in; differences along x, y
        energy = (hp.diff(dim=-1) ** 2).mean(dim=(1, 2, 3)) + (hp.diff(dim=-2) ** 2).mean(dim=(1, 2, 3))
        m = max(p.shape[1] + 1, int(keep * p.shape[0]))
        sel = p[energy.argsort()[:m]]
        sel = sel - sel.mean(dim=0, keepdim=True)
        cov = sel.T @ sel / max(1, sel.shape[0] - 1)
        out.append(torch.linalg.eigvalsh(cov)[0].clamp_min(0).sqrt())
    return torch.stack(out).to(y.dtype)


def estimate_sigma(y: Tensor, method: str = "mad", patch: int = 4, keep: float = 1.0) -> Tensor:
    """Estimate the Gaussian noise level of each image (blind denoising).

    * ``"mad"`` (default): ``median(|HH|) / 0.6745`` on the non-overlapping 2x2 Haar
      diagonal band (Donoho's rule). On the training images with sigma 5-50 (in 255 units)
      its mean error was at most 1.6.
    * ``"pca"``: a small, unlearned form of the weighted PCA of {cite}`huang2022winnet`:
      white noise adds ``sigma^2`` to every eigenvalue of the covariance of image patches,
      and natural-image patches leave some direction with (almost) no signal, so
      ``sigma`` is the square root of the smallest eigenvalue of the covariance of the
      half-overlapping ``patch x patch`` patches. The paper *learns* a weight per patch to
      discount textured ones; here ``keep < 1`` keeps only the flattest fraction of patches
      (a 0/1 weighting), which biases the estimate low at high noise (the flattest noisy
      patches are those with the weakest noise draw). On the training images it was within
      about 2 (255 units) for sigma <= 50 with the defaults.

    Parameters
    ----------
    y : Tensor, shape (B, C, H, W)
    method : {"mad", "pca"}
    patch : int
        Patch side for ``"pca"``.
    keep : float in (0, 1]
        Fraction of the flattest patches kept by ``"pca"``.

    Returns
    -------
    Tensor, shape (B,)
        On the image's scale.
    """
    check_image(y, y.shape[1] if isinstance(y, Tensor) and y.ndim == 4 else 1, 2, "y")
    if method == "mad":
        return _mad_highpass(y)
    if method != "pca":
        raise ValueError(f"unknown method {method!r}; expected 'pca' or 'mad'")
    if y.shape[-1] < patch or y.shape[-2] < patch:
        raise ValueError(f"the PCA estimator needs images of at least {patch}x{patch}, got {tuple(y.shape[-2:])}")
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    with torch.no_grad():
        return _pca_sigma(y, patch, keep)
