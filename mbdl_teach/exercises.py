"""Checkers that give a learner feedback on their own implementation of an exercise.

The generic :func:`check` runs the learner's function and a reference on random cases and
prints either a pass or what differs (shapes, dtype, the worst error and where). Each
exercise of the book has a small wrapper ``check_<name>(fn)`` below that knows how to make
cases for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch


@dataclass
class CheckResult:
    """Outcome of :func:`check`: ``passed``, the number of cases and a message."""

    passed: bool
    n_cases: int
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"CheckResult(passed={self.passed}, n_cases={self.n_cases})"

    def _ipython_display_(self) -> None:
        """Show nothing as a cell's last value: the verdict was already printed."""


def _as_tensor(v: Any) -> torch.Tensor | None:
    if isinstance(v, torch.Tensor):
        return v.detach()
    if isinstance(v, np.ndarray):
        return torch.from_numpy(v)
    if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool):
        return torch.tensor(float(v))
    return None


def _describe(v: Any) -> str:
    if isinstance(v, (torch.Tensor, np.ndarray)):
        return f"{type(v).__name__} of shape {tuple(v.shape)}, dtype {v.dtype}"
    return type(v).__name__


def _compare(got: Any, want: Any, atol: float, rtol: float, path: str = "output") -> str | None:
    """None when equal within tolerance, else a sentence saying what differs."""
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            return f"{path}: expected a sequence of {len(want)} items, got {_describe(got)}"
        for i, (g, w) in enumerate(zip(got, want)):
            why = _compare(g, w, atol, rtol, f"{path}[{i}]")
            if why:
                return why
        return None
    w = _as_tensor(want)
    if w is None:
        return None if got == want else f"{path}: expected {want!r}, got {got!r}"
    g = _as_tensor(got)
    if g is None:
        return f"{path}: expected {_describe(want)}, got {_describe(got)}"
    if isinstance(want, (torch.Tensor, np.ndarray)) and tuple(g.shape) != tuple(w.shape):
        return f"{path}: expected shape {tuple(w.shape)}, got shape {tuple(g.shape)}"
    if g.is_complex() != w.is_complex():
        return f"{path}: expected {'complex' if w.is_complex() else 'real'} values, got {g.dtype}"
    g64 = g.to(torch.complex128 if g.is_complex() else torch.float64).cpu()
    w64 = w.to(g64.dtype).cpu()
    if not torch.isfinite(g64).all():
        return f"{path}: contains NaN or inf"
    err = (g64 - w64).abs()
    bound = atol + rtol * w64.abs()
    if bool((err <= bound).all()):
        return None
    worst = int(torch.argmax(err - bound))
    idx = tuple(int(i) for i in np.unravel_index(worst, tuple(err.shape))) if err.ndim else ()
    return (
        f"{path}: values differ; worst absolute error {float(err.max()):.3g} at index {idx} "
        f"(got {complex(g64.reshape(-1)[worst]) if g64.is_complex() else float(g64.reshape(-1)[worst]):.6g}, "
        f"expected {complex(w64.reshape(-1)[worst]) if w64.is_complex() else float(w64.reshape(-1)[worst]):.6g}; "
        f"tolerance atol={atol:g}, rtol={rtol:g})"
    )


def check(
    fn: Callable,
    reference: Callable,
    make_case: Callable[[torch.Generator], Sequence[Any]],
    n_cases: int = 5,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    name: str | None = None,
    seed: int = 1234,
    verbose: bool = True,
) -> CheckResult:
    """Compare a learner's function with a reference on random cases.

    Parameters
    ----------
    fn : callable
        The learner's function.
    reference : callable
        The correct implementation (same signature).
    make_case : callable
        ``make_case(generator) -> args``: a tuple of positional arguments.
    n_cases : int
        Number of random cases.
    atol, rtol : float
        Tolerances of the comparison (as ``torch.allclose``).
    name : str, optional
        Name shown in messages (default: ``fn.__name__``).
    seed : int
        Seed of the case generator (cases are the same on every run).
    verbose : bool
        Print the verdict.

    Returns
    -------
    CheckResult
        Truthy when every case passed.
    """
    if not callable(fn):
        raise TypeError(f"expected a function to check, got {type(fn).__name__}")
    name = name or getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(seed)
    message = f"PASS {name}: {n_cases} random cases agree with the reference"
    passed = True
    for k in range(n_cases):
        args = tuple(make_case(gen))
        want = reference(*args)
        shapes = ", ".join(_describe(a) for a in args)
        try:
            got = fn(*[a.clone() if isinstance(a, torch.Tensor) else a for a in args])
        except NotImplementedError:
            passed, message = False, f"NOT YET {name}: it raises NotImplementedError; fill it in above"
            break
        except Exception as err:  # the learner's bug: say what and where
            passed = False
            message = f"FAIL {name}: case {k + 1} raised {type(err).__name__}: {err}\n  inputs: {shapes}"
            break
        why = _compare(got, want, atol, rtol)
        if why:
            passed = False
            message = f"FAIL {name}: case {k + 1} of {n_cases}: {why}\n  inputs: {shapes}"
            break
    if verbose:
        print(message)
    return CheckResult(passed, n_cases, message)


