"""Images that ship with PyWavelets and scikit-image (offline), noise and patches.

The bundled images are split once, here, into training images and held-out test images.
Every chapter tunes and trains on ``TRAIN_IMAGES`` and reports on ``TEST_IMAGES``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
import torch

# name -> (package, loader attribute)
_SOURCES: dict[str, tuple[str, str]] = {
    "camera": ("skimage", "camera"),
    "ascent": ("pywt", "ascent"),
    "aero": ("pywt", "aero"),
    "astronaut": ("skimage", "astronaut"),
    "coffee": ("skimage", "coffee"),
    "chelsea": ("skimage", "chelsea"),
    "brick": ("skimage", "brick"),
    "moon": ("skimage", "moon"),
    "text": ("skimage", "text"),
    "coins": ("skimage", "coins"),
    "page": ("skimage", "page"),
    "clock": ("skimage", "clock"),
    "rocket": ("skimage", "rocket"),
    "grass": ("skimage", "grass"),
    "gravel": ("skimage", "gravel"),
    "immunohistochemistry": ("skimage", "immunohistochemistry"),
    "hubble_deep_field": ("skimage", "hubble_deep_field"),
    "retina": ("skimage", "retina"),
    "shepp_logan_phantom": ("skimage", "shepp_logan_phantom"),
    "microaneurysms": ("skimage", "microaneurysms"),
}

#: Held-out images: results are reported on these, nothing is tuned or trained on them.
TEST_IMAGES: tuple[str, ...] = ("camera", "ascent", "moon", "coins")
#: Images for training and for tuning hyper-parameters.
TRAIN_IMAGES: tuple[str, ...] = (
    "aero",
    "astronaut",
    "coffee",
    "chelsea",
    "brick",
    "text",
    "page",
    "clock",
    "rocket",
    "grass",
    "gravel",
    "immunohistochemistry",
    "hubble_deep_field",
)


def list_images() -> list[str]:
    """Names accepted by :func:`load_image`, sorted."""
    return sorted(_SOURCES)


@lru_cache(maxsize=None)
def _raw(name: str) -> np.ndarray:
    package, attr = _SOURCES[name]
    if package == "pywt":
        import pywt.data as source
    else:
        import skimage.data as source
    arr = np.asarray(getattr(source, attr)())
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    else:
        arr = arr.astype(np.float32)
        arr = (arr - arr.min()) / max(float(arr.max() - arr.min()), 1e-12)
    if arr.ndim == 3 and arr.shape[-1] == 4:  # drop an alpha channel
        arr = arr[..., :3]
    return arr


def _center_crop_to_aspect(arr: np.ndarray, aspect: float) -> np.ndarray:
    h, w = arr.shape[:2]
    if w / h > aspect:  # too wide
        new_w = max(1, round(h * aspect))
        left = (w - new_w) // 2
        return arr[:, left : left + new_w]
    new_h = max(1, round(w / aspect))
    top = (h - new_h) // 2
    return arr[top : top + new_h]


def load_image(
    name: str, size: int | tuple[int, int] | None = None, gray: bool = True
) -> torch.Tensor:
    """Load a bundled image as a float32 tensor in [0, 1].

    Parameters
    ----------
    name : str
        One of :func:`list_images`.
    size : int or (int, int), optional
        Output size. An int gives a square: the image is centre-cropped to a square and
        resized (anti-aliased). ``(H, W)`` crops to that aspect ratio and resizes.
        ``None`` keeps the original size.
    gray : bool
        Convert colour images to luminance (ITU-R BT.709 weights, as scikit-image's
        ``rgb2gray``); gray images are returned with one channel either way.

    Returns
    -------
    Tensor, shape (C, H, W)
        ``C`` is 1 when ``gray`` or when the image is gray, else 3.

    Raises
    ------
    ValueError
        Unknown name (the message lists the valid ones) or a non-positive size.
    """
    if not isinstance(name, str) or name not in _SOURCES:
        raise ValueError(
            f"unknown image {name!r}; valid names are: {', '.join(list_images())}"
        )
    arr = _raw(name)
    if gray and arr.ndim == 3:
        from skimage.color import rgb2gray

        arr = rgb2gray(arr).astype(np.float32)
    if size is not None:
        if isinstance(size, (int, np.integer)):
            size = (int(size), int(size))
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"size must be a positive int or (H, W), got {size!r}")
        from skimage.transform import resize

        arr = _center_crop_to_aspect(arr, size[1] / size[0])
        out_shape = tuple(size) + arr.shape[2:]
        arr = resize(arr, out_shape, anti_aliasing=True, order=3, mode="reflect")
        arr = np.clip(arr, 0.0, 1.0).astype(np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = np.moveaxis(arr, -1, 0)
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def load_images(
    names: Sequence[str], size: int | tuple[int, int], gray: bool = True
) -> torch.Tensor:
    """Several images of one size stacked into a batch.

    Returns
    -------
    Tensor, shape (B, C, H, W)
    """
    return torch.stack([load_image(n, size=size, gray=gray) for n in names])


def _check_tensor(x, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")


def add_gaussian_noise(
    x: torch.Tensor, sigma: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``y = x + sigma * n`` with ``n`` standard normal (no clipping).

    Parameters
    ----------
    x : Tensor, any shape
        Clean signal (float).
    sigma : float
        Noise standard deviation on the [0, 1] scale (sigma 25/255 is ``25 / 255``).
    generator : torch.Generator, optional
        CPU generator for reproducible noise.

    Returns
    -------
    Tensor, same shape, dtype and device as ``x``
    """
    _check_tensor(x)
    sigma = float(sigma)
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma}")
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device="cpu")
    return x + sigma * noise.to(x.device)


