"""The operator interface and its algebra: LinearOperator, A.T, A @ B, A + B, c * A,
conjugate gradients, the adjoint test, the identity and matrices.

See :mod:`mbdl_teach.operators` for the interface every forward model follows.
"""


from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn

__all__ = ["LinearOperator", "Adjoint", "Composition", "Sum", "Scaled", "Identity",
           "MatrixOperator", "conjugate_gradient", "adjointness_error"]


def _check_tensor(x, what: str = "x", min_ndim: int = 1) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(f"{what} must be a floating-point tensor, got {x.dtype}")
    if x.ndim < min_ndim:
        raise ValueError(f"{what} must have at least {min_ndim} dimensions (batch first), "
                         f"got shape {tuple(x.shape)}")


def _check_batch(x, what: str = "x") -> None:
    """Images: a floating-point tensor of shape (B, C, H, W)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{what} must have shape (B, C, H, W), got {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        raise TypeError(f"{what} must be a floating-point tensor, got {x.dtype}")


def _check_beta(beta) -> float:
    beta = float(beta)
    if not math.isfinite(beta) or beta <= 0:
        raise ValueError(f"beta must be a finite number > 0, got {beta}")
    return beta


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-batch-item inner products, shape (B, 1, ..., 1)."""
    return (a * b).sum(dim=tuple(range(1, a.ndim)), keepdim=True)


def conjugate_gradient(
    apply_a: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    x0: torch.Tensor | None = None,
    n_iter: int = 50,
    tol: float = 1e-6,
) -> torch.Tensor:
    """Solve ``A x = b`` for a symmetric positive-definite ``A``, per batch item.

    Parameters
    ----------
    apply_a : callable
        ``x -> A x`` on tensors shaped like ``b``.
    b : Tensor, shape (B, ...)
    x0 : Tensor, optional
        Starting point (default zeros).
    n_iter : int
        Maximum number of iterations.
    tol : float
        Stop when every item's ``||r|| / ||b||`` is below ``tol``.

    Returns
    -------
    Tensor, shape of ``b``
    """
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
        raise ValueError(f"n_iter must be an int >= 1, got {n_iter!r}")
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b - apply_a(x) if x0 is not None else b.clone()
    p = r.clone()
    rs = _dot(r, r)
    tiny = torch.finfo(b.dtype).tiny
    b_norm = _dot(b, b).sqrt().clamp_min(tiny)
    for _ in range(n_iter):
        if bool((rs.sqrt() / b_norm <= tol).all()):
            break
        ap = apply_a(p)
        alpha = rs / _dot(p, ap).clamp_min(tiny)
        x = x + alpha * p
        r = r - alpha * ap
        rs_new = _dot(r, r)
        p = r + (rs_new / rs.clamp_min(tiny)) * p
        rs = rs_new
    return x


