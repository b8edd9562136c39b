"""Synthetic neuron volumes and their light fields, made without the inverse crime.

Volumes hold soma-sized blobs (a few % of the voxels) and, optionally, thin dendrite-like
segments, drawn at continuous positions from a seed. The *test* light fields come from a
finer model than the one that reconstructs them: :func:`fine_optics` doubles the voxel grid
laterally and axially (so sources sit between the reconstruction's voxels and depths), the
volume is rendered on that grid, its light field is made with the fine PSF, and the truth
the reconstruction is scored against is the fine volume binned onto the coarse grid.
What the synthetic data still lack: scattering and background fluorescence of real tissue,
aberrations, a real camera's non-uniform gain, and the finite (non-periodic) field of view.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from .forward import LightField
from .optics import Optics, psf

__all__ = ["synthetic_volume", "KINDS", "fine_optics", "bin_volume", "add_noise", "FineModel", "volume_psnr",
           "training_set", "lfm_batches", "TEST_SEED", "VALIDATION_SEED", "TRAINING_SEED"]

#: Seeds of the three disjoint sets of synthetic volumes (training, validation, test).
TRAINING_SEED, VALIDATION_SEED, TEST_SEED = 100, 200, 300


def _generator(seed) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    return torch.Generator().manual_seed(int(seed))


#: The kinds of synthetic sample :func:`synthetic_volume` draws.
KINDS = ("neurons", "nuclei", "beads")


def synthetic_volume(optics: Optics, lenslets: tuple[int, int], n_somas: int | None = None,
                     dendrites: bool = True, seed: int | torch.Generator = 0,
                     margin: int = 1, kind: str = "neurons") -> torch.Tensor:
    """A sparse synthetic sample on the voxel grid of ``optics``: neurons, nuclei or beads.

    * ``"neurons"`` - soma-sized spheres (8-14 um across) with one or two thin dendrite-like
      segments each, about one per 15 lenslets;
    * ``"nuclei"`` - a tissue of cell nuclei: ellipsoids 6-11 um across laterally and
      10-20 um axially, about one per 6 lenslets (many touch or overlap), each with a
      smooth internal texture (brighter and darker regions, as chromatin gives);
    * ``"beads"`` - fluorescent beads: spheres 1.5-3 um across, about one per 3 lenslets,
      smaller than a voxel in depth (the calibration sample of a microscope).

    Parameters
    ----------
    optics : Optics
        Sets the grid: ``D = optics.n_depths`` planes at ``optics.z``, ``s = optics.voxels``
        voxels per lenslet of lateral size ``optics.voxel_size[0]``.
    lenslets : (h, w)
        Lateral size in lenslets.
    n_somas : int, optional
        Number of objects (cell bodies, nuclei or beads; default: the density above).
    dendrites : bool
        ``"neurons"`` only: add one or two thin segments leaving each soma.
    seed : int or Generator
    margin : int
        Keep object centres this many lenslets from the edges.
    kind : {"neurons", "nuclei", "beads"}

    Returns
    -------
    Tensor, float32, shape (D, h*s, w*s), values in [0, 1]
    """
    if not isinstance(optics, Optics):
        raise TypeError(f"synthetic_volume needs an lfm.Optics, got {type(optics).__name__}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    h, w = lenslets
    g = _generator(seed)
    s, D = optics.voxels, optics.n_depths
    lat, _ = optics.voxel_size
    z = torch.tensor(optics.z, dtype=torch.float32)
    ys = (torch.arange(h * s, dtype=torch.float32) + 0.5) * lat
    xs = (torch.arange(w * s, dtype=torch.float32) + 0.5) * lat
    H_um, W_um = h * s * lat, w * s * lat
    edge = margin * s * lat
    zlo, zhi = float(z[0]), float(z[-1])
    per = {"neurons": 15, "nuclei": 6, "beads": 3}[kind]
    n = n_somas if n_somas is not None else max(1, round(h * w / per))
    vol = torch.zeros(D, h * s, w * s)
    Z, Y, X = z[:, None, None], ys[None, :, None], xs[None, None, :]
    if kind == "nuclei":
        return _nuclei(vol, Y, X, Z, n, g, (edge, H_um, W_um, zlo, zhi))
    if kind == "beads":
        return _beads(vol, Y, X, Z, n, g, (edge, H_um, W_um, zlo, zhi))
    for _ in range(n):
        u = torch.rand(5, generator=g)
        cy = edge + float(u[0]) * (H_um - 2 * edge)
        cx = edge + float(u[1]) * (W_um - 2 * edge)
        cz = zlo + 0.1 * (zhi - zlo) + float(u[2]) * 0.8 * (zhi - zlo)
        radius = 4.0 + 3.0 * float(u[3])  # um: somas of 8-14 um
        bright = 0.6 + 0.4 * float(u[4])
        r2 = (Y - cy) ** 2 + (X - cx) ** 2 + (Z - cz) ** 2
        vol = torch.maximum(vol, bright * torch.sigmoid((radius**2 - r2) / (0.8 * radius)))
        if dendrites:
            for _ in range(1 + int(torch.randint(0, 2, (1,), generator=g))):
                v = torch.randn(3, generator=g)
                v = v / v.norm()
                length = 15.0 + 20.0 * float(torch.rand(1, generator=g))
                a = torch.tensor([cy, cx, cz]) + radius * v
                vol = torch.maximum(vol, 0.5 * bright * _segment(Y, X, Z, a, a + length * v))
    return vol.clamp(0, 1)


def _centre(u, box) -> tuple[float, float, float]:
    edge, H_um, W_um, zlo, zhi = box
    return (edge + float(u[0]) * (H_um - 2 * edge), edge + float(u[1]) * (W_um - 2 * edge),
            zlo + 0.1 * (zhi - zlo) + float(u[2]) * 0.8 * (zhi - zlo))


def _nuclei(vol, Y, X, Z, n, g, box) -> torch.Tensor:
    """Textured ellipsoids (see :func:`synthetic_volume`)."""
    for _ in range(n):
        u = torch.rand(8, generator=g)
        cy, cx, cz = _centre(u, box)
        ry = 3.0 + 2.5 * float(u[3])
        rx = 3.0 + 2.5 * float(u[4])
        rz = 5.0 + 5.0 * float(u[5])
        bright = 0.4 + 0.6 * float(u[6])
        q = ((Y - cy) / ry) ** 2 + ((X - cx) / rx) ** 2 + ((Z - cz) / rz) ** 2
        # chromatin: a smooth modulation by three random plane waves (about 4 um period)
        tex = torch.zeros(())
        for _ in range(3):
            k = torch.randn(3, generator=g) * 1.5
            ph = 6.2832 * float(torch.rand(1, generator=g))
            tex = tex + torch.cos(k[0] * (Y - cy) + k[1] * (X - cx) + 0.5 * k[2] * (Z - cz)
                                  + ph)
        body = torch.sigmoid((1 - q) / 0.12) * (0.75 + 0.25 * tex / 3)
        vol = torch.maximum(vol, bright * body)
    return vol.clamp(0, 1)


def _beads(vol, Y, X, Z, n, g, box) -> torch.Tensor:
    """Small bright spheres (see :func:`synthetic_volume`)."""
    for _ in range(n):
        u = torch.rand(5, generator=g)
        cy, cx, cz = _centre(u, box)
        radius = 0.75 + 0.75 * float(u[3])  # um: beads of 1.5-3 um
        bright = 0.5 + 0.5 * float(u[4])
        # only the voxels within 5 standard deviations (the rest is below 4e-6 of the peak)
        reach = 5 * radius / 1.2
        iz, iy, ix = ((c - reach <= v.flatten()) & (v.flatten() <= c + reach)
                      for c, v in ((cz, Z), (cy, Y), (cx, X)))
        if not (iz.any() and iy.any() and ix.any()):
            continue
        r2 = ((Y[:, iy] - cy) ** 2 + (X[..., ix] - cx) ** 2 + (Z[iz] - cz) ** 2)
        blob = bright * torch.exp(-r2 / (2 * (radius / 1.2) ** 2))
        sub = vol[iz][:, iy][:, :, ix]
        vol[torch.nonzero(iz)[:, 0, None, None], torch.nonzero(iy)[:, 0][None, :, None],
            torch.nonzero(ix)[:, 0][None, None, :]] = torch.maximum(sub, blob)
    return vol.clamp(0, 1)


def _segment(Y, X, Z, a, b, width: float = 0.8) -> torch.Tensor:
    """A thin tube from ``a`` to ``b`` (um, (y, x, z)): Gaussian profile of ``width`` um."""
    d = b - a
    t = ((Y - a[0]) * d[0] + (X - a[1]) * d[1] + (Z - a[2]) * d[2]) / float(d @ d)
    t = t.clamp(0, 1)
    d2 = (Y - a[0] - t * d[0]) ** 2 + (X - a[1] - t * d[1]) ** 2 + (Z - a[2] - t * d[2]) ** 2
    return torch.exp(-d2 / (2 * width**2))


def fine_optics(optics: Optics, factor: int = 2) -> Optics:
    """The finer model of ``optics``: ``factor`` x the voxels per lenslet and the depths,
    covering the same volume (fine depths sit between the coarse ones)."""
    lo, hi = optics.depths
    dz = (hi - lo) / max(optics.n_depths - 1, 1)
    half = dz / 2 - dz / (2 * factor)
    return dataclasses.replace(optics, voxels=optics.voxels * factor,
                               n_depths=optics.n_depths * factor,
                               depths=(lo - half, hi + half), lenslets=optics.window)


def bin_volume(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Mean over ``factor^3`` blocks: a fine volume (B, D*f, H*f, W*f) on the coarse grid."""
    B, D, H, W = x.shape
    return F.avg_pool3d(x.reshape(B, 1, D, H, W), factor).reshape(B, D // factor, H // factor,
                                                                    W // factor)


class FineModel:
    """Makes test data for ``optics`` with the finer model (see the module docstring).

    Parameters
    ----------
    optics : Optics
        The reconstruction's optics.
    factor : int
        Refinement of the voxel grid and depths (2).
    """

    def __init__(self, optics: Optics, factor: int = 2):
        self.coarse, self.factor = optics, factor
        self.optics = fine_optics(optics, factor)
        self.op = LightField(psf(self.optics).float(), pixels=optics.pixels, method="conv")

    def sample(self, lenslets: tuple[int, int], n: int, seed: int = 0, **kwargs):
        """``n`` volumes and their clean light fields.

        Returns
        -------
        truth : Tensor (n, D, h*s, w*s)
            On the coarse grid (the fine volume binned).
        light_field : Tensor (n, 1, h*N, w*N)
            Noise-free, from the fine model (computed where ``self.op`` lives, returned on
            the CPU like ``truth``).
        """
        g = _generator(seed)
        fine = torch.stack([synthetic_volume(self.optics, lenslets, seed=g, **kwargs)
                            for _ in range(n)])
        dev = self.op.weight.device
        with torch.no_grad():
            y = torch.cat([self.op(v[None].to(dev)).cpu() for v in fine]) / self.factor**3
        # every voxel is a point source whose light field sums to ~1 on either grid; a coarse
        # voxel holding the mean of its f^3 fine voxels stands for 1/f^3 of their light
        return bin_volume(fine, self.factor), y


def add_noise(y: torch.Tensor, photons: float, read_noise: float = 1.0,
              seed: int | torch.Generator = 0) -> torch.Tensor:
    """Poisson and Gaussian noise on a light field.

    ``photons`` counts are expected at the brightest pixel of each light field; the camera
    adds Gaussian read noise of ``read_noise`` counts. The result is back in the units of
    ``y`` (so it fits the same operator) and may be slightly negative where read noise is.

    Returns
    -------
    Tensor, shape of ``y``
    """
    if not photons > 0:
        raise ValueError(f"photons must be > 0, got {photons}")
    g = _generator(seed)
    peak = y.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    counts = torch.poisson((y / peak * photons).clamp_min(0), generator=g)
    counts = counts + read_noise * torch.randn(y.shape, generator=g, dtype=y.dtype)
    return counts * peak / photons


def volume_psnr(x: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """PSNR (dB) of each volume against its truth, peak = the truth's maximum.

    Returns
    -------
    Tensor, shape (B,)
    """
    if x.shape != truth.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} and {tuple(truth.shape)}")
    dims = tuple(range(1, x.ndim))
    mse = ((x.double() - truth.double()) ** 2).mean(dim=dims)
    peak = truth.double().amax(dim=dims)
    return 10 * torch.log10(peak**2 / mse.clamp_min(1e-30))


def training_set(model: FineModel, lenslets: tuple[int, int], n_labelled: int,
                 n_unlabelled: int, seed: int = TRAINING_SEED,
                 kinds: tuple[str, ...] = ("neurons",)):
    """Clean light fields of ``n_labelled + n_unlabelled`` volumes and the mask of those whose
    volume the training may use (semi-supervised: only the first ``n_labelled`` of each kind).

    With several ``kinds`` (see :func:`synthetic_volume`) the labelled and the unlabelled
    volumes are split as evenly as they go between the kinds (the first kinds get the
    remainder), kind ``i`` drawn from ``seed + 1000 i``; one kind is drawn from ``seed``.

    Returns
    -------
    x : Tensor (n, D, H, W)
        Volumes; the unlabelled ones are kept only so the shapes stay uniform - the
        semi-supervised loss never reads them.
    y : Tensor (n, 1, h*N, w*N)
    labelled : Tensor (n,), bool
    """
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not kinds or any(k not in KINDS for k in kinds):
        raise ValueError(f"kinds must be a non-empty sequence of {KINDS}, got {kinds!r}")
    xs, ys, masks = [], [], []
    K = len(kinds)
    for i, kind in enumerate(kinds):
        n_lab = n_labelled // K + (i < n_labelled % K)
        n_unl = n_unlabelled // K + (i < n_unlabelled % K)
        if n_lab + n_unl == 0:
            continue
        x, y = model.sample(lenslets, n_lab + n_unl, seed=seed + 1000 * i, kind=kind)
        xs.append(x)
        ys.append(y)
        masks.append(torch.arange(n_lab + n_unl) < n_lab)
    return torch.cat(xs), torch.cat(ys), torch.cat(masks)


def lfm_batches(x: torch.Tensor, y: torch.Tensor, labelled: torch.Tensor, batch: int,
                photons: tuple[float, float] = (50.0, 5000.0), read_noise: float = 1.0):
    """Batches for :func:`mbdl_teach.training.fit`: random items, fresh noise at a photon
    level drawn log-uniformly in ``photons``, negative values clamped (as the solvers need).

    Returns
    -------
    callable ``batches(step, generator) -> (y_noisy, x, labelled)``
    """
    lo, hi = math.log(photons[0]), math.log(photons[1])

    def batches(step: int, g: torch.Generator):
        idx = torch.randint(0, len(y), (batch,), generator=g)
        levels = torch.exp(torch.empty(batch).uniform_(lo, hi, generator=g))
        noisy = torch.cat([add_noise(y[i:i + 1], float(p), read_noise, seed=g)
                           for i, p in zip(idx, levels)])
        return noisy.clamp_min(0), x[idx], labelled[idx]

    return batches
