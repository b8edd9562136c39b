"""The regression baseline: ``x1`` as a polynomial of the photograph's colours."""

from __future__ import annotations

import torch

from .checks import check_pair


def _monomials(r1: torch.Tensor, degree: int) -> torch.Tensor:
    """Features ``r^a g^b b^c`` with ``a + b + c <= degree`` (constant first), (B, M, H*W)."""
    b = r1.shape[0]
    ch = r1.reshape(b, 3, -1).double()
    feats = [torch.ones_like(ch[:, 0])]
    for a in range(degree + 1):
        for bb in range(degree + 1 - a):
            for c in range(degree + 1 - a - bb):
                if a + bb + c:
                    feats.append(ch[:, 0] ** a * ch[:, 1] ** bb * ch[:, 2] ** c)
    return torch.stack(feats, 1)


def regression_split(x: torch.Tensor, r1: torch.Tensor, degree: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """The regression baseline: ``x1`` as a polynomial of the photograph's colours.

    Fits ``x ~ sum_m c_m phi_m(r1)`` by least squares over the pixels (``phi`` the monomials
    of R, G, B up to ``degree``), then ``x1`` is the fit and ``x2 = x - x1``. Valid because
    the concealed design is independent of the visible photograph, so it does not leak into
    the fit (much). The fit's constant goes to ``x1``: the split of the mean is arbitrary.

    Parameters
    ----------
    x : Tensor, shape (B, 1, H, W)
    r1 : Tensor, shape (B, 3, H, W)
    degree : int
        1 to 6.

    Returns
    -------
    x1, x2 : Tensor, shape (B, 1, H, W) each, with ``x1 + x2 == x``
    """
    check_pair(x, r1)
    if isinstance(degree, bool) or not isinstance(degree, int) or not 1 <= degree <= 6:
        raise ValueError(f"degree must be an integer in [1, 6], got {degree!r}")
    phi = _monomials(r1, degree).transpose(1, 2)  # (B, N, M)
    y = x.reshape(x.shape[0], -1, 1).double()
    coef = torch.linalg.lstsq(phi, y, driver="gelsd" if phi.device.type == "cpu" else None).solution
    x1 = (phi @ coef).reshape(x.shape).to(x.dtype)
    return x1, x - x1