class LinearOperator(nn.Module):
    """Base class of every forward model: subclasses implement ``forward`` and ``adjoint``.

    Override ``output_shape`` and ``input_shape`` when ``H`` changes the shape, and
    ``solve_normal`` when ``(H^T H + beta I)^{-1}`` has a closed form (then the solvers use
    it; otherwise they run conjugate gradients).
    """

    #: True when :meth:`solve_normal` is a closed form (not conjugate gradients).
    closed_form_solve: bool = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def output_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """Shape of ``H x`` for ``x`` of ``shape`` (batch first)."""
        return tuple(shape)

    def input_shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        """Shape of ``H^T y`` for ``y`` of ``shape`` (batch first)."""
        return tuple(shape)

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """``H^T H x``."""
        return self.adjoint(self.forward(x))

    def solve_normal(self, rhs: torch.Tensor, beta: float, x0: torch.Tensor | None = None,
                     cg_n_iter: int = 100, tol: float = 1e-10) -> torch.Tensor:
        """``(H^T H + beta I)^{-1} rhs`` by conjugate gradients (closed forms override this).

        Parameters
        ----------
        rhs : Tensor, shape of ``x``
        beta : float
            > 0.
        x0 : Tensor, optional
            Warm start of the conjugate gradients.
        cg_n_iter, tol : int, float
            Iterations and relative residual of the conjugate gradients.
        """
        _check_tensor(rhs, "rhs")
        beta = _check_beta(beta)
        return conjugate_gradient(lambda v: self.normal(v) + beta * v, rhs, x0=x0,
                                  n_iter=cg_n_iter, tol=tol)

    # ------------------------------------------------------------- algebra
    @property
    def T(self) -> "LinearOperator":
        """The adjoint ``H^T`` as an operator."""
        return Adjoint(self)

    def __matmul__(self, other: "LinearOperator") -> "LinearOperator":
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Composition(self, other)

    def __add__(self, other: "LinearOperator") -> "LinearOperator":
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Sum(self, other)

    def __sub__(self, other: "LinearOperator") -> "LinearOperator":
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return Sum(self, Scaled(other, -1.0))

    def __mul__(self, c: float) -> "LinearOperator":
        if isinstance(c, bool) or not isinstance(c, (int, float)):
            return NotImplemented
        return Scaled(self, float(c))

    __rmul__ = __mul__

    def __neg__(self) -> "LinearOperator":
        return Scaled(self, -1.0)

    # ------------------------------------------------------------- norm
    def _where(self) -> tuple[torch.device, torch.dtype]:
        for t in list(self.buffers()) + list(self.parameters()):
            if torch.is_floating_point(t):
                return t.device, t.dtype
        return torch.device("cpu"), torch.float64

    def norm(self, shape: Sequence[int] | None = None, n_iter: int = 100, tol: float = 1e-7,
             generator: torch.Generator | None = None) -> float:
        """``||H||_2``, the largest singular value, by power iteration on ``H^T H``.

        Parameters
        ----------
        shape : sequence of int, optional
            Shape of an input ``x`` (batch first, batch 1 is enough). Operators with a fixed
            input size (a matrix) know it; image operators need it.
        n_iter : int
            Maximum number of power iterations.
        tol : float
            Stop when the estimate changes by less than ``tol`` (relative).
        generator : torch.Generator, optional
            CPU generator of the random start (default seed 0).

        Returns
        -------
        float
        """
        if shape is None:
            shape = getattr(self, "domain_shape", None)
            if shape is None:
                raise ValueError(f"{type(self).__name__}.norm needs the input shape, "
                                 "e.g. op.norm((1, 1, 64, 64))")
        device, dtype = self._where()
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        x = torch.randn(tuple(shape), generator=g, dtype=torch.float64).to(device, dtype)
        x = x / x.norm()
        est = 0.0
        with torch.no_grad():
            for _ in range(n_iter):
                z = self.normal(x)
                new = float(z.norm())
                if new == 0:
                    return 0.0
                x = z / new
                if abs(new - est) <= tol * new:
                    est = new
                    break
                est = new
        return math.sqrt(est)


class Adjoint(LinearOperator):
    """``H^T`` of an operator (see :attr:`LinearOperator.T`)."""

    def __init__(self, op: LinearOperator):
        super().__init__()
        self.op = op

    def forward(self, x):
        return self.op.adjoint(x)

    def adjoint(self, y):
        return self.op.forward(y)

    def output_shape(self, shape):
        return self.op.input_shape(shape)

    def input_shape(self, shape):
        return self.op.output_shape(shape)

    @property
    def T(self):
        return self.op

    def __repr__(self):
        return f"{self.op!r}.T"


class Composition(LinearOperator):
    """``A @ B``: first ``B``, then ``A``; the adjoint is ``B^T A^T``."""

    def __init__(self, a: LinearOperator, b: LinearOperator):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x):
        return self.a(self.b(x))

    def adjoint(self, y):
        return self.b.adjoint(self.a.adjoint(y))

    def output_shape(self, shape):
        return self.a.output_shape(self.b.output_shape(shape))

    def input_shape(self, shape):
        return self.b.input_shape(self.a.input_shape(shape))

    def __repr__(self):
        return f"({self.a!r} @ {self.b!r})"


