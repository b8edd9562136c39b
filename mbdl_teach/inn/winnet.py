"""WINNet: the learned lifting transform, a convolutional LISTA on its details, noise estimation.

See :mod:`mbdl_teach.inn` for the ideas and {cite}`huang2022winnet` for the network.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_sigma
from ..unfolding import Unfolded
from ..wavelets import MAD_CONSTANT
from .blocks import LINN, NoiseSoftThreshold, SigmaLike, _check_image, _check_int, _conv

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
    _check_image(y, y.shape[1] if isinstance(y, Tensor) and y.ndim == 4 else 1, 2, "y")
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


# ------------------------------------------------------------------ WINNet
def _largest_singular_value(m: Tensor) -> Tensor:
    """``||m||_2`` from the eigenvalues of the smaller Gram matrix (cheaper than an SVD)."""
    g = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    return torch.linalg.eigvalsh(g)[-1].clamp_min(0).sqrt()


class WINNet(nn.Module):
    """Wavelet-inspired invertible network for denoising {cite}`huang2022winnet`.

    ``levels`` LINNs give a redundant multi-scale transform; a convolutional LISTA removes
    noise from each level's detail channels; the inverse LINNs rebuild the image from the
    denoised details and the untouched coarse channel.

    Parameters
    ----------
    in_channels : int
    levels : int
        Scales ``K``; level ``i`` re-decomposes level ``i - 1``'s coarse channel with
        dilation ``min(2**i, 2)``.
    steps, hidden, blocks : int
        Lifting steps per level and the size of each predictor / updater.
    lista_iters, lista_channels : int
        Iterations and code channels of the convolutional LISTA (``lista_iters = 0``: one
        learned soft threshold per detail channel).
    split : {"dct4", "haar"}
    sigma_train_max : float, optional
        When set, the transform uses ``max(sigma, sigma_train_max)`` (the authors' rule
        that makes WINNet robust to noise levels below the training one); the LISTA
        always sees the actual ``sigma``.
    ortho_weight, spectral_weight : float
        Weights of :meth:`orthogonality_loss` and :meth:`spectral_penalty` in
        :meth:`loss`. The authors weigh them 10 and 0.1 against a data term
        ``sum of squares / (2 B)`` on 40x40 patches (800 times a mean square); the
        defaults are these weights rescaled to the mean-square error of :meth:`loss`.

    Notes
    -----
    The default configuration has 173,440 parameters, the count the authors' code gives
    for ``K = 1``.
    """

    def __init__(self, in_channels: int = 1, levels: int = 1, steps: int = 4, hidden: int = 32, blocks: int = 4,
                 lista_iters: int = 4, lista_channels: int = 64, split: str = "dct4",
                 sigma_train_max: float | None = None, ortho_weight: float = 10.0 / 800,
                 spectral_weight: float = 0.1 / 800):
        super().__init__()
        _check_int("levels", levels, 1)
        _check_int("lista_iters", lista_iters, 0)
        _check_int("lista_channels", lista_channels, 1)
        if sigma_train_max is not None:
            sigma_train_max = float(sigma_train_max)
            if not math.isfinite(sigma_train_max) or sigma_train_max < 0:
                raise ValueError(f"sigma_train_max must be a number >= 0 or None, got {sigma_train_max}")
            if sigma_train_max > 1:
                raise ValueError(f"sigma_train_max is on the [0, 1] scale (25/255 for sigma 25), got {sigma_train_max}")
        self.in_channels, self.levels, self.split_name = in_channels, levels, split
        self.sigma_train_max = sigma_train_max
        self.ortho_weight, self.spectral_weight = float(ortho_weight), float(spectral_weight)
        self.linns = nn.ModuleList(
            LINN(in_channels, steps, hidden, blocks, split, dilation=min(2**i, 2)) for i in range(levels)
        )
        nd = self.linns[0].split.detail_channels
        self.denoisers = nn.ModuleList(ConvLISTA(nd, lista_channels, lista_iters) for _ in range(levels))

    @property
    def min_size(self) -> int:
        """Smallest height and width the transform accepts."""
        return max(linn.min_size for linn in self.linns)

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    # -------------------------------------------------------------- inputs
    def _inputs(self, y: Tensor, sigma: SigmaLike, name: str = "y") -> Tensor:
        _check_image(y, self.in_channels, self.min_size, name)
        return check_sigma(sigma, y.shape[0], like=y)

    def _sigma_transform(self, s: Tensor) -> Tensor:
        if self.sigma_train_max is None:
            return s
        return s.clamp_min(self.sigma_train_max)

    # -------------------------------------------------------------- transform
    def transform(self, x: Tensor, sigma: SigmaLike) -> list[tuple[Tensor, Tensor]]:
        """Multi-scale forward transform.

        Parameters
        ----------
        x : Tensor, shape (B, C, H, W)
        sigma : float or Tensor of shape (B,)
            Noise level; the transform uses ``max(sigma, sigma_train_max)`` when set.

        Returns
        -------
        list of (c, d), one per level
            ``c`` (B, C, H, W), ``d`` (B, 15 C, H, W); level ``i`` splits level ``i-1``'s ``c``.
        """
        s = self._sigma_transform(self._inputs(x, sigma, "x"))
        coeffs, c = [], x
        for linn in self.linns:
            c, d = linn(c, s)
            coeffs.append((c, d))
        return coeffs

    def inverse_transform(self, coeffs: Sequence[tuple[Tensor, Tensor]], sigma: SigmaLike) -> Tensor:
        """Exact inverse of :meth:`transform`.

        Only the last level's ``c`` is used: each level's coarse channel is rebuilt from the
        next level's coefficients (as in a wavelet reconstruction).
        """
        if not isinstance(coeffs, (list, tuple)) or len(coeffs) != self.levels:
            raise ValueError(f"coeffs must be a list of {self.levels} (c, d) pairs, got "
                             f"{len(coeffs) if isinstance(coeffs, (list, tuple)) else type(coeffs).__name__}")
        c = coeffs[-1][0]
        s = self._sigma_transform(check_sigma(sigma, c.shape[0], like=c))
        for linn, (_, d) in zip(reversed(self.linns), reversed(list(coeffs))):
            c = linn.inverse(c, d, s)
        return c

    # -------------------------------------------------------------- denoising
    def forward(self, y: Tensor, sigma: SigmaLike) -> Tensor:
        """Non-blind denoising: transform, LISTA on the details, inverse transform.

        Parameters
        ----------
        y : Tensor, shape (B, C, H, W)
            Noisy images.
        sigma : float or Tensor of shape (B,)
            Noise standard deviation on the [0, 1] scale.

        Returns
        -------
        Tensor, shape (B, C, H, W)
        """
        s = self._inputs(y, sigma)
        coeffs = self.transform(y, s)
        clean = [(c, dn(d, s)) for (c, d), dn in zip(coeffs, self.denoisers)]
        return self.inverse_transform(clean, s)

    @staticmethod
    def estimate_sigma(y: Tensor, method: str = "mad") -> Tensor:
        """Noise level of each image, shape (B,): see :func:`estimate_sigma`."""
        return estimate_sigma(y, method)

    def denoise(self, y: Tensor, sigma: SigmaLike | None = None) -> Tensor:
        """Denoise ``y``; blind (``sigma`` from :meth:`estimate_sigma`) when ``sigma`` is None."""
        if sigma is None:
            _check_image(y, self.in_channels, self.min_size, "y")
            sigma = self.estimate_sigma(y)
        return self(y, sigma)

    # -------------------------------------------------------------- training
    def orthogonality_loss(self) -> Tensor:
        """Mean over levels of ``||delta - S * A||^2`` of each LISTA (zero without LISTA)."""
        return torch.stack([dn.orthogonality() for dn in self.denoisers]).mean()

    def spectral_penalty(self) -> Tensor:
        """Mean over the predictors / updaters of the sum of their convolutions' largest
        singular values (each weight matricised as ``(out, in * k * k)``): a simplified form
        of the authors' penalty on the linearised P/U networks, which keeps the lifting
        steps, and so the inverse, well conditioned."""
        terms = []
        for linn in self.linns:
            for step in linn.steps:
                for net in (step.predict, step.update):
                    ws = [m.weight for m in net.modules() if isinstance(m, nn.Conv2d) and m is not net.conv_out]
                    terms.append(sum(_largest_singular_value(w.flatten(1)) for w in ws))
        if not terms:
            return next(self.parameters()).new_zeros(())
        return torch.stack(terms).mean()

    def loss(self, clean: Tensor, noisy: Tensor, sigma: SigmaLike) -> Tensor:
        """Training loss: ``MSE(forward(noisy, sigma), clean)`` plus the weighted regularisers."""
        _check_image(clean, self.in_channels, self.min_size, "clean")
        if clean.shape != getattr(noisy, "shape", None):
            raise ValueError(f"clean and noisy must have the same shape, got {tuple(clean.shape)} and "
                             f"{tuple(getattr(noisy, 'shape', ()))}")
        out = F.mse_loss(self(noisy, sigma), clean)
        if self.ortho_weight:
            out = out + self.ortho_weight * self.orthogonality_loss()
        if self.spectral_weight:
            out = out + self.spectral_weight * self.spectral_penalty()
        return out
