"""The Unfolded base: any unrolled iteration, on vectors and on images."""
import pytest
import torch
from torch import nn

from mbdl_teach import operators as ops
from mbdl_teach import data, solvers
from mbdl_teach.unfolding import Unfolded, code_loss, nmse_per_layer, train_unfolded


class GradientSteps(Unfolded):
    """Vectors: x_{k+1} = x_k - a_k D^T (D x_k - y), a learned step per layer (Landweber)."""

    def __init__(self, D, n_layers):
        super().__init__()
        self.op, self.n_layers = ops.MatrixOperator(D), n_layers
        self.step = nn.Parameter(torch.full((n_layers,), 1.0 / self.op.norm() ** 2, dtype=D.dtype))

    def init(self, y):
        return y.new_zeros(y.shape[0], self.op.shape[1])

    def layer(self, k, x, y):
        return x - self.step[k] * self.op.adjoint(self.op(x) - y)


class MaskedDenoising(Unfolded):
    """Images with side information: x_{k+1} = x_k - a_k m * (x_k - y) - b_k (x_k - blur(x_k))."""

    def __init__(self, n_layers):
        super().__init__()
        self.n_layers = n_layers
        self.blur = ops.Blur(ops.gaussian_kernel(1.0))
        self.a = nn.Parameter(torch.full((n_layers,), 0.5))
        self.b = nn.Parameter(torch.zeros(n_layers))

    def init(self, y, mask):
        return mask * y

    def layer(self, k, x, y, mask):
        return x - self.a[k] * mask * (x - y) - self.b[k] * (x - self.blur(x))


def test_vector_subclass_untrained_is_the_iteration_it_unfolds():
    g = torch.Generator().manual_seed(0)
    D = torch.randn(8, 12, generator=g, dtype=torch.float64)
    y = torch.randn(5, 8, generator=g, dtype=torch.float64)
    net = GradientSteps(D, 6)
    x, L = torch.zeros(5, 12, dtype=torch.float64), ops.MatrixOperator(D).norm() ** 2
    outs = net(y, return_all=True)
    for k in range(6):
        x = x - (x @ D.T - y) @ D / L
        torch.testing.assert_close(outs[k], x)
    torch.testing.assert_close(net(y, n_layers=3), outs[2])
    torch.testing.assert_close(net(y, n_layers=0), torch.zeros(5, 12, dtype=torch.float64))


def test_image_subclass_with_side_information_trains():
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(4, 1, 16, 16, generator=g)
    mask = (torch.rand(4, 1, 16, 16, generator=g) < 0.7).float()
    y = mask * (clean + 0.05 * torch.randn(clean.shape, generator=g))
    net = MaskedDenoising(3)
    assert net(y, mask=mask).shape == y.shape
    before = nmse_per_layer(net, y, clean, mask=mask)
    assert len(before) == 4
    hist = train_unfolded(net, lambda step, gen: (y, clean, {"mask": mask}), 60, lr=0.05,
                          progress=False)
    assert hist.losses[-1] < hist.losses[0]
    assert nmse_per_layer(net, y, clean, mask=mask)[-1] < before[-1]


def test_lista_family_are_unfolded_subclasses():
    prob = data.SyntheticSparse(10, 20, generator=torch.Generator().manual_seed(0))
    for net in (solvers.LISTA(prob.D, 3), solvers.LISTA_CP(prob.D, 3), solvers.ALISTA(prob.D, 3)):
        assert isinstance(net, Unfolded) and isinstance(net.op, ops.MatrixOperator)
        assert torch.equal(net.D, prob.D)


def test_bad_arguments_are_clear_errors():
    net = GradientSteps(torch.randn(4, 6, dtype=torch.float64), 2)
    with pytest.raises(ValueError, match=r"n_layers must be an integer in \[0, 2\]"):
        net(torch.zeros(1, 4, dtype=torch.float64), n_layers=3)
    with pytest.raises(TypeError, match="unfolding.Unfolded"):
        train_unfolded(nn.Linear(2, 2), None, 1)
    with pytest.raises(ValueError, match="layers must be"):
        code_loss("first")
    with pytest.raises(ValueError, match=r"batches \(y, x\)"):
        code_loss()(net, (1, 2, 3, 4))
