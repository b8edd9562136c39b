"""The unfolded separation network: ISTA on the two components' convolutional codes."""

from __future__ import annotations

import torch
from torch import nn

from ..operators import LinearOperator
from ..unfolding import Unfolded
from ..wavelets import soft_threshold
from .checks import check_pair
from .exclusion import edge_map
from .operators import ConvDictionary, SeparationOperator
from .regression import regression_split


def ista_codes_step(z1, z2, x, r1, Xi: LinearOperator, Omega: LinearOperator, step, theta1,
                    theta2, gamma):
    """One ISTA step on the codes of the two components.

    Proximal gradient on
    ``F = 1/2 ||A z - (x, sqrt(gamma) r1)||^2 + ||theta1 . z1||_1 / step
    + ||theta2 . z2||_1 / step`` with ``A`` the :class:`SeparationOperator`, that is
    ``1/2 ||x - Xi z1 - Xi z2||^2 + gamma/2 ||r1 - Omega z1||^2`` plus the l1 terms::

        e  = x - Xi z1 - Xi z2
        z1 <- S_theta1(z1 + step (Xi^T e + gamma Omega^T (r1 - Omega z1)))
        z2 <- S_theta2(z2 + step  Xi^T e)

    ``theta1``, ``theta2`` broadcast against the codes (per atom, or per atom and pixel).
    """
    op = SeparationOperator(Xi, Omega, gamma)
    z = torch.cat([z1, z2], 1)
    v = z - step * op.adjoint(op(z) - op.measurement(x, r1))
    K = z1.shape[1]
    return (soft_threshold(v[:, :K], theta1, check=False),
            soft_threshold(v[:, K:], theta2, check=False))


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
        check_pair(y, r1)
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
