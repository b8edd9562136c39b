"""Image forward models: blur kernels, circular blur, blur + decimation, masks.

Blur is circular (periodic boundary), which is what makes the FFT solves exact. Real
blurs are not periodic: data made for a fair test should come from a finer model (see
the chapters' notes on the inverse crime).
"""

from __future__ import annotations

import math

import torch

from .base import LinearOperator, _check_batch, _check_beta

__all__ = ["gaussian_kernel", "box_kernel", "motion_kernel", "kernel_to_otf", "Blur", "Downsample", "Mask"]


# ----------------------------------------------------------------------------- kernels
def gaussian_kernel(std: float, size: int | None = None) -> torch.Tensor:
    """Isotropic Gaussian blur kernel, normalised to sum 1.

    Parameters
    ----------
    std : float
        Standard deviation in pixels (> 0).
    size : int, optional
        Odd side length; default ``2 * ceil(3 * std) + 1``.

    Returns
    -------
    Tensor, shape (size, size), float32
    """
    std = float(std)
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std}")
    if size is None:
        size = 2 * math.ceil(3 * std) + 1
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd int, got {size}")
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * std**2))
    k = torch.outer(g, g)
    return (k / k.sum()).float()


def box_kernel(factor: int) -> torch.Tensor:
    """The block-mean kernel of :class:`Downsample`: ``Downsample(f, box_kernel(f))`` averages
    the ``f x f`` blocks that start at multiples of ``f`` (``avg_pool2d(x, f)``).

    The kernel is ``(2f - 1) x (2f - 1)`` with ``1 / f**2`` on its top-left ``f x f`` corner:
    that places the box on the block the decimation keeps (an ``f x f`` kernel would be
    centred half a block off for even ``f``).

    Returns
    -------
    Tensor, shape (2 factor - 1, 2 factor - 1), float32
    """
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be an int >= 1, got {factor!r}")
    k = torch.zeros(2 * factor - 1, 2 * factor - 1)
    k[:factor, :factor] = 1.0 / factor**2
    return k


def motion_kernel(length: float, angle: float, size: int | None = None) -> torch.Tensor:
    """Linear motion blur: a line segment of ``length`` pixels at ``angle`` degrees.

    The segment is drawn with 16x supersampling and bilinear splatting, so short and
    oblique lines are smooth; the kernel is centred and sums to 1.

    Parameters
    ----------
    length : float
        Length of the motion in pixels (>= 1).
    angle : float
        Direction in degrees, counter-clockwise from the horizontal axis.
    size : int, optional
        Odd side; default the smallest odd size that holds the line.

    Returns
    -------
    Tensor, shape (size, size), float32
    """
    length = float(length)
    if not length >= 1:
        raise ValueError(f"length must be >= 1 pixel, got {length}")
    if size is None:
        size = 2 * math.ceil(length / 2) + 1
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd int, got {size}")
    k = torch.zeros(size, size, dtype=torch.float64)
    c = (size - 1) / 2
    n = max(2, int(16 * length))
    theta = math.radians(angle)
    t = torch.linspace(-length / 2, length / 2, n, dtype=torch.float64)
    xs = c + t * math.cos(theta)
    ys = c - t * math.sin(theta)
    x0, y0 = xs.floor(), ys.floor()
    for dx in (0, 1):
        for dy in (0, 1):
            wx = 1 - (xs - x0 - dx).abs()
            wy = 1 - (ys - y0 - dy).abs()
            xi, yi = (x0 + dx).long(), (y0 + dy).long()
            ok = (xi >= 0) & (xi < size) & (yi >= 0) & (yi < size)
            k.index_put_((yi[ok], xi[ok]), (wx * wy)[ok], accumulate=True)
    return (k / k.sum()).float()


