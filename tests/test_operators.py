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
        lhs = float((op(x).double() * y.double()).sum())
        rhs = float((x.double() * op.adjoint(y).double()).sum())
        assert abs(lhs - rhs) <= 1e-5 * max(abs(lhs), abs(rhs), 1.0), op


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
