import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.ndimage import convolve

from mbdl_teach.operators import (
    Blur,
    Downsample,
    Identity,
    Mask,
    gaussian_kernel,
    kernel_to_otf,
    motion_kernel,
)


def make_ops(h, w, seed):
    g = torch.Generator().manual_seed(seed)
    return [
        Identity(),
        Blur(gaussian_kernel(1.6)),
        Blur(motion_kernel(7, 35)),
        Blur(torch.rand(5, 3, generator=g)),  # non-symmetric, even/odd mix
        Mask.random((h, w), 0.4, generator=g),
        Mask(torch.rand(1, 1, h, w, generator=g)),
    ]


@settings(max_examples=12, deadline=None)
@given(st.integers(13, 40), st.integers(13, 40), st.integers(0, 999))
def test_adjoint_identity_float32(h, w, seed):
    g = torch.Generator().manual_seed(seed)
    ops = make_ops(h, w, seed)
    for s in (2, 3):
        if h % s == 0 and w % s == 0:
            ops.append(Downsample(s))
    for op in ops:
        x = torch.randn(2, 3, h, w, generator=g)
        y = torch.randn(*op.output_shape(x.shape), generator=g)
        hx, hty = op(x).double(), op.adjoint(y).double()
        lhs, rhs = float((hx * y.double()).sum()), float((x.double() * hty).sum())
        # float32 rounding scales with the norms, not with the (cancelling) inner product
        scale = float(hx.norm() * y.norm() + x.norm() * hty.norm())
        assert abs(lhs - rhs) <= 1e-6 * scale, op


@settings(max_examples=8, deadline=None)
@given(st.sampled_from([12, 18, 24, 36]), st.floats(1e-3, 10.0), st.integers(0, 999))
def test_solve_normal_inverts_the_normal_operator(n, beta, seed):
    g = torch.Generator().manual_seed(seed)
    ops = make_ops(n, n, seed) + [Downsample(2), Downsample(3), Downsample(2, torch.rand(4, 4, generator=g))]
    for op in ops:
        r = torch.randn(1, 2, n, n, generator=g, dtype=torch.float64)
        x = op.solve_normal(r, beta)
        resid = op.normal(x) + beta * x - r
        assert float(resid.abs().max()) < 1e-9 * (1 + float(r.abs().max())), op


def test_blur_matches_scipy_wrap_convolution():
    k = torch.rand(5, 4, dtype=torch.float64)
    x = torch.rand(17, 23, dtype=torch.float64)
    got = Blur(k).forward(x[None, None].double())[0, 0]
    # scipy's convolve centres the kernel at (kh // 2, kw // 2), as Blur does
    want = convolve(x.numpy(), k.numpy(), mode="wrap")
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)


