"""Linear forward models ``y = H x`` with exact adjoints, as ``nn.Module`` s.

Every forward model of the course is a :class:`LinearOperator`: a blur, a decimation, a mask,
a dictionary, later a light-field filter bank or a line library. Tensors are batch first and
of any rank: images (B, C, H, W), vectors (B, n), volumes (B, D, H, W). Each operator has

* ``op(x)`` (``forward``): ``H x``;
* ``op.adjoint(y)``: ``H^T y``, exact, so ``<H x, y> = <x, H^T y>``;
* ``op.T``: the adjoint as an operator; ``A @ B``, ``A + B``, ``c * A`` build new ones;
* ``op.normal(x)``: ``H^T H x``; ``op.norm(shape)``: ``||H||_2`` by power iteration;
* ``op.output_shape(shape)`` / ``op.input_shape(shape)``: the shapes on either side;
* ``op.solve_normal(rhs, beta)``: ``(H^T H + beta I)^{-1} rhs``, in closed form where it is
  cheap (FFT for circular blur and blur + decimation, elementwise for masks, a Cholesky
  factor for small matrices), by conjugate gradients otherwise.

Operators keep their constants (kernels, masks, matrices) as buffers, so ``op.to(device)``
moves them, and they follow the device and dtype of their input.

Blur is circular (periodic boundary), which is what makes the FFT solves exact. Real
blurs are not periodic: data made for a fair test should come from a finer model (see
the chapters' notes on the inverse crime).

The package has two parts: :mod:`mbdl_teach.operators.base` (the interface, its algebra,
conjugate gradients, the adjoint test, ``Identity`` and ``MatrixOperator``) and
:mod:`mbdl_teach.operators.image` (kernels, ``Blur``, ``Downsample``, ``Mask``); everything
is available from ``mbdl_teach.operators``.
"""

from .base import (Adjoint, Composition, Identity, LinearOperator, MatrixOperator, Scaled, Sum,
                   adjointness_error, conjugate_gradient)
from .image import Blur, Downsample, Mask, box_kernel, gaussian_kernel, kernel_to_otf, motion_kernel

__all__ = [
    "LinearOperator", "Adjoint", "Composition", "Sum", "Scaled", "Identity", "MatrixOperator",
    "Blur", "Downsample", "Mask", "conjugate_gradient", "adjointness_error",
    "gaussian_kernel", "box_kernel", "motion_kernel", "kernel_to_otf",
]