class Sum(LinearOperator):
    """``A + B`` (same input and output shapes)."""

    def __init__(self, a: LinearOperator, b: LinearOperator):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x):
        ya, yb = self.a(x), self.b(x)
        if ya.shape != yb.shape:
            raise ValueError(f"cannot add operators with outputs {tuple(ya.shape)} and "
                             f"{tuple(yb.shape)} for x of shape {tuple(x.shape)}")
        return ya + yb

    def adjoint(self, y):
        return self.a.adjoint(y) + self.b.adjoint(y)

    def output_shape(self, shape):
        return self.a.output_shape(shape)

    def input_shape(self, shape):
        return self.a.input_shape(shape)

    def __repr__(self):
        return f"({self.a!r} + {self.b!r})"


class Scaled(LinearOperator):
    """``c * A`` for a real number ``c``."""

    def __init__(self, op: LinearOperator, c: float):
        super().__init__()
        self.op, self.c = op, float(c)

    def forward(self, x):
        return self.c * self.op(x)

    def adjoint(self, y):
        return self.c * self.op.adjoint(y)

    def output_shape(self, shape):
        return self.op.output_shape(shape)

    def input_shape(self, shape):
        return self.op.input_shape(shape)

    def __repr__(self):
        return f"{self.c:g} * {self.op!r}"


def adjointness_error(op: LinearOperator, x_shape: Sequence[int],
                      generator: torch.Generator | None = None,
                      dtype: torch.dtype = torch.float64) -> float:
    """Relative error of the adjoint identity ``<H x, y> = <x, H^T y>`` on random x, y.

    Parameters
    ----------
    op : LinearOperator
    x_shape : sequence of int
        Shape of ``x`` (batch first).
    generator : torch.Generator, optional
        CPU generator (default seed 0); draws are moved to the operator's device.
    dtype : torch.dtype
        Precision of the test (float64 by default: then errors of ~1e-15 are expected).

    Returns
    -------
    float
        ``|<Hx, y> - <x, H^T y>| / (||Hx|| ||y|| + ||x|| ||H^T y||)``.
    """
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    device = op._where()[0]
    x = torch.randn(tuple(x_shape), generator=g, dtype=torch.float64).to(device, dtype)
    hx = op(x)
    y = torch.randn(tuple(hx.shape), generator=g, dtype=torch.float64).to(device, dtype)
    hty = op.adjoint(y)
    if tuple(hty.shape) != tuple(x.shape):
        raise ValueError(f"the adjoint maps y of shape {tuple(y.shape)} to {tuple(hty.shape)}, "
                         f"not to x's shape {tuple(x.shape)}")
    lhs, rhs = float((hx * y).sum()), float((x * hty).sum())
    scale = float(hx.norm() * y.norm() + x.norm() * hty.norm())
    return abs(lhs - rhs) / max(scale, 1e-300)


class Identity(LinearOperator):
    """``H = I`` (denoising); any shape."""

    closed_form_solve = True

    def forward(self, x):
        _check_tensor(x)
        return x

    def adjoint(self, y):
        _check_tensor(y, "y")
        return y

    def solve_normal(self, rhs, beta, x0=None, **kwargs):
        _check_tensor(rhs, "rhs")
        return rhs / (1.0 + _check_beta(beta))

    def __repr__(self):
        return "Identity()"