# ============================================================ chapter exercises
# Inverse problems (chapter 00) ------------------------------------------------
def _blur_case(gen: torch.Generator):
    from .operators import gaussian_kernel

    h = int(torch.randint(16, 40, (1,), generator=gen))
    w = int(torch.randint(16, 40, (1,), generator=gen))
    std = 0.5 + 2 * float(torch.rand(1, generator=gen))
    return h, w, gaussian_kernel(std)


def reference_tikhonov_fourier(y: torch.Tensor, otf: torch.Tensor, lam: float) -> torch.Tensor:
    """``argmin_x ||k * x - y||^2 + lam ||x||^2`` for circular blur, by FFT.

    ``x = F^{-1}[ conj(K) Y / (|K|^2 + lam) ]`` with ``K = otf`` and ``Y = F y``.
    Shapes: ``y`` (H, W) real, ``otf`` (H, W) complex; returns (H, W) real.
    """
    return torch.fft.ifft2(otf.conj() * torch.fft.fft2(y) / (otf.abs() ** 2 + lam)).real


def check_tikhonov_fourier(fn: Callable) -> CheckResult:
    """Exercise: Tikhonov deconvolution in the Fourier domain, ``fn(y, otf, lam)``."""
    from .operators import kernel_to_otf

    def make_case(gen):
        h, w, k = _blur_case(gen)
        y = torch.rand(h, w, generator=gen, dtype=torch.float64)
        otf = kernel_to_otf(k.double(), (h, w))
        lam = float(10 ** (-3 * torch.rand(1, generator=gen)))
        return y, otf, lam

    return check(fn, reference_tikhonov_fourier, make_case, atol=1e-8, rtol=1e-6)


def reference_hqs_x_step(y, v, op, beta):
    """``argmin_x ||H x - y||^2 + beta ||x - v||^2 = (H^T H + beta I)^{-1}(H^T y + beta v)``."""
    return op.solve_normal(op.adjoint(y) + beta * v, beta)


def check_hqs_x_step(fn: Callable) -> CheckResult:
    """Exercise: the least-squares step of HQS, ``fn(y, v, op, beta)`` for a blur ``op``."""
    from .operators import Blur

    def make_case(gen):
        h, w, k = _blur_case(gen)
        op = Blur(k)
        y = torch.rand(1, 1, h, w, generator=gen, dtype=torch.float64)
        v = torch.rand(1, 1, h, w, generator=gen, dtype=torch.float64)
        beta = float(10 ** (-2 * torch.rand(1, generator=gen)))
        return y, v, op, beta

    return check(fn, reference_hqs_x_step, make_case, atol=1e-8, rtol=1e-6)


# Wavelets and thresholding (chapter 01) ----------------------------------------
def reference_soft_threshold(x: torch.Tensor, t: float) -> torch.Tensor:
    """``sign(x) * max(|x| - t, 0)``; ``x`` any shape, ``t >= 0``."""
    from .wavelets import soft_threshold

    return soft_threshold(x, t)