def kernel_to_otf(kernel: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Optical transfer function: the 2-D FFT of the kernel, centred at pixel (0, 0).

    Parameters
    ----------
    kernel : Tensor, shape (kh, kw)
    shape : (H, W)
        Image size; ``kh <= H`` and ``kw <= W``.

    Returns
    -------
    Tensor, shape (H, W), complex
    """
    kh, kw = kernel.shape
    h, w = shape
    if kh > h or kw > w:
        raise ValueError(f"kernel {kh}x{kw} is larger than the image {h}x{w}")
    pad = torch.zeros(h, w, dtype=kernel.dtype, device=kernel.device)
    pad[:kh, :kw] = kernel
    pad = torch.roll(pad, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1))
    return torch.fft.fft2(pad)


def _check_kernel(kernel) -> torch.Tensor:
    if not isinstance(kernel, torch.Tensor):
        raise TypeError(f"kernel must be a torch.Tensor, got {type(kernel).__name__}")
    if kernel.ndim != 2:
        raise ValueError(f"kernel must have shape (kh, kw), got {tuple(kernel.shape)}")
    if not torch.isfinite(kernel).all():
        raise ValueError("kernel contains NaN or inf")
    return kernel.detach().to(torch.float64)


class Blur(LinearOperator):
    """Circular convolution with a kernel, computed by FFT.

    ``H x = k * x`` with periodic boundaries; ``H^T y`` is the correlation with ``k``
    (the conjugate OTF), and ``(H^T H + beta I)^{-1}`` is a division in Fourier.

    Parameters
    ----------
    kernel : Tensor, shape (kh, kw)
        The blur kernel, centred at ``(kh // 2, kw // 2)``.
    """

    closed_form_solve = True

    def __init__(self, kernel: torch.Tensor):
        super().__init__()
        self.register_buffer("kernel64", _check_kernel(kernel).clone())
        self._otfs: dict = {}

    @property
    def kernel(self) -> torch.Tensor:
        """The kernel, shape (kh, kw), float32."""
        return self.kernel64.float()

    def otf(self, x: torch.Tensor) -> torch.Tensor:
        """OTF for images of ``x``'s size, dtype and device; shape (H, W), complex."""
        h, w = x.shape[-2], x.shape[-1]
        key = (h, w, x.dtype, str(x.device))
        if key not in self._otfs:
            cdtype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
            otf = kernel_to_otf(self.kernel64.to(x.device), (h, w)).to(cdtype)
            self._otfs[key] = otf
        return self._otfs[key]

    def _apply(self, fn, *args, **kwargs):  # .to() / .cuda(): the cached OTFs are stale
        self._otfs = {}
        return super()._apply(fn, *args, **kwargs)

    def _check(self, x, what):
        _check_batch(x, what)
        kh, kw = self.kernel64.shape
        if x.shape[-2] < kh or x.shape[-1] < kw:
            raise ValueError(
                f"{what} of size {tuple(x.shape[-2:])} is smaller than the {kh}x{kw} kernel"
            )

    def forward(self, x):
        self._check(x, "x")
        return torch.fft.ifft2(torch.fft.fft2(x) * self.otf(x)).real

    def adjoint(self, y):
        self._check(y, "y")
        return torch.fft.ifft2(torch.fft.fft2(y) * self.otf(y).conj()).real

    def solve_normal(self, rhs, beta, x0=None, **kwargs):
        self._check(rhs, "rhs")
        beta = _check_beta(beta)
        otf = self.otf(rhs)
        return torch.fft.ifft2(torch.fft.fft2(rhs) / (otf.abs() ** 2 + beta)).real

    def __repr__(self):
        return f"Blur(kernel {tuple(self.kernel64.shape)})"


class Downsample(LinearOperator):
    """Blur (circular) followed by keeping every ``factor``-th pixel: ``H = S K``.

    Parameters
    ----------
    factor : int
        Decimation factor ``s`` (>= 1); images must have H and W divisible by it.
    kernel : Tensor of shape (kh, kw), optional
        Anti-aliasing kernel ``K``. Default: a Gaussian of std ``0.5 * factor`` pixels
        (a smooth, common choice for synthetic super-resolution).

    Notes
    -----
    ``solve_normal`` is exact and costs two FFTs: with ``F`` the OTF of ``K``, the
    operator ``S K K^T S^T`` is diagonal in the low-resolution Fourier domain with
    entries ``mean over the s x s aliases of |F|^2``, and Woodbury's identity gives
    ``(K^T S^T S K + beta I)^{-1}`` (Zhao et al., IEEE TIP 2016).
    """

    closed_form_solve = True

    def __init__(self, factor: int, kernel: torch.Tensor | None = None):
        super().__init__()
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise ValueError(f"factor must be an int >= 1, got {factor!r}")
        self.factor = factor
        if kernel is None:
            kernel = gaussian_kernel(0.5 * factor) if factor > 1 else torch.ones(1, 1)
        self.blur = Blur(kernel)

    @property
    def kernel(self) -> torch.Tensor:
        return self.blur.kernel

    def _check_x(self, x, what="x"):
        _check_batch(x, what)
        s = self.factor
        if x.shape[-2] % s or x.shape[-1] % s:
            raise ValueError(
                f"image size {tuple(x.shape[-2:])} is not divisible by the factor {s}"
            )

    def output_shape(self, shape):
        return tuple(shape[:-2]) + (shape[-2] // self.factor, shape[-1] // self.factor)

    def input_shape(self, shape):
        return tuple(shape[:-2]) + (shape[-2] * self.factor, shape[-1] * self.factor)

    def forward(self, x):
        self._check_x(x)
        s = self.factor
        return self.blur.forward(x)[..., ::s, ::s]

    def adjoint(self, y):
        _check_batch(y, "y")
        s = self.factor
        up = y.new_zeros(*y.shape[:-2], y.shape[-2] * s, y.shape[-1] * s)
        up[..., ::s, ::s] = y
        return self.blur.adjoint(up)

    def solve_normal(self, rhs, beta, x0=None, **kwargs):
        self._check_x(rhs, "rhs")
        beta = _check_beta(beta)
        s = self.factor
        h, w = rhs.shape[-2] // s, rhs.shape[-1] // s
        otf = self.blur.otf(rhs)

        def alias_mean(z):  # (..., s*h, s*w) -> (..., h, w): average of the s*s aliases
            z = z.reshape(*z.shape[:-2], s, h, s, w)
            return z.mean(dim=(-4, -2))

        fr = torch.fft.fft2(rhs)
        low = alias_mean(otf * fr) / (alias_mean(otf.abs() ** 2) + beta)
        fx = (fr - otf.conj() * low.repeat(*([1] * (low.ndim - 2)), s, s)) / beta
        return torch.fft.ifft2(fx).real

    def __repr__(self):
        return f"Downsample(factor={self.factor}, kernel {tuple(self.kernel.shape)})"


class Mask(LinearOperator):
    """Pixel mask (inpainting): ``H x = m * x`` with ``m`` broadcast over batch/channels.

    Parameters
    ----------
    mask : Tensor, shape (H, W), (C, H, W) or (1|B, C, H, W)
        Usually binary (1 = observed); any real weights work.
    """

    closed_form_solve = True

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        if not isinstance(mask, torch.Tensor):
            raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
        if mask.ndim not in (2, 3, 4):
            raise ValueError(f"mask must have 2 to 4 dimensions, got {tuple(mask.shape)}")
        m = mask.detach().float()
        while m.ndim < 4:
            m = m[None]
        self.register_buffer("mask", m.clone())

    def _m(self, x, what):
        _check_batch(x, what)
        m = self.mask
        for dim in range(4):
            if m.shape[dim] not in (1, x.shape[dim]):
                raise ValueError(
                    f"mask of shape {tuple(m.shape)} does not fit {what} of shape {tuple(x.shape)}"
                )
        return m.to(dtype=x.dtype, device=x.device)

    def forward(self, x):
        return self._m(x, "x") * x

    def adjoint(self, y):
        return self._m(y, "y") * y

    def solve_normal(self, rhs, beta, x0=None, **kwargs):
        m = self._m(rhs, "rhs")
        return rhs / (m * m + _check_beta(beta))

    @classmethod
    def random(cls, shape: tuple[int, int], keep: float, generator=None) -> "Mask":
        """A mask keeping each pixel with probability ``keep``; shape (H, W)."""
        if not 0 < keep <= 1:
            raise ValueError(f"keep must be in (0, 1], got {keep}")
        return cls((torch.rand(shape, generator=generator) < keep).float())

    def __repr__(self):
        return f"Mask(shape={tuple(self.mask.shape)}, kept={float(self.mask.mean()):.2f})"
