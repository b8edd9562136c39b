"""Mixed X-ray separation for paintings with a concealed design (chapter 08).

An X-ray of a panel painted on both sides, or of a painting over an abandoned one, shows
both designs superimposed: ``x = x1 + x2``. Only the visible surface has a colour
photograph ``r1``. Pu, Huang et al. (IEEE TIP 2022) model ``x1`` and ``x2`` as convolutional
sparse codes in one shared dictionary ``Xi``, with ``x1``'s codes also explaining the
photograph (``r1 ~ Omega * z1``), plus an *exclusion* term that keeps the edges of the two
components apart; they unfold the iterations into a network trained on the painting itself.

This module holds

* the data: :func:`synthetic_panel` (a documented, non-linear paint model applied to the
  bundled images) and :func:`load_panel` (a real X-ray and photograph pair from files);
* the baselines: :func:`regression_split` (``x1`` as a polynomial of ``r1``, fitted by least
  squares) and the network trained without the exclusion term;
* the method: :class:`ConvDictionary` (a convolutional dictionary as an operator),
  :class:`SeparationNet` (an :class:`~mbdl_teach.unfolding.Unfolded` subclass started from
  the regression split), :func:`exclusion_loss`, :func:`separation_loss`,
  :func:`train_separation` and :func:`separate`;
* the measure: :func:`mean_matched_psnr` and :func:`mean_matched_ssim` (the constant part
  of the split cannot be recovered from ``x`` and ``r1``).

Images are tensors: ``x`` (1, 1, H, W), ``r1`` (1, 3, H, W), values in [0, 1].
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import data, metrics, weights
from .operators import LinearOperator
from .training import History, fit
from .unfolding import Unfolded
from .wavelets import soft_threshold

__all__ = [
    "PIGMENTS", "Panel", "synthetic_panel", "paint_xray", "load_panel", "regression_split",
    "ConvDictionary", "SeparationNet", "ista_codes_step", "edge_map", "exclusion_loss",
    "separation_loss", "panel_batches", "train_separation", "separate", "allocate_residual",
    "mean_matched_psnr",
    "mean_matched_ssim",
]

# ------------------------------------------------------------------ the paint model
#: A painter's palette: name -> (colour in the photograph (RGB), X-ray density relative to
#: lead white). The densities follow what absorbs X-rays in old paint: lead white and
#: lead-tin yellow (lead), vermilion (mercury) absorb strongly; earths, blacks, lakes and
#: ultramarine (light elements) hardly at all. Values are illustrative, not measured.
PIGMENTS: dict[str, tuple[tuple[float, float, float], float]] = {
    "lead white": ((0.93, 0.92, 0.87), 1.00),
    "lead-tin yellow": ((0.92, 0.80, 0.33), 0.85),
    "vermilion": ((0.78, 0.20, 0.13), 0.70),
    "azurite": ((0.20, 0.34, 0.62), 0.35),
    "yellow ochre": ((0.76, 0.58, 0.26), 0.22),
    "green earth": ((0.44, 0.52, 0.36), 0.18),
    "raw umber": ((0.38, 0.27, 0.18), 0.20),
    "ultramarine": ((0.16, 0.19, 0.55), 0.08),
    "red lake": ((0.55, 0.11, 0.21), 0.04),
    "bone black": ((0.10, 0.09, 0.08), 0.12),
}
_LUMA = torch.tensor([0.2125, 0.7154, 0.0721])  # BT.709, as data.load_image


@dataclass
class Panel:
    """A synthetic mixed X-ray with its ground truth.

    Attributes
    ----------
    x : Tensor, shape (1, 1, H, W)
        The mixed X-ray ``x1 + x2 + noise``.
    r1 : Tensor, shape (1, 3, H, W)
        Photograph of the visible side.
    x1, x2 : Tensor, shape (1, 1, H, W)
        X-ray of the visible paint (with the ground layer) and of the concealed design.
    r2 : Tensor, shape (1, 3, H, W)
        How the concealed design would look (for display only: no method may use it).
    info : dict
        The sources, seed and model parameters.
    """

    x: torch.Tensor
    r1: torch.Tensor
    x1: torch.Tensor
    x2: torch.Tensor
    r2: torch.Tensor
    info: dict


def _smooth_field(size: tuple[int, int], scale: float, gen: torch.Generator) -> torch.Tensor:
    """Zero-mean, unit-std random field smoothed by a Gaussian of std ``scale`` pixels."""
    h, w = size
    noise = torch.randn(h, w, generator=gen, dtype=torch.float64)
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(w, dtype=torch.float64)[None, :]
    g = torch.exp(-2 * math.pi**2 * scale**2 * (fx**2 + fy**2))
    f = torch.fft.ifft2(torch.fft.fft2(noise) * g).real
    return ((f - f.mean()) / f.std().clamp_min(1e-12)).float()


def _source(img: str | torch.Tensor, size: int) -> torch.Tensor:
    if isinstance(img, str):
        return data.load_image(img, size=size, gray=False)
    if not isinstance(img, torch.Tensor) or img.ndim != 3 or img.shape[0] not in (1, 3):
        raise ValueError("an image must be a bundled image's name or a tensor of shape "
                         f"(1 or 3, H, W), got {getattr(img, 'shape', type(img).__name__)}")
    return img.float().clamp(0, 1)


def paint_xray(src: torch.Tensor, gen: torch.Generator, n_pigments: int = 5,
               thickness: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """A painting's photograph and the X-ray of its paint layer, from a source image.

    The model (all of it per pixel except the thickness field):

    1. *Palette.* ``n_pigments`` pigments are drawn from :data:`PIGMENTS` (always with lead
       white). A colour source keeps its colours as the photograph; a grey source is
       *painted*: its grey levels are split into ``n_pigments`` quantile bands, each band
       gets one pigment (darker pigments for darker bands), and the grey detail within a
       band is added back, so the photograph still shows the image.
    2. *Pigment abundances* ``w_j`` (summing to 1): a soft-max over the colour distance of
       each photograph pixel to the palette's colours (temperature 0.08).
    3. *Lead content* ``d = sum_j w_j rho_j + 0.25 L^2``: the pigments' densities, plus lead
       white mixed in to lighten (``L`` the photograph's luminance).
    4. *X-ray* ``1 - exp(-2 t d)`` (Beer-Lambert absorption, so brightness saturates), with a
       smooth paint-thickness field ``t = 1 + thickness * s`` the photograph cannot see.

    Returns
    -------
    photo : Tensor, shape (3, H, W), in [0, 1]
    xray : Tensor, shape (1, H, W), in [0, 1)
    """
    names = list(PIGMENTS)
    others = torch.randperm(len(names) - 1, generator=gen)[: n_pigments - 1] + 1
    chosen = [names[0]] + [names[int(i)] for i in others]
    cols = torch.tensor([PIGMENTS[n][0] for n in chosen])  # (P, 3)
    rho = torch.tensor([PIGMENTS[n][1] for n in chosen])
    if src.shape[0] == 1:  # paint the grey image with the palette
        g = src[0]
        order = torch.argsort(cols @ _LUMA)
        cols, rho = cols[order], rho[order]
        qs = torch.quantile(g.flatten()[::7], torch.linspace(0, 1, n_pigments + 1)[1:-1])
        band = torch.bucketize(g, qs)
        centres = torch.stack([g[band == j].mean() if (band == j).any() else g.mean()
                               for j in range(n_pigments)])
        soft = torch.softmax(-((g[None] - centres[:, None, None]) ** 2) / 0.002, dim=0)
        base = torch.einsum("phw,pc->chw", soft, cols)
        detail = g - torch.einsum("phw,p->hw", soft, centres)
        photo = (base + 0.8 * detail[None]).clamp(0, 1)
    else:
        photo = src
    dist = ((photo[None] - cols[:, :, None, None]) ** 2).sum(1)  # (P, H, W)
    w = torch.softmax(-dist / 0.08, dim=0)
    lum = torch.einsum("chw,c->hw", photo, _LUMA)
    d = torch.einsum("phw,p->hw", w, rho) + 0.25 * lum**2
    t = 1 + thickness * _smooth_field(tuple(photo.shape[1:]), photo.shape[-1] / 10, gen)
    xray = 1 - torch.exp(-2 * t.clamp_min(0.2) * d)
    return photo, xray[None]


def synthetic_panel(visible: str | torch.Tensor, concealed: str | torch.Tensor, seed: int = 0,
                    size: int = 256, noise: float = 0.005, double_sided: bool = True,
                    texture: float = 0.0, n_pigments: int = 5) -> Panel:
    """A mixed X-ray with ground truth, deterministic from ``seed``.

    ``x1 = 0.45 * X(visible) + ground``, ``x2 = 0.35 * X(concealed)`` (flipped left-right for
    the back of a double-sided panel), ``x = x1 + x2 + noise``, where ``X`` is the paint model
    of :func:`paint_xray` and the ground/support layer is ``0.08`` plus a smooth 0.02 ripple
    (and, with ``texture > 0``, a wood grain of that amplitude, which both sides share).

    Parameters
    ----------
    visible, concealed : str or Tensor (1 or 3, H, W)
        Bundled image names (see :func:`mbdl_teach.data.list_images`) or images.
        Report results on panels made from ``data.TEST_IMAGES`` only.
    seed : int
        Seeds the palettes, the thickness fields and the noise.
    size : int
        Side of the square panel (even, >= 16).
    noise : float
        Standard deviation of the Gaussian noise on ``x``.
    double_sided : bool
        Flip the concealed design left-right (it is seen through the panel).
    texture : float
        Amplitude of the wood grain (0: none).

    Returns
    -------
    Panel
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 16 or size % 2:
        raise ValueError(f"size must be an even integer >= 16, got {size!r}")
    if not (isinstance(noise, (int, float)) and noise >= 0):
        raise ValueError(f"noise must be a number >= 0, got {noise!r}")
    if not (isinstance(texture, (int, float)) and texture >= 0):
        raise ValueError(f"texture must be a number >= 0, got {texture!r}")
    if not (isinstance(n_pigments, int) and 2 <= n_pigments <= len(PIGMENTS)):
        raise ValueError(f"n_pigments must be an integer in [2, {len(PIGMENTS)}], got {n_pigments!r}")
    gen = torch.Generator().manual_seed(int(seed))
    src1, src2 = _source(visible, size), _source(concealed, size)
    if src1.shape[1:] != src2.shape[1:]:
        raise ValueError(f"the two images differ in size: {tuple(src1.shape[1:])} and "
                         f"{tuple(src2.shape[1:])}")
    r1, p1 = paint_xray(src1, gen, n_pigments)
    r2, p2 = paint_xray(src2, gen, n_pigments)
    if double_sided:
        r2, p2 = r2.flip(-1), p2.flip(-1)
    h, w = r1.shape[1:]
    ground = 0.08 + 0.02 * _smooth_field((h, w), w / 4, gen)[None]
    if texture > 0:
        yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                                torch.arange(w, dtype=torch.float32), indexing="ij")
        warp = 6 * _smooth_field((h, w), w / 8, gen)
        ground = ground + texture * torch.sin(2 * math.pi * (xx + warp) / 9)[None]
    x1 = 0.45 * p1 + ground
    x2 = 0.35 * p2
    eps = torch.randn(x1.shape, generator=gen) * float(noise)
    x = x1 + x2 + eps
    info = dict(visible=visible if isinstance(visible, str) else "tensor",
                concealed=concealed if isinstance(concealed, str) else "tensor", seed=int(seed),
                size=size, noise=float(noise), double_sided=bool(double_sided),
                texture=float(texture), n_pigments=n_pigments)
    return Panel(x[None], r1[None], x1[None], x2[None], r2[None], info)