def check_soft_threshold(fn: Callable) -> CheckResult:
    """Exercise: soft thresholding ``fn(x, t)`` of a tensor by a number ``t >= 0``.

    Besides the values, the answer must be a tensor of ``x``'s dtype that is differentiable
    in ``x`` (later chapters train through it). An answer written with NumPy is rejected
    with a message that says so: it returns an ndarray, or (through NumPy's conversion of
    tensors) a tensor without gradient, which fails once ``x`` requires grad.
    """
    name = getattr(fn, "__name__", "soft_threshold")
    outputs = []

    def recorded(x, t):
        out = fn(x, t)
        outputs.append((x.dtype, out))
        return out

    def make_case(gen):
        ndim = int(torch.randint(1, 4, (1,), generator=gen))
        shape = tuple(int(s) for s in torch.randint(1, 9, (ndim,), generator=gen))
        x = 2 * torch.randn(shape, generator=gen, dtype=torch.float64)
        t = float(torch.rand(1, generator=gen)) * 2
        return x, t

    result = check(recorded, reference_soft_threshold, make_case, n_cases=8, atol=1e-12,
                   rtol=1e-10, name=name, verbose=False)
    why = None
    for dtype, out in outputs:
        if not isinstance(out, torch.Tensor) or out.dtype != dtype:
            why = f"expected a torch.Tensor of x's dtype ({dtype}), got {_describe(out)}"
            break
    if why is None and result.passed:  # the gradient: 1 where |x| > t, else 0
        x = torch.tensor([-2.5, -1.2, -0.3, 0.4, 1.1, 2.2], dtype=torch.float64,
                         requires_grad=True)
        try:
            fn(x, 0.7).sum().backward()
            want = (x.detach().abs() > 0.7).to(x.dtype)
            if x.grad is None or not torch.allclose(x.grad, want):
                why = f"expected the gradient {want.tolist()}, got {x.grad}"
        except Exception as err:
            why = (f"expected a function differentiable in x; with x.requires_grad=True "
                   f"it raised {type(err).__name__}: {err}")
    if why:
        result = CheckResult(False, result.n_cases, (
            f"FAIL {name}: {why}\n  use torch operations (torch.sign, torch.clamp, "
            f"x.abs()), not NumPy: the result must stay a differentiable tensor"))
    print(result.message)
    return result


def reference_mad_sigma(d: torch.Tensor) -> float:
    """``median(|d|) / 0.6745`` for the finest diagonal details ``d`` (any shape)."""
    from .wavelets import MAD_CONSTANT

    return float(np.median(np.abs(d.detach().cpu().numpy())) / MAD_CONSTANT)


def check_mad_sigma(fn: Callable) -> CheckResult:
    """Exercise: the MAD noise estimate ``fn(d) -> float`` from a band of details.

    ``rtol=1e-4`` accepts the rounded constant 0.6745 as well as Phi^{-1}(3/4). The answer
    must be a float (Python's, or a NumPy floating scalar): a tensor, even one of shape
    (), is rejected with a message that says a float was expected.
    """
    name = getattr(fn, "__name__", "mad_sigma")
    outputs = []

    def recorded(d):
        out = fn(d)
        outputs.append(out)
        return out

    def make_case(gen):
        h = 2 * int(torch.randint(8, 40, (1,), generator=gen)) + 1  # odd count: one middle value
        w = 2 * int(torch.randint(8, 40, (1,), generator=gen)) + 1
        sigma = 0.02 + 0.2 * float(torch.rand(1, generator=gen))
        d = sigma * torch.randn(h, w, generator=gen, dtype=torch.float64)
        edges = torch.rand(h, w, generator=gen) < 0.05  # a few large edge coefficients
        d[edges] += 5 * torch.randn(int(edges.sum()), generator=gen, dtype=torch.float64)
        return (d,)

    result = check(recorded, reference_mad_sigma, make_case, n_cases=6, atol=1e-9, rtol=1e-4,
                   name=name, verbose=False)
    for out in outputs:
        if not isinstance(out, (float, np.floating)):
            result = CheckResult(False, result.n_cases, (
                f"FAIL {name}: expected a float, got {_describe(out)}; "
                f"convert the result with float(...) or .item()"))
            break
    print(result.message)
    return result


def reference_bayes_threshold(band: torch.Tensor, sigma: float) -> float:
    """BayesShrink: ``sigma^2 / sigma_x``, ``sigma_x = sqrt(max(mean(band^2) - sigma^2, 0))``;
    ``max |band|`` when ``sigma_x = 0``."""
    from .wavelets import bayes_threshold

    return bayes_threshold(band.detach().cpu().numpy(), sigma)


def check_bayes_threshold(fn: Callable) -> CheckResult:
    """Exercise: BayesShrink's threshold ``fn(band, sigma) -> float`` for one detail band."""

    def make_case(gen):
        h, w = (int(v) for v in torch.randint(8, 48, (2,), generator=gen))
        sigma = 0.02 + 0.2 * float(torch.rand(1, generator=gen))
        signal = float(torch.rand(1, generator=gen)) * 3 * sigma  # sometimes weaker than noise
        x = signal * torch.randn(h, w, generator=gen, dtype=torch.float64)
        x[torch.rand(h, w, generator=gen) < 0.7] = 0  # sparse signal
        noise = sigma * torch.randn(h, w, generator=gen, dtype=torch.float64)
        if float(torch.rand(1, generator=gen)) < 0.3:  # a pure-noise band, shrunk: sigma_x = 0
            noise = 0.8 * noise
            x = 0 * x
        return x + noise, sigma

    return check(fn, reference_bayes_threshold, make_case, n_cases=10, atol=1e-10, rtol=1e-8)