def test_downsample_is_blur_then_decimate_dense():
    op = Downsample(2, gaussian_kernel(1.0))
    n = 8
    eye = torch.eye(n * n, dtype=torch.float64).reshape(n * n, 1, n, n)
    H = op(eye).reshape(n * n, -1).T  # dense (m, n*n) matrix, column j = H e_j
    ys = torch.randn(1, 1, n // 2, n // 2, dtype=torch.float64)
    np.testing.assert_allclose(op.adjoint(ys).reshape(-1).numpy(), (H.T @ ys.reshape(-1)).numpy(), atol=1e-10)
    beta = 0.05
    r = torch.randn(n * n, dtype=torch.float64)
    dense = torch.linalg.solve(H.T @ H + beta * torch.eye(n * n, dtype=torch.float64), r)
    fast = op.solve_normal(r.reshape(1, 1, n, n), beta).reshape(-1)
    np.testing.assert_allclose(fast.numpy(), dense.numpy(), atol=1e-9)


def test_kernels_are_normalised_and_shaped():
    g = gaussian_kernel(2.0)
    assert g.shape == (13, 13) and abs(float(g.sum()) - 1) < 1e-6
    assert torch.allclose(g, g.T) and torch.allclose(g, g.flip(0))
    m = motion_kernel(9, 0)
    assert abs(float(m.sum()) - 1) < 1e-6
    assert float(m.sum(dim=1).max()) > 0.99  # horizontal motion: one row holds it all
    m45 = motion_kernel(9, 45)
    assert torch.allclose(m45, m45.T.flip(0).flip(1), atol=1e-6)  # symmetric about the anti-diagonal
    otf = kernel_to_otf(g.double(), (32, 32))
    assert abs(otf[0, 0].real - 1) < 1e-6 and float(otf.imag.abs().max()) < 1e-6  # symmetric -> real OTF


def test_bad_inputs_are_clear_errors():
    blur = Blur(gaussian_kernel(1.6))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        blur(torch.rand(16, 16))
    with pytest.raises(ValueError, match="smaller than the 11x11 kernel"):
        blur(torch.rand(1, 1, 8, 8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        blur(np.zeros((1, 1, 16, 16)))
    with pytest.raises(ValueError, match="not divisible by the factor 4"):
        Downsample(4)(torch.rand(1, 1, 30, 32))
    with pytest.raises(ValueError, match="factor"):
        Downsample(0)
    with pytest.raises(ValueError, match="does not fit"):
        Mask(torch.ones(16, 16))(torch.rand(1, 1, 16, 17))
    with pytest.raises(ValueError, match="beta"):
        blur.solve_normal(torch.rand(1, 1, 16, 16), 0.0)
    with pytest.raises(ValueError, match="std"):
        gaussian_kernel(-1)
    with pytest.raises(ValueError, match="odd"):
        gaussian_kernel(1.0, size=4)
    with pytest.raises(ValueError, match="length"):
        motion_kernel(0.5, 0)


# ------------------------------------------------------------------ the operator algebra
from mbdl_teach.operators import MatrixOperator, adjointness_error, conjugate_gradient  # noqa: E402


def _every_operator(n=12, seed=0):
    """(operator, x shape) for every operator of the module and their combinations."""
    g = torch.Generator().manual_seed(seed)
    blur, down = Blur(gaussian_kernel(1.2)), Downsample(2, torch.rand(3, 3, generator=g))
    mask = Mask.random((n, n), 0.5, generator=g)
    D = MatrixOperator(torch.randn(7, 11, generator=g, dtype=torch.float64))
    img = (2, 1, n, n)
    return [
        (Identity(), img), (blur, img), (down, img), (mask, img), (D, (3, 11)),
        (blur.T, img), (down.T, (2, 1, n // 2, n // 2)), (D.T, (3, 7)),
        (down @ blur, img), (mask @ blur.T, img), (blur + mask, img), (2.5 * blur - mask, img),
        (-down, img), (D.T @ D, (3, 11)), (0.5 * (D @ D.T), (3, 7)),
    ]


@pytest.mark.parametrize("k", range(15))
def test_every_operator_and_combination_is_adjoint(k):
    op, shape = _every_operator()[k]
    assert adjointness_error(op, shape) < 1e-13, op
    assert tuple(op.input_shape(op.output_shape(shape))) == tuple(shape), op


def _dense(op, shape):
    """The matrix of ``op`` for inputs of ``shape`` (batch 1), float64, by columns."""
    n = int(np.prod(shape[1:]))
    eye = torch.eye(n, dtype=torch.float64).reshape(n, *shape[1:])
    return op(eye).reshape(n, -1).T


@pytest.mark.parametrize("k", [1, 2, 3, 4, 8, 9, 10, 11, 13])
def test_norm_matches_the_largest_singular_value(k):
    op, shape = _every_operator(n=10)[k]
    one = (1,) + tuple(shape[1:])
    want = float(torch.linalg.matrix_norm(_dense(op, one), ord=2))
    assert op.norm(one, n_iter=500, tol=1e-12) == pytest.approx(want, rel=1e-6), op


def test_norm_needs_a_shape_where_the_operator_has_none():
    with pytest.raises(ValueError, match="needs the input shape"):
        Blur(gaussian_kernel(1.0)).norm()
    D = torch.randn(5, 9, generator=torch.Generator().manual_seed(1))
    assert MatrixOperator(D).norm() == pytest.approx(float(torch.linalg.matrix_norm(D, 2)), rel=1e-4)


def test_transpose_of_transpose_and_algebra_errors():
    blur = Blur(gaussian_kernel(1.0))
    assert blur.T.T is blur
    with pytest.raises(ValueError, match="cannot add operators"):
        (Downsample(2) + blur)(torch.rand(1, 1, 12, 12))
    with pytest.raises(TypeError):
        blur @ torch.eye(3)
    with pytest.raises(TypeError):
        blur * "2"


def test_matrix_operator_is_x_times_d_transpose():
    g = torch.Generator().manual_seed(3)
    D = torch.randn(6, 9, generator=g, dtype=torch.float64)
    x, y = torch.randn(4, 9, generator=g, dtype=torch.float64), torch.randn(4, 6, generator=g, dtype=torch.float64)
    op = MatrixOperator(D)
    torch.testing.assert_close(op(x), x @ D.T)
    torch.testing.assert_close(op.adjoint(y), y @ D)
    beta = 0.3
    want = torch.linalg.solve(D.T @ D + beta * torch.eye(9, dtype=torch.float64), x.T).T
    torch.testing.assert_close(op.solve_normal(x, beta), want)
    assert op.output_shape((4, 9)) == (4, 6) and op.input_shape((4, 6)) == (4, 9)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 9\)"):
        op(torch.rand(4, 6))
    with pytest.raises(ValueError, match=r"shape \(m, n\)"):
        MatrixOperator(torch.rand(3))
    with pytest.raises(TypeError, match="torch.Tensor"):
        MatrixOperator(np.eye(3))


def test_cg_solve_normal_of_a_composition_matches_dense():
    op = Mask.random((8, 8), 0.6, generator=torch.Generator().manual_seed(0)) @ Blur(gaussian_kernel(1.0))
    assert not op.closed_form_solve
    r = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    H = _dense(op, (1, 1, 8, 8))
    want = torch.linalg.solve(H.T @ H + 0.2 * torch.eye(64, dtype=torch.float64), r.reshape(-1))
    got = op.solve_normal(r, 0.2, cg_n_iter=300, tol=1e-14).reshape(-1)
    torch.testing.assert_close(got, want, atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="n_iter"):
        conjugate_gradient(lambda v: v, r, n_iter=0)


# ------------------------------------------------------------------ devices and dtypes
def test_operators_are_modules_whose_constants_move_with_to():
    blur, mask = Blur(gaussian_kernel(1.0)), Mask(torch.ones(8, 8))
    D = MatrixOperator(torch.eye(3))
    for op, name in ((blur, "kernel64"), (mask, "mask"), (D, "D"), (Downsample(2), "blur.kernel64")):
        assert isinstance(op, torch.nn.Module)
        assert name in dict(op.named_buffers()), (op, name)
    moved = (2.0 * blur).to("meta")  # no GPU here: the meta device shows what .to() moves
    assert moved.op.kernel64.device.type == "meta"


def test_float64_end_to_end_and_nothing_on_a_fixed_device():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 2, 16, 16, generator=g, dtype=torch.float64)
    for op in (Blur(gaussian_kernel(1.5)), Downsample(2), Mask.random((16, 16), 0.5, generator=g),
               Downsample(2) @ Blur(motion_kernel(5, 30))):
        y = op(x)
        assert y.dtype == torch.float64 and op.adjoint(y).dtype == torch.float64, op
        assert op.solve_normal(op.adjoint(y), 0.1).dtype == torch.float64, op
    # the OTF cache follows the input's dtype: float32 and float64 give the same numbers
    b = Blur(gaussian_kernel(1.5))
    torch.testing.assert_close(b(x.float()).double(), b(x), atol=1e-6, rtol=0)