def load_panel(xray: str | Path, photo: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A real, registered X-ray and colour photograph of the visible side, from files.

    Parameters
    ----------
    xray : path
        PNG or TIFF of the X-ray (grey, 8 or 16 bit; a colour file is converted to grey), or
        a folder holding ``xray.(png|tif|tiff)`` and ``photo.(png|tif|tiff)``.
    photo : path, optional
        PNG or TIFF of the photograph (RGB), registered to the X-ray (same size).

    Returns
    -------
    x : Tensor, shape (1, 1, H, W), in [0, 1]
    r1 : Tensor, shape (1, 3, H, W), in [0, 1]

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file, a grey photograph, or images of different sizes.
    """
    from PIL import Image

    xray = Path(xray)
    if photo is None:
        if not xray.is_dir():
            raise ValueError("give the X-ray and the photograph files, or a folder holding "
                             f"xray.png and photo.png; got only {xray}")
        found = {}
        for stem in ("xray", "photo"):
            hits = [p for ext in ("png", "tif", "tiff") for p in [xray / f"{stem}.{ext}"] if p.is_file()]
            if not hits:
                raise FileNotFoundError(f"no {stem}.png / {stem}.tif in {xray}")
            found[stem] = hits[0]
        xray, photo = found["xray"], found["photo"]
    photo = Path(photo)
    for p in (xray, photo):
        if not p.is_file():
            raise FileNotFoundError(f"no image file at {p}")

    def read(p: Path) -> np.ndarray:
        with Image.open(p) as im:
            arr = np.asarray(im)
        if arr.dtype == np.uint8:
            return arr.astype(np.float32) / 255
        if arr.dtype in (np.uint16, np.int32) or im.mode.startswith("I"):
            return arr.astype(np.float32) / (65535.0 if arr.max() > 255 else 255.0)
        arr = arr.astype(np.float32)
        return (arr - arr.min()) / max(float(arr.max() - arr.min()), 1e-12)

    xa, ra = read(xray), read(photo)
    if xa.ndim == 3:
        xa = xa[..., :3] @ _LUMA.numpy()
    if ra.ndim != 3 or ra.shape[-1] < 3:
        raise ValueError(f"the photograph must be an RGB image, got shape {ra.shape} from {photo}")
    if xa.shape[:2] != ra.shape[:2]:
        raise ValueError(f"the X-ray ({xa.shape[0]}x{xa.shape[1]}) and the photograph "
                         f"({ra.shape[0]}x{ra.shape[1]}) differ in size: register them first")
    x = torch.from_numpy(np.ascontiguousarray(xa, dtype=np.float32))[None, None]
    r1 = torch.from_numpy(np.ascontiguousarray(np.moveaxis(ra[..., :3], -1, 0), dtype=np.float32))
    return x.clamp(0, 1), r1[None].clamp(0, 1)


# ------------------------------------------------------------------ checks
def _check_pair(x, r1) -> None:
    for t, name, c in ((x, "x", 1), (r1, "r1", 3)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 4 or not torch.is_floating_point(t):
            raise ValueError(f"{name} must be a float tensor of shape (B, {c}, H, W), got "
                             f"{tuple(t.shape)} {t.dtype}")
    if x.shape[1] != 1:
        raise ValueError(f"x (the X-ray) must have one channel, got shape {tuple(x.shape)}")
    if r1.shape[1] != 3:
        raise ValueError(f"r1 must be an RGB photograph of shape (B, 3, H, W), got "
                         f"{tuple(r1.shape)} (a grey photograph will not do: the method "
                         "needs the colours)")
    if x.shape[0] != r1.shape[0] or x.shape[-2:] != r1.shape[-2:]:
        raise ValueError(f"the X-ray {tuple(x.shape)} and the photograph {tuple(r1.shape)} "
                         "differ in batch or size: register them first")
    if not (torch.isfinite(x).all() and torch.isfinite(r1).all()):
        raise ValueError("x or r1 contains NaN or inf")


def _check_weight(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 (a loss weight), got {value}")
    return float(value)


# ------------------------------------------------------------------ baseline: regression
def _monomials(r1: torch.Tensor, degree: int) -> torch.Tensor:
    """Features ``r^a g^b b^c`` with ``a + b + c <= degree`` (constant first), (B, M, H*W)."""
    b = r1.shape[0]
    ch = r1.reshape(b, 3, -1).double()
    feats = [torch.ones_like(ch[:, 0])]
    for a in range(degree + 1):
        for bb in range(degree + 1 - a):
            for c in range(degree + 1 - a - bb):
                if a + bb + c:
                    feats.append(ch[:, 0] ** a * ch[:, 1] ** bb * ch[:, 2] ** c)
    return torch.stack(feats, 1)


def regression_split(x: torch.Tensor, r1: torch.Tensor, degree: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """The regression baseline: ``x1`` as a polynomial of the photograph's colours.

    Fits ``x ~ sum_m c_m phi_m(r1)`` by least squares over the pixels (``phi`` the monomials
    of R, G, B up to ``degree``), then ``x1`` is the fit and ``x2 = x - x1``. Valid because
    the concealed design is independent of the visible photograph, so it does not leak into
    the fit (much). The fit's constant goes to ``x1``: the split of the mean is arbitrary.

    Parameters
    ----------
    x : Tensor, shape (B, 1, H, W)
    r1 : Tensor, shape (B, 3, H, W)
    degree : int
        1 to 6.

    Returns
    -------
    x1, x2 : Tensor, shape (B, 1, H, W) each, with ``x1 + x2 == x``
    """
    _check_pair(x, r1)
    if isinstance(degree, bool) or not isinstance(degree, int) or not 1 <= degree <= 6:
        raise ValueError(f"degree must be an integer in [1, 6], got {degree!r}")
    phi = _monomials(r1, degree).transpose(1, 2)  # (B, N, M)
    y = x.reshape(x.shape[0], -1, 1).double()
    coef = torch.linalg.lstsq(phi, y, driver="gelsd" if phi.device.type == "cpu" else None).solution
    x1 = (phi @ coef).reshape(x.shape).to(x.dtype)
    return x1, x - x1


# ------------------------------------------------------------------ dictionaries
def _dct_atoms(f: int) -> torch.Tensor:
    """The f*f orthonormal 2-D DCT-II atoms, lowest frequencies first, shape (f*f, f, f)."""
    n = torch.arange(f, dtype=torch.float64)
    c = torch.cos(math.pi * (2 * n[None] + 1) * n[:, None] / (2 * f)) * math.sqrt(2 / f)
    c[0] /= math.sqrt(2)
    atoms = torch.einsum("um,vn->uvmn", c, c).reshape(f * f, f, f)
    order = sorted(range(f * f), key=lambda k: (k // f + k % f, k))
    return atoms[order]


class ConvDictionary(LinearOperator):
    """A convolutional dictionary as an operator: ``Xi z = sum_k xi_k * z_k``.

    Circular convolutions (computed with FFTs), so the adjoint is exact and the normal
    operator is diagonal in Fourier: ``(Xi Xi^T)`` has symbol ``sum_k |xi_k(w)|^2``.

    Parameters
    ----------
    n_atoms : int
        Number of code channels K.
    filter_size : int
        Side f of each filter.
    out_channels : int
        Channels of ``Xi z`` (1 for an X-ray, 3 for a photograph).
    init : {"dct", "zeros"} or Tensor (out_channels, K, f, f)
        ``"dct"``: the f*f DCT atoms divided by f (a Parseval frame when ``K >= f*f``;
        further atoms start at zero), one copy per output channel.
    """

    def __init__(self, n_atoms: int, filter_size: int, out_channels: int = 1,
                 init: str | torch.Tensor = "dct"):
        super().__init__()
        for v, name in ((n_atoms, "n_atoms"), (filter_size, "filter_size"), (out_channels, "out_channels")):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        shape = (out_channels, n_atoms, filter_size, filter_size)
        if isinstance(init, torch.Tensor):
            if tuple(init.shape) != shape:
                raise ValueError(f"init filters must have shape {shape}, got {tuple(init.shape)}")
            w = init.float().clone()
        elif init == "dct":
            w = torch.zeros(shape)
            atoms = _dct_atoms(filter_size).float() / filter_size
            k = min(n_atoms, filter_size**2)
            w[:, :k] = atoms[:k]
        elif init == "zeros":
            w = torch.zeros(shape)
        else:
            raise ValueError(f"init must be 'dct', 'zeros' or a tensor, got {init!r}")
        self.filters = nn.Parameter(w)
        self.n_atoms, self.filter_size, self.out_channels = n_atoms, filter_size, out_channels

    def symbol(self, h: int, w: int) -> torch.Tensor:
        """The filters' 2-D DFT on an h x w grid (centred taps), shape (C, K, h, w//2+1)."""
        f = self.filter_size
        if h < f or w < f:
            raise ValueError(f"images must be at least {f}x{f} for {f}x{f} filters, got {h}x{w}")
        pad = F.pad(self.filters, (0, w - f, 0, h - f))
        pad = torch.roll(pad, (-(f // 2), -(f // 2)), dims=(-2, -1))
        return torch.fft.rfft2(pad)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 4 or z.shape[1] != self.n_atoms:
            raise ValueError(f"codes must have shape (B, {self.n_atoms}, H, W), got {tuple(z.shape)}")
        h, w = z.shape[-2:]
        s = self.symbol(h, w)
        out = torch.einsum("bkhw,ckhw->bchw", torch.fft.rfft2(z), s)
        return torch.fft.irfft2(out, s=(h, w))

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        if y.ndim != 4 or y.shape[1] != self.out_channels:
            raise ValueError(f"images must have shape (B, {self.out_channels}, H, W), got {tuple(y.shape)}")
        h, w = y.shape[-2:]
        s = self.symbol(h, w)
        out = torch.einsum("bchw,ckhw->bkhw", torch.fft.rfft2(y), s.conj())
        return torch.fft.irfft2(out, s=(h, w))

    def output_shape(self, shape):
        return (shape[0], self.out_channels, *shape[2:])

    def input_shape(self, shape):
        return (shape[0], self.n_atoms, *shape[2:])

    def pinv(self, y: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
        """The minimum-norm code of ``y``: ``Xi^T (Xi Xi^T + eps)^{-1} y`` (one channel)."""
        if self.out_channels != 1:
            raise ValueError("pinv is defined for a one-channel dictionary")
        h, w = y.shape[-2:]
        s = self.symbol(h, w)[0]  # (K, h, w')
        energy = (s.abs() ** 2).sum(0)
        yf = torch.fft.rfft2(y) / (energy + eps)
        return torch.fft.irfft2(yf * s.conj()[None], s=(h, w))


# ------------------------------------------------------------------ exclusion
def _grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def edge_map(x: torch.Tensor, levels: int = 3) -> torch.Tensor:
    """Multi-scale edge strength: mean over scales 1, 2, 4.. of ``|grad|`` (upsampled).

    Parameters
    ----------
    x : Tensor, shape (B, 1, H, W)

    Returns
    -------
    Tensor, shape (B, 1, H, W), >= 0
    """
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    for s in range(levels):
        xs = F.avg_pool2d(x, 2**s) if s else x
        gx, gy = _grad(xs)
        mag = F.pad(gx.abs(), (0, 1, 0, 0)) + F.pad(gy.abs(), (0, 0, 0, 1))
        out = out + F.interpolate(mag, size=(h, w), mode="nearest")
    return out / levels


def exclusion_loss(a: torch.Tensor, b: torch.Tensor, levels: int = 3) -> torch.Tensor:
    """The exclusion loss of Zhang, Ng & Chen (CVPR 2018), as Pu, Huang et al. use it.

    At each of ``levels`` scales (average-pooled by 2 each time), for both gradient
    directions: the gradients of ``b`` are rescaled to the mean magnitude of ``a``'s
    (``lambda = mean|grad a| / mean|grad b|``), both are squashed by ``2 sigmoid(.) - 1``,
    and the loss adds ``mean(ga^2 gb^2)^(1/4)``; the sum is divided by ``2 * levels``.
    Zero when no pixel has an edge in both images at any scale; positive otherwise.

    Parameters
    ----------
    a, b : Tensor, shape (B, C, H, W)
        The two components (H, W >= 2**levels).

    Returns
    -------
    Tensor, scalar
    """
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        raise TypeError("a and b must be torch.Tensors")
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"a and b must have one shape (B, C, H, W), got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be a positive integer, got {levels!r}")
    if min(a.shape[-2:]) < 2**levels:
        raise ValueError(f"images of {tuple(a.shape[-2:])} are too small for {levels} levels")
    loss = a.new_zeros(())
    for s in range(levels):
        if s:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        for ga, gb in zip(_grad(a), _grad(b)):
            lam = ga.abs().mean() / gb.abs().mean().clamp_min(1e-12)
            sa = 2 * torch.sigmoid(ga) - 1
            sb = 2 * torch.sigmoid(lam * gb) - 1
            m = (sa**2 * sb**2).mean()
            # m ** (1/4) with a zero (not infinite) gradient where m == 0
            loss = loss + torch.where(m > 0, m, torch.ones_like(m)) ** 0.25 * (m > 0)
    return loss / (2 * levels)


# ------------------------------------------------------------------ the network
def ista_codes_step(z1, z2, x, r1, Xi: LinearOperator, Omega: LinearOperator, step, theta1,
                    theta2, gamma):
    """One ISTA step on the codes of the two components.

    Proximal gradient on
    ``F = 1/2 ||x - Xi z1 - Xi z2||^2 + gamma/2 ||r1 - Omega z1||^2
    + ||theta1 . z1||_1 / step + ||theta2 . z2||_1 / step``::

        e  = x - Xi z1 - Xi z2
        z1 <- S_theta1(z1 + step (Xi^T e + gamma Omega^T (r1 - Omega z1)))
        z2 <- S_theta2(z2 + step  Xi^T e)

    ``theta1``, ``theta2`` broadcast against the codes (per atom, or per atom and pixel).
    """
    e = x - Xi(z1) - Xi(z2)
    g = Xi.adjoint(e)
    v1 = z1 + step * (g + gamma * Omega.adjoint(r1 - Omega(z1)))
    v2 = z2 + step * g
    return (soft_threshold(v1, theta1, check=False),
            soft_threshold(v2, theta2, check=False))


class SeparationNet(Unfolded):
    """The unfolded separation network, started from the regression split.

    State: the codes ``(z1, z2)`` stacked as (B, 2K, H, W). ``init`` codes the regression
    split with the dictionary's pseudo-inverse (``z_i = Xi^+ x_i^reg``), so the untrained
    network returns the regression split exactly. Layer ``k`` is :func:`ista_codes_step`
    with its own step, per-atom thresholds and photograph weight ``gamma_k``, and the
    exclusion term as coupled thresholds: ``z1``'s threshold grows with the multi-scale
    edge map of ``x2`` (weight ``mu1_k``) and ``z2``'s with that of ``x1`` — a reweighted
    ``l1`` form of ``||E(x1) . E(x2)||_1``. Untrained, thresholds, couplings and ``gamma``
    are zero and each layer is an exact gradient step, which leaves the start unchanged.
    Synthesis: ``x_i = Xi z_i`` with one shared dictionary; the photograph is re-synthesised
    from ``x1``'s codes as ``Omega z1`` (the paper's model ``r1 ~ Omega * z1``).

    Parameters
    ----------
    n_layers : int
    n_atoms : int
        Code channels K per component.
    filter_size : int
        Side of the dictionary filters.
    degree : int
        Degree of the regression split the network starts from (default 3: on two of three
        panels of training images, and on average, degree 3 beat degree 2 as a start).
    """

    def __init__(self, n_layers: int = 5, n_atoms: int = 16, filter_size: int = 4, degree: int = 3):
        super().__init__()
        if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
            raise ValueError(f"n_layers must be a positive integer, got {n_layers!r}")
        if isinstance(degree, bool) or not isinstance(degree, int) or not 1 <= degree <= 6:
            raise ValueError(f"degree must be an integer in [1, 6], got {degree!r}")
        self.n_layers, self.degree = n_layers, degree
        self.config = dict(n_layers=n_layers, n_atoms=n_atoms, filter_size=filter_size, degree=degree)
        self.Xi = ConvDictionary(n_atoms, filter_size, 1, "dct")
        omega = torch.zeros(3, n_atoms, filter_size, filter_size)
        omega[:, : min(n_atoms, filter_size**2)] = self.Xi.filters.detach()[0, : min(n_atoms, filter_size**2)]
        self.Omega = ConvDictionary(n_atoms, filter_size, 3, omega)
        T, K = n_layers, n_atoms
        self.step = nn.Parameter(torch.full((T,), 0.5))
        self.theta = nn.Parameter(torch.zeros(T, 2, K))
        self.mu = nn.Parameter(torch.zeros(T, 2))
        self.gamma = nn.Parameter(torch.zeros(T))

    # -- Unfolded interface: y is the X-ray; side: r1, x1r, x2r
    def init(self, y, r1=None, x1r=None, x2r=None):
        _check_pair(y, r1)
        if x1r is None or x2r is None:
            with torch.no_grad():
                x1r, x2r = regression_split(y, r1, self.degree)
        return torch.cat([self.Xi.pinv(x1r), self.Xi.pinv(x2r)], 1)

    def layer(self, k, z, y, r1=None, x1r=None, x2r=None):
        # ista_codes_step computed in Fourier space (one FFT per tensor, shared symbols)
        K = self.Xi.n_atoms
        h, w = z.shape[-2:]
        s = self.Xi.symbol(h, w)[0]  # (K, h, w')
        zf = torch.fft.rfft2(z)
        z1f, z2f = zf[:, :K], zf[:, K:]
        x1f, x2f = (z1f * s).sum(1, keepdim=True), (z2f * s).sum(1, keepdim=True)
        gf = (torch.fft.rfft2(y) - x1f - x2f) * s.conj()  # Xi^T e
        gamma = self.gamma[k].clamp(min=0)
        g1f = gf
        if self.training or bool(gamma > 0):
            so = self.Omega.symbol(h, w)  # (3, K, h, w')
            rf = torch.fft.rfft2(r1) - (z1f[:, None] * so).sum(2)  # r1 - Omega z1
            g1f = gf + gamma * (rf[:, :, None] * so.conj()).sum(1)
        step = self.step[k]
        v1 = z[:, :K] + step * torch.fft.irfft2(g1f, s=(h, w))
        v2 = z[:, K:] + step * torch.fft.irfft2(gf, s=(h, w))
        th = self.theta[k].clamp(min=0)[:, :, None, None]  # (2, K, 1, 1)
        t1, t2 = th[0], th[1]
        mu = self.mu[k].clamp(min=0)
        if self.training or bool((mu > 0).any()):
            x1, x2 = torch.fft.irfft2(x1f, s=(h, w)), torch.fft.irfft2(x2f, s=(h, w))
            t1 = t1 + mu[0] * edge_map(x2)
            t2 = t2 + mu[1] * edge_map(x1)
        return torch.cat([soft_threshold(v1, t1, check=False),
                          soft_threshold(v2, t2, check=False)], 1)

    def codes(self, x, r1, n_layers=None, x1r=None, x2r=None):
        """The codes ``(z1, z2)`` after ``n_layers`` layers, (B, K, H, W) each."""
        z = Unfolded.forward(self, x, n_layers=n_layers, r1=r1, x1r=x1r, x2r=x2r)
        K = self.Xi.n_atoms
        return z[:, :K], z[:, K:]

    def forward(self, x, r1, n_layers=None, x1r=None, x2r=None):
        """Separate: ``(x1, x2)``, each (B, 1, H, W)."""
        z1, z2 = self.codes(x, r1, n_layers, x1r, x2r)
        return self.Xi(z1), self.Xi(z2)


# ------------------------------------------------------------------ losses and training
def separation_loss(photo: float = 0.5, exclusion: float = 1.0, supervised: bool = False) -> Callable:
    """The training loss ``loss_fn(net, batch)`` for :func:`mbdl_teach.training.fit`.

    Self-supervised (the paper's): ``MSE(x1 + x2, x) + photo * MSE(Omega z1, r1)
    + exclusion * exclusion_loss(x1, x2)``. Supervised (the upper bound, needs the truth in
    the batch): ``MSE(x1 - mean, x1* - mean) + MSE(x2 - mean, x2* - mean)`` (means removed:
    the constant part of the split is not identifiable). A batch is the dict of
    :func:`panel_batches`.
    """
    photo, exclusion = _check_weight(photo, "photo"), _check_weight(exclusion, "exclusion")

    def loss_fn(net, b):
        z1, z2 = net.codes(b["x"], b["r1"], x1r=b["x1r"], x2r=b["x2r"])
        x1, x2 = net.Xi(z1), net.Xi(z2)
        if supervised:
            def c(t):
                return t - t.mean(dim=(-2, -1), keepdim=True)
            return F.mse_loss(c(x1), c(b["x1"])) + F.mse_loss(c(x2), c(b["x2"]))
        loss = F.mse_loss(x1 + x2, b["x"])
        if photo:
            loss = loss + photo * F.mse_loss(net.Omega(z1), b["r1"])
        if exclusion:
            loss = loss + exclusion * exclusion_loss(x1, x2)
        return loss

    return loss_fn


def panel_batches(x, r1, patch: int = 64, batch: int = 16, degree: int = 2,
                  x1=None, x2=None) -> Callable:
    """``batches(step, gen)`` of random patches of one panel, for :func:`training.fit`.

    Each batch is a dict with ``x``, ``r1`` and the panel-wide regression split ``x1r``,
    ``x2r`` (computed once on the whole panel), plus ``x1``, ``x2`` when the truth is given.
    """
    _check_pair(x, r1)
    h, w = x.shape[-2:]
    if not (isinstance(patch, int) and 8 <= patch <= min(h, w)):
        raise ValueError(f"patch must be an integer in [8, {min(h, w)}], got {patch!r}")
    with torch.no_grad():
        x1r, x2r = regression_split(x, r1, degree)
    full = dict(x=x, r1=r1, x1r=x1r, x2r=x2r)
    if x1 is not None:
        full.update(x1=x1, x2=x2)

    def batches(step, gen):
        i = torch.randint(0, h - patch + 1, (batch,), generator=gen)
        j = torch.randint(0, w - patch + 1, (batch,), generator=gen)
        return {k: torch.stack([v[0, :, a:a + patch, b:b + patch] for a, b in zip(i.tolist(), j.tolist())])
                for k, v in full.items()}

    return batches


def train_separation(net: SeparationNet, x, r1, n_steps: int = 300, lr: float = 3e-4,
                     photo: float = 0.5, exclusion: float = 1.0, supervised: bool = False,
                     truth: tuple | None = None, seconds: float | None = None,
                     check_every: int = 25, patience: int = 2, early_stop: bool = True,
                     patch: int | None = None, batch: int = 8,
                     seed: int = 0, progress: bool = False, checkpoint=None) -> History:
    """Train ``net`` on one panel with :func:`training.fit`; keep the best state.

    Self-supervised (``supervised=False``): every ``check_every`` steps the exclusion loss of
    the whole panel's split is measured; training stops when it has risen above its best
    for ``patience`` checks in a row (or after ``seconds``), and the network returns to the
    state with the lowest exclusion loss seen (the start, the regression split, counts).
    Supervised: ``truth = (x1, x2)`` and the MSE against it decides instead. With
    ``early_stop=False`` (the ablation: no exclusion anywhere, not even to choose when to
    stop) it trains all ``n_steps`` and keeps the last state; the checks are still recorded.

    Returns
    -------
    History (``val_steps`` / ``val_values``: the monitored loss at each check)
    """
    if supervised and truth is None:
        raise ValueError("the supervised variant needs truth=(x1, x2)")
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    _check_pair(x, r1)
    if patch is None:
        patch = min(48, *x.shape[-2:])
    batches = panel_batches(x, r1, patch, batch, net.degree,
                            *(truth if truth is not None else (None, None)))
    with torch.no_grad():
        x1r, x2r = regression_split(x, r1, net.degree)

    def monitor(model) -> float:
        was = model.training
        model.eval()
        with torch.no_grad():
            a, b = model(x, r1, x1r=x1r, x2r=x2r)
            if supervised:
                v = float(F.mse_loss(a - a.mean(), truth[0] - truth[0].mean())
                          + F.mse_loss(b - b.mean(), truth[1] - truth[1].mean()))
            else:
                v = float(exclusion_loss(a, b))
        model.train(was)
        return v

    best = {"value": monitor(net), "state": {k: v.clone() for k, v in net.state_dict().items()},
            "step": 0, "worse": 0}
    t0 = time.perf_counter()

    def callback(step, model, hist):
        if step % check_every and not (seconds and time.perf_counter() - t0 > seconds):
            return False
        v = monitor(model)
        hist.val_steps.append(step)
        hist.val_values.append(v)
        if not early_stop:
            best.update(state={k: t.clone() for k, t in model.state_dict().items()}, step=step)
        elif v < best["value"]:
            best.update(value=v, state={k: t.clone() for k, t in model.state_dict().items()},
                        step=step, worse=0)
        else:
            best["worse"] += 1
        return ((early_stop and best["worse"] >= patience)
                or bool(seconds and time.perf_counter() - t0 > seconds))

    hist = fit(net, separation_loss(photo, exclusion, supervised), batches, n_steps, lr=lr,
               seed=seed, progress=progress, callbacks=[callback], checkpoint=checkpoint,
               desc="supervised" if supervised else "self-supervised")
    if early_stop or hist.steps % check_every == 0:
        net.load_state_dict(best["state"])
        net.best_step = best["step"]
    else:
        net.best_step = hist.steps
    net.eval()
    return hist


def separate(x: torch.Tensor, r1: torch.Tensor, net: SeparationNet | None = None,
             train_seconds: float | None = 60.0, seed: int = 0, n_steps: int = 150,
             exclusion: float = 1.0, photo: float = 0.5, lr: float = 3e-4,
             resynthesise: bool = True, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Separate a mixed X-ray ``x`` given the photograph ``r1`` of the visible side.

    Without ``net``, a fresh :class:`SeparationNet` (5 layers, 16 atoms, 4x4 filters, seeded
    by ``seed``) is trained self-supervised on this panel (at most ``n_steps`` steps and
    ``train_seconds`` seconds; ``train_seconds=None`` for a reproducible, step-bounded run).
    The default budget, 150 steps, was chosen on panels of training images: run longer, the
    exclusion loss kept falling while ``x2`` got worse (``benchmarks/xray_separation.py
    --budget``).
    With ``resynthesise`` (default), what the network's thresholds left out of ``x1 + x2``
    is shared evenly between the two (:func:`allocate_residual`), so ``x1 + x2 == x``.

    Returns
    -------
    x1, x2 : Tensor, shape (B, 1, H, W) each
    """
    _check_pair(x, r1)
    photo, exclusion = _check_weight(photo, "photo"), _check_weight(exclusion, "exclusion")
    if net is None:
        with torch.random.fork_rng():
            torch.manual_seed(int(seed))
            net = SeparationNet(5, 16, 4)
        net = net.to(x.device)
        train_separation(net, x, r1, n_steps=n_steps, lr=lr, photo=photo, exclusion=exclusion,
                         seconds=train_seconds, seed=seed, **kwargs)
    elif not isinstance(net, SeparationNet):
        raise TypeError(f"net must be a SeparationNet, got {type(net).__name__}")
    net.eval()
    with torch.no_grad():
        x1, x2 = net(x, r1)
    return allocate_residual(x, x1, x2) if resynthesise else (x1, x2)


def allocate_residual(x: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Share the re-synthesis error ``e = x - x1 - x2`` evenly: ``(x1 + e/2, x2 + e/2)``.

    The "even allocation of the error map" step of Pu et al.'s earlier separation work: the
    result re-synthesises ``x`` exactly (noise included).
    """
    e = x - x1 - x2
    return x1 + e / 2, x2 + e / 2


# ------------------------------------------------------------------ measures
def _matched(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    if not (isinstance(est, torch.Tensor) and isinstance(ref, torch.Tensor)):
        raise TypeError("est and ref must be torch.Tensors")
    if est.shape != ref.shape:
        raise ValueError(f"est {tuple(est.shape)} and ref {tuple(ref.shape)} differ in shape")
    dims = tuple(range(1, est.ndim)) if est.ndim == 4 else tuple(range(est.ndim))
    return est - est.mean(dims, keepdim=True) + ref.mean(dims, keepdim=True)


def mean_matched_psnr(est: torch.Tensor, ref: torch.Tensor) -> float:
    """PSNR (dB, peak 1) after giving ``est`` the mean of ``ref``.

    The constant part of the split between ``x1`` and ``x2`` cannot be recovered from ``x``
    and ``r1``, so it is not scored. A float for one image (or a batch of one), else a
    tensor of shape (B,).
    """
    v = metrics.psnr(_matched(est, ref), ref, data_range=1.0)
    return float(v[0]) if isinstance(v, torch.Tensor) and v.numel() == 1 else v


def mean_matched_ssim(est: torch.Tensor, ref: torch.Tensor) -> float:
    """SSIM (peak 1) after giving ``est`` the mean of ``ref``."""
    v = metrics.ssim(_matched(est, ref), ref, data_range=1.0)
    return float(v[0]) if isinstance(v, torch.Tensor) and v.numel() == 1 else v


# ------------------------------------------------------------------ registry
def check_shipped(net: nn.Module, info: dict) -> None:
    """Check of a shipped per-panel network: on its own panel, its ``x2`` scores what the
    manifest records (within 0.05 dB)."""
    p = info["panel"]
    panel = synthetic_panel(p["visible"], p["concealed"], seed=p["seed"], size=p["size"])
    with torch.no_grad():
        _, x2 = net(panel.x, panel.r1)
    got = mean_matched_psnr(x2, panel.x2)
    assert abs(got - info["psnr_x2"]) < 0.05, f"x2 PSNR {got:.2f} dB, manifest {info['psnr_x2']}"


weights.register_model("xray_separation", SeparationNet, check=check_shipped)