class MatrixOperator(LinearOperator):
    """A matrix acting on vectors: ``H x = D x`` for a batch ``x`` of shape (B, n).

    Rows are examples, so ``H x`` is ``x @ D.T`` (shape (B, m)) and ``H^T y`` is ``y @ D``.
    The dictionary of sparse coding (chapter 06) and a line library (chapter 09) are
    matrix operators.

    Parameters
    ----------
    D : Tensor, shape (m, n)
    """

    closed_form_solve = True

    def __init__(self, D: torch.Tensor):
        super().__init__()
        self.register_buffer("D", self.check(D).detach().clone())

    @staticmethod
    def check(D) -> torch.Tensor:
        """The matrix of ``D`` (a MatrixOperator or a tensor), checked: finite floats, (m, n)."""
        if isinstance(D, MatrixOperator):
            return D.D
        if not isinstance(D, torch.Tensor):
            raise TypeError(f"D must be a torch.Tensor of shape (m, n), got {type(D).__name__}")
        if D.ndim != 2:
            raise ValueError(f"D must have shape (m, n), got {tuple(D.shape)}")
        if not torch.is_floating_point(D) or not torch.isfinite(D).all():
            raise ValueError("D must hold finite floating-point values")
        return D

    @property
    def shape(self) -> tuple[int, int]:
        """``(m, n)``."""
        return tuple(self.D.shape)

    @property
    def domain_shape(self) -> tuple[int, int]:
        """Shape of one input batch for :meth:`norm`: (1, n)."""
        return (1, self.D.shape[1])

    def _check(self, v, what, size, side):
        _check_tensor(v, what)
        if v.shape[-1] != size:
            raise ValueError(f"{what} must have shape (B, {size}) ({side} of D, shape "
                             f"{tuple(self.D.shape)}), got {tuple(v.shape)}")

    def _d(self, v):
        return self.D if self.D.dtype == v.dtype else self.D.to(v.dtype)

    def forward(self, x):
        self._check(x, "x", self.D.shape[1], "columns")
        return x @ self._d(x).T

    def adjoint(self, y):
        self._check(y, "y", self.D.shape[0], "rows")
        return y @ self._d(y)

    def output_shape(self, shape):
        return tuple(shape[:-1]) + (self.D.shape[0],)

    def input_shape(self, shape):
        return tuple(shape[:-1]) + (self.D.shape[1],)

    def norm(self, shape=None, **kwargs) -> float:
        """``||D||_2``, exactly (the largest singular value, in float64)."""
        return float(torch.linalg.matrix_norm(self.D.double(), ord=2))

    def normal(self, x):
        """``D^T D x``; through the Gram matrix ``D^T D`` (cached) when D is tall."""
        m, n = self.D.shape
        if n >= m:
            return super().normal(x)
        self._check(x, "x", n, "columns")
        key = (x.dtype, x.device)
        if getattr(self, "_gram_key", None) != key:
            D = self._d(x).to(x.device)
            self._gram, self._gram_key = D.T @ D, key
        return x @ self._gram

    def column_norms(self) -> torch.Tensor:
        """``||d_j||_2`` of every column, shape (n,)."""
        return self.D.norm(dim=0)

    def normalized_columns(self) -> tuple["MatrixOperator", torch.Tensor]:
        """``(D diag(1 / c), c)``: the operator with unit-norm columns (a diagonal
        preconditioner) and the column norms ``c`` (zero columns are left as they are)."""
        c = self.column_norms()
        return MatrixOperator(self.D / c.clamp(min=1e-30)), c

    def gram(self) -> torch.Tensor:
        """The Gram matrix ``D^T D``, shape (n, n)."""
        return self.D.T @ self.D

    def solve_normal(self, rhs, beta, x0=None, **kwargs):
        self._check(rhs, "rhs", self.D.shape[1], "columns")
        beta = _check_beta(beta)
        D = self._d(rhs)
        A = D.T @ D + beta * torch.eye(D.shape[1], dtype=D.dtype, device=D.device)
        chol = torch.linalg.cholesky(A)
        return torch.cholesky_solve(rhs.reshape(-1, D.shape[1]).T, chol).T.reshape(rhs.shape)

    def __repr__(self):
        return f"MatrixOperator(D {tuple(self.D.shape)})"