def random_patches(
    images: torch.Tensor | Sequence[torch.Tensor],
    n: int,
    size: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sample ``n`` square patches uniformly from a set of images.

    Parameters
    ----------
    images : Tensor of shape (B, C, H, W), or a sequence of (C, H, W) tensors
        The images may differ in size but must share the channel count.
    n : int
        Number of patches.
    size : int
        Patch side; must not exceed any image's height or width.
    generator : torch.Generator, optional

    Returns
    -------
    Tensor, shape (n, C, size, size)
    """
    if isinstance(images, torch.Tensor):
        if images.ndim != 4:
            raise ValueError(f"images must have shape (B, C, H, W), got {tuple(images.shape)}")
        images = list(images)
    images = list(images)
    if not images:
        raise ValueError("images is empty")
    for i, im in enumerate(images):
        _check_tensor(im, f"images[{i}]")
        if im.ndim != 3:
            raise ValueError(f"images[{i}] must have shape (C, H, W), got {tuple(im.shape)}")
        if im.shape[0] != images[0].shape[0]:
            raise ValueError("all images must have the same number of channels")
        if im.shape[1] < size or im.shape[2] < size:
            raise ValueError(
                f"patch size {size} is larger than images[{i}] of size {tuple(im.shape[1:])}"
            )
    if n < 1 or size < 1:
        raise ValueError(f"n and size must be >= 1, got n={n}, size={size}")
    which = torch.randint(len(images), (n,), generator=generator)
    out = []
    for k in which.tolist():
        im = images[k]
        top = int(torch.randint(im.shape[1] - size + 1, (1,), generator=generator))
        left = int(torch.randint(im.shape[2] - size + 1, (1,), generator=generator))
        out.append(im[:, top : top + size, left : left + size])
    return torch.stack(out)


def augment(p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One random rotation by a multiple of 90 degrees and a random left-right flip.

    Parameters
    ----------
    p : Tensor, shape (..., H, W)
        (Square patches when the rotation is to keep the shape.)
    generator : torch.Generator, optional

    Returns
    -------
    Tensor, the rotated (and maybe flipped) ``p``; the same transform for the whole batch.
    """
    k = int(torch.randint(4, (1,), generator=generator))
    p = torch.rot90(p, k, dims=(-2, -1))
    return p.flip(-1) if int(torch.randint(2, (1,), generator=generator)) else p


def denoising_batches(images: Sequence[torch.Tensor], patch: int, batch: int,
                      sigma_range: tuple[float, float]) -> Callable:
    """A batch source for denoisers: random patches, noise level uniform in a range.

    Parameters
    ----------
    images : sequence of Tensor (C, H, W)
    patch, batch : int
        Patch side and patches per batch.
    sigma_range : (lo, hi)
        Noise standard deviations in 255 units; each patch draws its own, uniformly.

    Returns
    -------
    callable
        ``batches(step, generator) -> (clean, noisy, sigma)``: ``clean`` and ``noisy`` of
        shape (batch, C, patch, patch) (augmented by :func:`augment`), ``sigma`` of shape
        (batch,) on the [0, 1] scale. Everything is drawn from ``generator`` on the CPU.
    """
    lo, hi = float(sigma_range[0]) / 255, float(sigma_range[1]) / 255
    if not 0 <= lo <= hi:
        raise ValueError(f"sigma_range must be (lo, hi) with 0 <= lo <= hi, got {sigma_range!r}")

    def batches(step: int, generator: torch.Generator):
        clean = augment(random_patches(images, batch, patch, generator=generator), generator)
        s = lo + (hi - lo) * torch.rand(batch, generator=generator)
        noisy = clean + s.view(-1, 1, 1, 1) * torch.randn(clean.shape, generator=generator)
        return clean, noisy, s

    return batches


def simulate_blur(
    name: str,
    size: int,
    kernel_std: float | None,
    sigma: float,
    oversample: int = 2,
    generator: torch.Generator | None = None,
    kernel: Callable[[int], torch.Tensor] | None = None,
    factor: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A blurred (optionally decimated), noisy observation made with a finer model than
    reconstruction uses.

    The image is loaded at ``oversample * size``, blurred there (periodic boundary) with a
    kernel of the same physical width, averaged over blocks of ``oversample * factor``
    fine pixels (the area of a sensor pixel) and noise is added. The ground truth is the
    block average of the unblurred fine image over ``oversample`` pixels. A reconstruction
    that uses the kernel on the coarse grid (and, for ``factor > 1``, plain decimation)
    therefore meets a slightly different operator than the one that made the data: no
    "inverse crime".

    Parameters
    ----------
    name : str
        A bundled image (:func:`list_images`).
    size : int
        Side of the ground truth (the reconstruction grid); divisible by ``factor``.
    kernel_std : float or None
        Gaussian blur std in coarse pixels (used when ``kernel`` is None).
    sigma : float
        Noise std on the [0, 1] scale.
    oversample : int
        Fine-grid factor (>= 1; 1 reproduces the inverse crime, for comparison).
    generator : torch.Generator, optional
    kernel : callable, optional
        ``kernel(s)`` returns the blur kernel drawn on a grid ``s`` times finer than the
        reconstruction grid, e.g. ``lambda s: motion_kernel(9 * s, 30)``.
    factor : int
        Decimation of the observation (super-resolution): ``y`` has side ``size // factor``.

    Returns
    -------
    x : Tensor, shape (1, 1, size, size)
        Ground truth.
    y : Tensor, shape (1, 1, size // factor, size // factor)
        Observation.
    """
    from .operators import Blur, Downsample, gaussian_kernel

    if not isinstance(oversample, int) or oversample < 1:
        raise ValueError(f"oversample must be an int >= 1, got {oversample!r}")
    if not isinstance(factor, int) or factor < 1 or size % factor:
        raise ValueError(f"factor must be an int >= 1 dividing size={size}, got {factor!r}")
    if kernel is None:
        if kernel_std is None:
            raise ValueError("give kernel_std or a kernel function")
        kernel = lambda s: gaussian_kernel(s * kernel_std)  # noqa: E731
    fine = load_image(name, size=size * oversample)[None]

    def area(z, m):
        return Downsample(m, kernel=torch.full((m, m), 1.0 / m**2))(z) if m > 1 else z

    x = area(fine, oversample)
    y = area(Blur(kernel(oversample))(fine), oversample * factor)
    return x, add_gaussian_noise(y, sigma, generator=generator)


def degraded_patches(
    names: Sequence[str],
    n: int,
    size: int,
    kernel_std: float | None,
    sigma: float,
    factor: int = 1,
    oversample: int = 2,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Patches and their blurred (optionally decimated) noisy observations, made on a finer
    grid than reconstruction uses (the patch version of :func:`simulate_blur`).

    Each patch is cut from an image at its native size (the fine grid), blurred there
    (periodic over the patch) with a Gaussian of ``oversample * kernel_std`` fine pixels,
    averaged over ``oversample * factor`` blocks and noised; the ground truth is the
    ``oversample`` block average of the unblurred fine patch. Block averages are aligned
    at multiples of the block (``avg_pool2d``; :func:`mbdl_teach.operators.box_kernel`
    builds the same average as an operator).

    Parameters
    ----------
    names : sequence of str
        Bundled images to cut from.
    n, size : int
        Number of patches and their side on the reconstruction grid (divisible by
        ``factor``).
    kernel_std : float or None
        Blur std in reconstruction-grid pixels (None: no blur, a pure block average).
    sigma : float
        Noise std on the [0, 1] scale.
    factor, oversample : int
    generator : torch.Generator, optional
        Positions and noise.

    Returns
    -------
    x : Tensor, shape (n, 1, size, size)
    y : Tensor, shape (n, 1, size // factor, size // factor)
    """
    import torch.nn.functional as F

    from .operators import Blur, gaussian_kernel

    if not isinstance(factor, int) or factor < 1 or size % factor:
        raise ValueError(f"factor must be an int >= 1 dividing size={size}, got {factor!r}")
    if not isinstance(oversample, int) or oversample < 1:
        raise ValueError(f"oversample must be an int >= 1, got {oversample!r}")
    fine = random_patches([load_image(name) for name in names], n, size * oversample,
                          generator=generator)
    blurred = fine if kernel_std is None else Blur(gaussian_kernel(oversample * kernel_std))(fine)
    x = F.avg_pool2d(fine, oversample)
    y = F.avg_pool2d(blurred, oversample * factor)
    return x, add_gaussian_noise(y, sigma, generator=generator)


# ------------------------------------------------------------------ the synthetic benchmark
class SyntheticSparse:
    """The synthetic sparse-coding benchmark of Chen et al. (2018) and Liu et al. (2019).

    ``D`` (m, n): i.i.d. Gaussian entries, columns scaled to unit norm. Codes: Bernoulli(p)
    support with N(0, 1) values. ``y = D x + w`` with white Gaussian ``w`` at ``snr_db``
    (None: noiseless).

    Parameters
    ----------
    m, n : int
        Measurements and atoms (m <= n).
    p : float
        Probability that an entry of a code is non-zero.
    snr_db : float or None
    generator : torch.Generator, optional
        Draws the dictionary.
    """

    def __init__(self, m: int, n: int, p: float = 0.1, snr_db: float | None = None,
                 generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32):
        for name, v in (("m", m), ("n", n)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not 0 < p <= 1:
            raise ValueError(f"p must be in (0, 1], got {p!r}")
        if snr_db is not None and not math.isfinite(snr_db):
            raise ValueError(f"snr_db must be finite or None, got {snr_db!r}")
        self.m, self.n, self.p, self.snr_db, self.dtype = m, n, float(p), snr_db, dtype
        D = torch.randn(m, n, generator=generator, dtype=torch.float64)
        self.D = (D / D.norm(dim=0, keepdim=True)).to(dtype)

    def sample(self, batch: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``batch`` pairs: ``y`` (batch, m) and ``x`` (batch, n)."""
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
        support = torch.rand(batch, self.n, generator=generator) < self.p
        x = (support * torch.randn(batch, self.n, generator=generator)).to(self.dtype)
        y = x @ self.D.T
        if self.snr_db is not None:
            std = math.sqrt(float((y**2).mean()) / 10 ** (self.snr_db / 10))
            y = y + std * torch.randn(y.shape, generator=generator).to(self.dtype)
        return y, x

    def batches(self, batch: int) -> Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]:
        """A batch source for :func:`mbdl_teach.training.fit`."""
        return lambda step, generator: self.sample(batch, generator)

    def __repr__(self) -> str:
        return f"SyntheticSparse(m={self.m}, n={self.n}, p={self.p}, snr_db={self.snr_db})"


# ------------------------------------------------------------------ image patches
def dct_dictionary(size: int = 8, atoms_per_dim: int = 16) -> torch.Tensor:
    """Overcomplete 2-D DCT dictionary for ``size x size`` patches (as in K-SVD papers).

    Returns
    -------
    Tensor, shape (size**2, atoms_per_dim**2), unit-norm columns, the first one constant.
    """
    if size < 1 or atoms_per_dim < size:
        raise ValueError(f"need size >= 1 and atoms_per_dim >= size, got {size}, {atoms_per_dim}")
    t = torch.arange(size, dtype=torch.float64)[:, None]
    k = torch.arange(atoms_per_dim, dtype=torch.float64)[None]
    A = torch.cos(t * k * math.pi / atoms_per_dim)
    A[:, 1:] -= A[:, 1:].mean(0, keepdim=True)
    A = A / A.norm(dim=0, keepdim=True)
    return torch.kron(A, A).float()


def image_to_patches(img: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """All ``size x size`` patches of an image (H, W) at ``stride``, as rows (N, size**2)."""
    if img.ndim != 2:
        raise ValueError(f"img must have shape (H, W), got {tuple(img.shape)}")
    H, W = img.shape
    if (H - size) % stride or (W - size) % stride:
        raise ValueError(f"(H - size) and (W - size) must be multiples of stride; got {H}x{W}, "
                         f"size {size}, stride {stride}")
    u = torch.nn.functional.unfold(img[None, None], size, stride=stride)  # (1, size^2, N)
    return u[0].T


def patches_to_image(patches: torch.Tensor, shape: tuple[int, int], size: int, stride: int) -> torch.Tensor:
    """Inverse of :func:`image_to_patches`: put patches back, averaging the overlaps."""
    H, W = shape
    fold = lambda p: torch.nn.functional.fold(p.T[None], (H, W), size, stride=stride)[0, 0]
    return fold(patches) / fold(torch.ones_like(patches))


# ------------------------------------------------------------------ the papers' sets
from .datasets import fetch, load_dataset  # noqa: E402  (data.fetch, data.load_dataset)