# (end of wavelets exercises)


# Lifting scheme (chapter 02) ----------------------------------------------------
def _even_signal(gen: torch.Generator) -> torch.Tensor:
    """A batch of 1-D float64 signals of random even length, shape (B, 2n)."""
    batch = int(torch.randint(1, 4, (1,), generator=gen))
    n = int(torch.randint(2, 33, (1,), generator=gen))
    return torch.randn(batch, 2 * n, generator=gen, dtype=torch.float64)


def reference_haar_lift(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unnormalised Haar lifting along the last axis.

    ``s, d = x[..., 0::2], x[..., 1::2]``; predict ``d <- d - s``; update ``s <- s + d / 2``.
    Shapes: ``x`` (..., 2n) -> ``s, d`` (..., n) each (``s`` is the pairwise mean).
    """
    s, d = x[..., 0::2], x[..., 1::2]
    d = d - s
    s = s + d / 2
    return s, d


def reference_haar_unlift(s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`reference_haar_lift`: undo the update, then the predict, then merge."""
    s = s - d / 2
    d = d + s
    return torch.stack((s, d), dim=-1).flatten(-2)


def check_haar_lifting(lift: Callable, unlift: Callable) -> CheckResult:
    """Exercise: Haar lifting ``lift(x) -> (s, d)`` and its inverse ``unlift(s, d) -> x``."""
    r1 = check(lift, reference_haar_lift, lambda g: (_even_signal(g),), atol=1e-10, rtol=1e-8)
    r2 = check(unlift, reference_haar_unlift, lambda g: reference_haar_lift(_even_signal(g)), atol=1e-10,
               rtol=1e-8)
    return CheckResult(r1.passed and r2.passed, r1.n_cases + r2.n_cases, r1.message + "\n" + r2.message)


def reference_legall53_predict(s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """LeGall 5/3 predict, periodic: ``d[k] - (s[k] + s[k+1]) / 2`` with ``s[n] = s[0]``.

    Shapes: ``s, d`` (..., n) -> new ``d`` (..., n).
    """
    return d - (s + torch.roll(s, -1, dims=-1)) / 2


def reference_legall53_update(s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """LeGall 5/3 update, periodic: ``s[k] + (d[k-1] + d[k]) / 4`` with ``d[-1] = d[n-1]``.

    Shapes: ``s, d`` (..., n) -> new ``s`` (..., n).
    """
    return s + (torch.roll(d, 1, dims=-1) + d) / 4


def check_legall53_steps(predict: Callable, update: Callable) -> CheckResult:
    """Exercise: the LeGall 5/3 steps ``predict(s, d) -> d`` and ``update(s, d) -> s``."""

    def make_case(gen):
        x = _even_signal(gen)
        return x[..., 0::2].clone(), x[..., 1::2].clone()

    r1 = check(predict, reference_legall53_predict, make_case, atol=1e-10, rtol=1e-8)
    r2 = check(update, reference_legall53_update, make_case, atol=1e-10, rtol=1e-8)
    return CheckResult(r1.passed and r2.passed, r1.n_cases + r2.n_cases, r1.message + "\n" + r2.message)


# (end of lifting exercises)


# WINNet (chapter 04) ------------------------------------------------------------
def reference_noise_soft_threshold(x: torch.Tensor, theta: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """WINNet's noise-adaptive soft threshold.

    ``t[b, c] = softplus_20(theta[c]) * (255 sigma[b]) / 50`` with
    ``softplus_20(u) = log(1 + exp(20 u)) / 20``; returns ``sign(x) max(|x| - t, 0)``.
    Shapes: ``x`` (B, C, H, W), ``theta`` (C,), ``sigma`` (B,) on the [0, 1] scale.
    """
    from .inn import NoiseSoftThreshold

    st = NoiseSoftThreshold(theta.numel()).to(x.dtype)
    with torch.no_grad():
        st.theta.copy_(theta)
        return st(x, sigma.to(x.dtype))


def check_noise_soft_threshold(fn: Callable) -> CheckResult:
    """Exercise: the threshold that scales with the noise level, ``fn(x, theta, sigma)``."""

    def make_case(gen):
        b, c = (int(v) for v in torch.randint(1, 5, (2,), generator=gen))
        h, w = (int(v) for v in torch.randint(2, 12, (2,), generator=gen))
        x = 0.2 * torch.randn(b, c, h, w, generator=gen, dtype=torch.float64)
        theta = 0.3 * torch.randn(c, generator=gen, dtype=torch.float64)
        sigma = 60 / 255 * torch.rand(b, generator=gen, dtype=torch.float64)
        return x, theta, sigma

    return check(fn, reference_noise_soft_threshold, make_case, n_cases=8, atol=1e-10, rtol=1e-8)


# (end of winnet exercises)


# Invertible networks (chapter 03) -----------------------------------------------
def _coupling_case(gen: torch.Generator):
    """``c`` (B, 1, H, W), ``d`` (B, 3, H, W) in float64 and two random nonlinear CNNs
    ``P`` (1 -> 3 channels) and ``U`` (3 -> 1)."""
    b = int(torch.randint(1, 4, (1,), generator=gen))
    h, w = (int(v) for v in torch.randint(3, 12, (2,), generator=gen))
    c = torch.randn(b, 1, h, w, generator=gen, dtype=torch.float64)
    d = torch.randn(b, 3, h, w, generator=gen, dtype=torch.float64)
    wp = torch.randn(3, 1, 3, 3, generator=gen, dtype=torch.float64) / 3
    wu = torch.randn(1, 3, 3, 3, generator=gen, dtype=torch.float64) / 5

    def P(c):  # noqa: N802 (the book's notation)
        return torch.tanh(torch.nn.functional.conv2d(c, wp, padding=1))

    def U(d):  # noqa: N802
        return torch.relu(torch.nn.functional.conv2d(d, wu, padding=1))

    return c, d, P, U


def reference_coupling_forward(c, d, P, U):
    """One lifting (additive coupling) step: ``d <- d - P(c)``, then ``c <- c + U(d)``.

    Shapes: ``c`` (B, Cc, H, W), ``d`` (B, Cd, H, W) -> the new ``(c, d)``, same shapes.
    """
    d = d - P(c)
    c = c + U(d)
    return c, d


def reference_coupling_inverse(c, d, P, U):
    """Inverse of :func:`reference_coupling_forward`: ``c <- c - U(d)``, then ``d <- d + P(c)``."""
    c = c - U(d)
    d = d + P(c)
    return c, d


def check_lifting_coupling(forward: Callable, inverse: Callable) -> CheckResult:
    """Exercise: a lifting coupling layer ``forward(c, d, P, U) -> (c, d)`` and its inverse
    ``inverse(c, d, P, U) -> (c, d)``, for any predictor ``P`` and updater ``U``."""
    r1 = check(forward, reference_coupling_forward, _coupling_case, n_cases=6, atol=1e-10, rtol=1e-8)

    def forward_case(gen):
        c, d, P, U = _coupling_case(gen)
        return (*reference_coupling_forward(c, d, P, U), P, U)

    r2 = check(inverse, reference_coupling_inverse, forward_case, n_cases=6, atol=1e-10, rtol=1e-8)
    return CheckResult(r1.passed and r2.passed, r1.n_cases + r2.n_cases, r1.message + "\n" + r2.message)


# (end of invertible networks exercises)


# Plug-and-play (chapter 05) ---------------------------------------------------
def reference_hqs_fourier_x_step(y: torch.Tensor, z: torch.Tensor, otf: torch.Tensor, beta: float) -> torch.Tensor:
    """The HQS data step for circular blur, in the Fourier domain.

    ``argmin_x ||k * x - y||^2 + beta ||x - z||^2
    = F^{-1}[ (conj(K) Y + beta Z) / (|K|^2 + beta) ]``; ``y``, ``z`` (H, W) real,
    ``otf`` (H, W) complex; returns (H, W) real.
    """
    num = otf.conj() * torch.fft.fft2(y) + beta * torch.fft.fft2(z)
    return torch.fft.ifft2(num / (otf.abs() ** 2 + beta)).real


def check_hqs_fourier_x_step(fn: Callable) -> CheckResult:
    """Exercise: the plug-and-play HQS x-update for circular blur, ``fn(y, z, otf, beta)``."""
    from .operators import kernel_to_otf

    def make_case(gen):
        h, w, k = _blur_case(gen)
        y = torch.rand(h, w, generator=gen, dtype=torch.float64)
        z = torch.rand(h, w, generator=gen, dtype=torch.float64)
        otf = kernel_to_otf(k.double(), (h, w))
        beta = float(10 ** (-3 * torch.rand(1, generator=gen)))
        return y, z, otf, beta

    return check(fn, reference_hqs_fourier_x_step, make_case, atol=1e-8, rtol=1e-6)
# (end of plug-and-play exercises)


# Sparse coding and unfolding (chapter 06) --------------------------------------
def _sparse_case(gen: torch.Generator):
    m = int(torch.randint(5, 30, (1,), generator=gen))
    n = m + int(torch.randint(1, 40, (1,), generator=gen))
    b = int(torch.randint(1, 6, (1,), generator=gen))
    D = torch.randn(m, n, generator=gen, dtype=torch.float64)
    D = D / D.norm(dim=0, keepdim=True)
    x = torch.randn(b, n, generator=gen, dtype=torch.float64) * (torch.rand(b, n, generator=gen) < 0.3)
    y = torch.randn(b, m, generator=gen, dtype=torch.float64)
    return D, x, y


def reference_ista_step(x, y, D, lam, L):
    """One ISTA step ``S_{lam/L}(x + D^T (y - D x) / L)``; x (B, n), y (B, m), D (m, n)."""
    v = x + (y - x @ D.T) @ D / L
    return torch.sign(v) * torch.clamp(v.abs() - lam / L, min=0)


def check_ista_step(fn: Callable) -> CheckResult:
    """Exercise: one ISTA step, ``fn(x, y, D, lam, L)`` with rows as examples."""

    def make_case(gen):
        D, x, y = _sparse_case(gen)
        L = float(torch.linalg.matrix_norm(D, ord=2) ** 2)
        lam = float(0.5 * torch.rand(1, generator=gen))
        return x, y, D, lam, L

    return check(fn, reference_ista_step, make_case, atol=1e-10, rtol=1e-8)


def reference_lista_layer(x, y, W_e, S, theta):
    """One LISTA layer ``S_theta(W_e y + S x)``; x (B, n), y (B, m), W_e (n, m), S (n, n)."""
    v = y @ W_e.T + x @ S.T
    return torch.sign(v) * torch.clamp(v.abs() - theta, min=0)


def check_lista_layer(fn: Callable) -> CheckResult:
    """Exercise: the forward pass of one LISTA layer, ``fn(x, y, W_e, S, theta)``."""

    def make_case(gen):
        D, x, y = _sparse_case(gen)
        m, n = D.shape
        W_e = 0.3 * torch.randn(n, m, generator=gen, dtype=torch.float64)
        S = 0.3 * torch.randn(n, n, generator=gen, dtype=torch.float64)
        theta = float(0.5 * torch.rand(1, generator=gen))
        return x, y, W_e, S, theta

    return check(fn, reference_lista_layer, make_case, atol=1e-10, rtol=1e-8)


# (end of sparse exercises)


# X-ray separation (chapter 08) -------------------------------------------------
def _xray_images(gen: torch.Generator):
    """Two smooth random images with a few shared and a few separate edges, (B, 1, H, W)."""
    b = int(torch.randint(1, 3, (1,), generator=gen))
    h, w = (int(v) * 8 for v in torch.randint(3, 7, (2,), generator=gen))
    a = torch.rand(b, 1, h // 4, w // 4, generator=gen, dtype=torch.float64)
    c = torch.rand(b, 1, h // 4, w // 4, generator=gen, dtype=torch.float64)
    up = dict(size=(h, w), mode="nearest")
    a = torch.nn.functional.interpolate(a, **up) + 0.05 * torch.rand(b, 1, h, w, generator=gen)
    c = torch.nn.functional.interpolate(c, **up) + 0.05 * torch.rand(b, 1, h, w, generator=gen)
    return a, 0.5 * c + 0.3 * a


def reference_exclusion_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The exclusion loss over 3 scales (``mbdl_teach.xray.exclusion_loss``)."""
    from . import xray

    return xray.exclusion_loss(a, b, levels=3)


def check_exclusion_loss(fn: Callable) -> CheckResult:
    """Exercise: the exclusion loss ``fn(a, b)`` of two (B, 1, H, W) images (3 scales)."""
    return check(fn, reference_exclusion_loss, _xray_images, atol=1e-8, rtol=1e-6,
                 name=getattr(fn, "__name__", "exclusion_loss"))


def reference_xray_ista_layer(z1, z2, x, r1, Xi, Omega, step, theta1, theta2, gamma):
    """One ISTA step on the codes (``mbdl_teach.xray.ista_codes_step``)."""
    from . import xray

    return xray.ista_codes_step(z1, z2, x, r1, Xi, Omega, step, theta1, theta2, gamma)


def check_xray_ista_layer(fn: Callable) -> CheckResult:
    """Exercise: ``fn(z1, z2, x, r1, Xi, Omega, step, theta1, theta2, gamma) -> (z1, z2)``."""
    from . import xray

    def make_case(gen):
        k, f = int(torch.randint(4, 10, (1,), generator=gen)), int(torch.randint(3, 6, (1,), generator=gen))
        h, w = (int(v) * 2 for v in torch.randint(6, 12, (2,), generator=gen))
        Xi = xray.ConvDictionary(k, f, 1, init=0.3 * torch.randn(1, k, f, f, generator=gen)).double()
        Omega = xray.ConvDictionary(k, f, 3, init=0.3 * torch.randn(3, k, f, f, generator=gen)).double()
        z1, z2 = (0.2 * torch.randn(1, k, h, w, generator=gen, dtype=torch.float64) for _ in range(2))
        x = torch.rand(1, 1, h, w, generator=gen, dtype=torch.float64)
        r1 = torch.rand(1, 3, h, w, generator=gen, dtype=torch.float64)
        step = float(0.2 + 0.3 * torch.rand(1, generator=gen))
        theta1, theta2 = (0.05 * torch.rand(k, 1, 1, generator=gen, dtype=torch.float64) for _ in range(2))
        gamma = float(0.5 * torch.rand(1, generator=gen))
        return z1, z2, x, r1, Xi, Omega, step, theta1, theta2, gamma

    with torch.no_grad():
        return check(fn, reference_xray_ista_layer, make_case, n_cases=4, atol=1e-9, rtol=1e-7,
                     name=getattr(fn, "__name__", "ista_layer"))


# (end of X-ray separation exercises)


# XRF element maps (chapter 09) ----------------------------------------------------
def _exp_case(gen: torch.Generator):
    K = int(torch.randint(1, 4, (1,), generator=gen))
    N = 2 * K + 1 + int(torch.randint(0, 8, (1,), generator=gen))
    z = 0.5 + torch.rand(K, generator=gen, dtype=torch.float64)
    z = z + 0.3 * torch.arange(K, dtype=torch.float64)  # distinct roots
    c = 0.5 + torch.rand(K, generator=gen, dtype=torch.float64)
    n = torch.arange(N, dtype=torch.float64)
    h = (c[None] * z[None] ** n[:, None]).sum(1)
    return h, K


def reference_annihilating_filter(h: torch.Tensor, K: int) -> torch.Tensor:
    """The annihilating filter ``(1, a_1, ..., a_K)`` of ``h[n] = sum_k c_k z_k^n``:
    the coefficients of ``prod_k (1 - z_k x^-1)``, i.e. ``sum_i a_i h[n - i] = 0``."""
    from .xrf.fri import annihilating_filter

    return torch.from_numpy(np.real(annihilating_filter(h.numpy(), K)).astype(np.float64))


def check_annihilating_filter(fn: Callable) -> CheckResult:
    """Exercise: ``fn(h, K)`` returns the annihilating filter (K + 1,), first entry 1, of a
    sum of K exponentials ``h`` (N,)."""
    return check(fn, reference_annihilating_filter, _exp_case, atol=1e-6, rtol=1e-6)


def reference_gaussian_preweight(samples: torch.Tensor, t: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian-kernel FRI pre-weighting: ``samples * exp(t^2 / (2 sigma^2))``."""
    return samples * torch.exp(t**2 / (2 * sigma**2))


def check_gaussian_preweight(fn: Callable) -> CheckResult:
    """Exercise: ``fn(samples, t, sigma)`` turns Gaussian pulses sampled at ``t`` into a sum
    of exponentials."""

    def make_case(gen):
        N = int(torch.randint(5, 15, (1,), generator=gen))
        sigma = float(0.5 + torch.rand(1, generator=gen))
        t = (torch.arange(N, dtype=torch.float64) - N // 2) * 0.4 * sigma
        uk = (torch.rand(2, generator=gen, dtype=torch.float64) - 0.5) * sigma
        s = torch.exp(-((t[:, None] - uk[None]) ** 2) / (2 * sigma**2)).sum(1)
        return s, t, sigma

    return check(fn, reference_gaussian_preweight, make_case, atol=1e-9, rtol=1e-8)


# (end of XRF exercises)


# Diffusion priors (chapter 07) ------------------------------------------------------
def reference_q_sample(x0: torch.Tensor, t: torch.Tensor, betas: torch.Tensor,
                       noise: torch.Tensor) -> torch.Tensor:
    """``sqrt(abar_t) x0 + sqrt(1 - abar_t) noise`` with ``abar_t = prod_{s <= t} (1 - beta_s)``."""
    abar = torch.cumprod(1 - betas, 0)[t].reshape(-1, 1, 1, 1)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def check_q_sample(fn: Callable) -> CheckResult:
    """Exercise: ``fn(x0, t, betas, noise)`` draws ``x_t`` from ``q(x_t | x_0)`` in one step
    (``x0`` and ``noise`` (B, 1, H, W), ``t`` (B,) integer steps, ``betas`` (T,))."""

    def make_case(gen):
        T = int(torch.randint(10, 200, (1,), generator=gen))
        b = int(torch.randint(1, 5, (1,), generator=gen))
        betas = torch.linspace(1e-4, 0.02 + 0.1 * float(torch.rand(1, generator=gen)), T,
                               dtype=torch.float64)
        x0 = 2 * torch.rand(b, 1, 8, 8, generator=gen, dtype=torch.float64) - 1
        t = torch.randint(T, (b,), generator=gen)
        return x0, t, betas, torch.randn(b, 1, 8, 8, generator=gen, dtype=torch.float64)

    return check(fn, reference_q_sample, make_case, atol=1e-10, rtol=1e-8,
                 name=getattr(fn, "__name__", "q_sample"))


def reference_ddnm_projection(x0: torch.Tensor, y: torch.Tensor, op, delta: float) -> torch.Tensor:
    """``x0 + A+ (y - H x0)`` with ``A+ = (H^T H + delta I)^{-1} H^T``."""
    return x0 + op.solve_normal(op.T(y - op(x0)), delta)


def check_ddnm_projection(fn: Callable) -> CheckResult:
    """Exercise: ``fn(x0, y, op, delta)``, DDNM's range-null-space step on [0, 1] images."""
    from .operators import Blur, Downsample, box_kernel

    def make_case(gen):
        if int(torch.randint(2, (1,), generator=gen)):
            k = torch.rand(5, 5, generator=gen, dtype=torch.float64) + 0.1
            op, shape = Blur((k / k.sum()).float()), (1, 1, 16, 16)
        else:
            f = int(torch.randint(2, 5, (1,), generator=gen))
            op, shape = Downsample(f, box_kernel(f)), (1, 1, 4 * f, 4 * f)
        x0 = torch.rand(shape, generator=gen, dtype=torch.float64)
        y = op(torch.rand(shape, generator=gen, dtype=torch.float64))
        return x0, y, op, float(10 ** (-4 + 3 * torch.rand(1, generator=gen)))

    return check(fn, reference_ddnm_projection, make_case, atol=1e-7, rtol=1e-6,
                 name=getattr(fn, "__name__", "ddnm_projection"))


# (end of diffusion exercises)


# ---------------------------------------------------------------- chapter 10: light fields
def reference_strided_adjoint(y: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
    """The adjoint of ``x -> conv2d(x, weight, stride=stride)`` (no padding)."""
    import torch.nn.functional as F

    return F.conv_transpose2d(y, weight, stride=stride)


def check_strided_adjoint(fn: Callable) -> CheckResult:
    """Exercise: ``fn(y, weight, stride)`` is the adjoint of one depth's strided convolution
    ``x (B, 1, H, W) -> conv2d(x, weight (C, 1, k, k), stride) (B, C, h, w)``, returning
    (B, 1, H, W) with ``H = (h - 1) stride + k``."""

    def make_case(gen):
        s = int(torch.randint(1, 4, (1,), generator=gen))
        k = s * int(torch.randint(1, 4, (1,), generator=gen))
        c = int(torch.randint(1, 6, (1,), generator=gen))
        h = int(torch.randint(2, 6, (1,), generator=gen))
        w = torch.rand(c, 1, k, k, generator=gen, dtype=torch.float64)
        return torch.randn(2, c, h, h + 1, generator=gen, dtype=torch.float64), w, s

    return check(fn, reference_strided_adjoint, make_case, atol=1e-10, rtol=1e-8,
                 name=getattr(fn, "__name__", "strided_adjoint"))


def reference_isra_update(x: torch.Tensor, y: torch.Tensor, op) -> torch.Tensor:
    """One ISRA step ``x * H^T y / H^T H x``."""
    return x * op.adjoint(y) / op.adjoint(op(x))


def check_isra_update(fn: Callable) -> CheckResult:
    """Exercise: ``fn(x, y, op)`` makes one ISRA update with a light-field operator."""
    from .lfm import LightField

    def make_case(gen):
        D, s, K, N = (int(torch.randint(1, 3, (1,), generator=gen)), 2, 3, 3)
        psf = torch.rand(D, s, s, K * N, K * N, generator=gen, dtype=torch.float64)
        op = LightField(psf, pixels=N)
        x = torch.rand(1, D, 4 * s, 3 * s, generator=gen, dtype=torch.float64) + 0.1
        y = op(torch.rand(x.shape, generator=gen, dtype=torch.float64))
        return x, y, op

    return check(fn, reference_isra_update, make_case, atol=1e-10, rtol=1e-8,
                 name=getattr(fn, "__name__", "isra_update"))
