"""The data of chapter 08: a documented, non-linear paint model that turns bundled images
into a synthetic mixed X-ray with its photograph and ground truth, and the loader of a real
X-ray and photograph pair."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import data


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


def _smooth_field(size: tuple[int, int], scale: float, generator: torch.Generator) -> torch.Tensor:
    """Zero-mean, unit-std random field smoothed by a Gaussian of std ``scale`` pixels."""
    h, w = size
    noise = torch.randn(h, w, generator=generator, dtype=torch.float64)
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


def paint_xray(src: torch.Tensor, generator: torch.Generator, n_pigments: int = 5,
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
    others = torch.randperm(len(names) - 1, generator=generator)[: n_pigments - 1] + 1
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
    t = 1 + thickness * _smooth_field(tuple(photo.shape[1:]), photo.shape[-1] / 10, generator)
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
    generator = torch.Generator().manual_seed(int(seed))
    src1, src2 = _source(visible, size), _source(concealed, size)
    if src1.shape[1:] != src2.shape[1:]:
        raise ValueError(f"the two images differ in size: {tuple(src1.shape[1:])} and "
                         f"{tuple(src2.shape[1:])}")
    r1, p1 = paint_xray(src1, generator, n_pigments)
    r2, p2 = paint_xray(src2, generator, n_pigments)
    if double_sided:
        r2, p2 = r2.flip(-1), p2.flip(-1)
    h, w = r1.shape[1:]
    ground = 0.08 + 0.02 * _smooth_field((h, w), w / 4, generator)[None]
    if texture > 0:
        yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                                torch.arange(w, dtype=torch.float32), indexing="ij")
        warp = 6 * _smooth_field((h, w), w / 8, generator)
        ground = ground + texture * torch.sin(2 * math.pi * (xx + warp) / 9)[None]
    x1 = 0.45 * p1 + ground
    x2 = 0.35 * p2
    eps = torch.randn(x1.shape, generator=generator) * float(noise)
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


def random_panels(n_panels: int, images: tuple[str, ...] | list[str] | None = None,
                  size: int = 128, noise: float | tuple[float, float] = (0.003, 0.02),
                  seed: int = 0, exclude: tuple = ()) -> list[Panel]:
    """``n_panels`` synthetic panels, each mixed from two different ``images`` at random.

    The pairs (ordered: visible, concealed) are drawn without replacement, the pairs in
    ``exclude`` left out; panel ``k`` is painted with seed ``seed * 1000 + k`` and, when
    ``noise`` is a range ``(low, high)``, noise of a standard deviation drawn log-uniformly
    in it. Deterministic from ``seed``.

    Parameters
    ----------
    n_panels : int
    images : sequence of str, optional
        Bundled image names (default ``data.TRAIN_IMAGES``: panels to train on).
    size : int
    noise : float or (float, float)
    seed : int
    exclude : sequence of (str, str)
        Pairs not to draw (for instance the validation panels').

    Returns
    -------
    list of Panel
    """
    images = tuple(data.TRAIN_IMAGES if images is None else images)
    pairs = [(a, b) for a in images for b in images if a != b and (a, b) not in set(exclude)]
    if isinstance(n_panels, bool) or not isinstance(n_panels, int) or not 1 <= n_panels <= len(pairs):
        raise ValueError(f"n_panels must be an integer in [1, {len(pairs)}] (the pairs of "
                         f"{len(images)} images), got {n_panels!r}")
    lo, hi = (noise, noise) if isinstance(noise, (int, float)) else noise
    if not 0 <= lo <= hi:
        raise ValueError(f"noise must be a number >= 0 or a range (low, high), got {noise!r}")
    g = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(len(pairs), generator=g)[:n_panels].tolist()
    u = torch.rand(n_panels, generator=g, dtype=torch.float64).tolist()
    out = []
    for k, i in enumerate(order):
        sd = lo if lo == hi or lo == 0 else lo * (hi / lo) ** u[k]
        out.append(synthetic_panel(*pairs[i], seed=int(seed) * 1000 + k, size=size,
                                   noise=float(sd)))
    return out
