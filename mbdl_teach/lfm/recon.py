"""Reconstructing a volume from its light field: the classical solvers and the unfolded network.

Baselines: the solvers of :mod:`mbdl_teach.solvers` on the fastest exact operator,
:class:`~mbdl_teach.lfm.LightField` in its FFT form:

* ISRA - the multiplicative update ``x <- x * H^T y / H^T H x`` (least squares with x >= 0;
  Daube-Witherspoon & Muehllehner 1986);
* Richardson-Lucy - ``x <- x * H^T (y / H x) / H^T 1``, the Poisson maximum-likelihood
  update (the classical LFM deconvolution of Broxton et al. 2013);
* ADMM - ``min 1/2 ||H x - y||^2 + lam ||x||_1`` subject to ``x >= 0``, with the
  x-step ``(H^T H + rho I)^{-1}`` solved exactly per spatial frequency.

Every solver takes ``callback(k, x)`` after each iteration (returning True stops it);
:class:`Tracker` is one that records PSNR against a truth and the solver's own elapsed time.

:class:`UnfoldedLFM` unrolls the projected gradient iteration
``x_{k+1} = ReLU(x_k - W1_k H^T H x_k + W2_k H^T y - lambda_k)`` with learned ``W1_k``,
``W2_k`` built as functions of the eigenvalues of ``H^T H`` in its per-frequency eigenbasis
(see the class).
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from typing import Callable

import torch
from torch import nn

from .. import solvers, weights
from ..solvers import Callback
from ..unfolding import Unfolded
from .data import add_noise, synthetic_volume, volume_psnr
from .forward import LightField
from .optics import Optics, psf

__all__ = ["Tracker", "UnfoldedLFM", "lfm_loss", "ADMM_GRID",
           "tune_baselines", "baseline", "time_per_volume", "compare", "BASELINES",
           "build_unfolded", "check_shipped", "check_psnr", "Critic", "WithCritic"]

def _admm(y: torch.Tensor, op: LightField, n_iter: int, rho: float, lam: float,
          callback: Callback | None = None) -> torch.Tensor:
    """ADMM for ``min 1/2 ||H x - y||^2 + lam ||x||_1`` with ``x >= 0``, from ``x = 0``:
    :func:`mbdl_teach.solvers.admm` with the non-negative l1 proximal map (its x-step
    ``(H^T H + rho I)^{-1}`` is exact, per spatial frequency)."""
    zeros = y.new_zeros(op.input_shape(tuple(y.shape)))
    return solvers.admm(y, op, solvers.prox_l1(lam, nonneg=True), n_iter, x0=zeros,
                        callback=callback, beta=rho, record_residual=False)[0]


class Tracker:
    """A solver callback: PSNR against ``truth`` and the solver's elapsed time per iteration.

    The time excludes the tracker's own PSNR computation. Start it (``tracker.start()``)
    right before calling the solver.

    Parameters
    ----------
    truth : Tensor (B, D, H, W)
    patience : int, optional
        Stop the solver once the best PSNR is this many iterations old (for tuning: the
        multiplicative updates peak and then fit the noise).

    Attributes
    ----------
    psnr : list of float
        Mean PSNR over the batch after each iteration.
    seconds : list of float
    """

    def __init__(self, truth: torch.Tensor, patience: int | None = None):
        self.truth, self.patience = truth, patience
        self.psnr: list[float] = []
        self.seconds: list[float] = []
        self._t0 = self._paused = 0.0

    def start(self) -> "Tracker":
        self.psnr, self.seconds, self._paused = [], [], 0.0
        self._t0 = time.perf_counter()
        return self

    def __call__(self, k: int, x: torch.Tensor) -> bool:
        t = time.perf_counter()
        self.seconds.append(t - self._t0 - self._paused)
        self.psnr.append(float(volume_psnr(x, self.truth).mean()))
        stop = self.patience is not None and len(self.psnr) - self.best[0] >= self.patience
        self._paused += time.perf_counter() - t
        return stop

    @property
    def best(self) -> tuple[int, float]:
        """(iteration, PSNR) of the best iterate."""
        k = max(range(len(self.psnr)), key=self.psnr.__getitem__)
        return k + 1, self.psnr[k]


#: ADMM's (rho, lambda) grid, both relative to ``||H||^2``.
ADMM_GRID = tuple((rho, lam) for rho in (0.01, 0.03) for lam in (0.0, 0.003, 0.01))


@torch.no_grad()
def tune_baselines(y: torch.Tensor, truth: torch.Tensor, op: LightField, isra_n_iter: int,
                   rl_n_iter: int, admm_n_iter: int, admm_grid=ADMM_GRID, patience: int = 20) -> dict:
    """Each baseline's best setting on *validation* data: the iteration where ISRA and
    Richardson-Lucy peak in mean PSNR (each stops ``patience`` iterations after its peak),
    and ADMM's ``(rho, lam, n_iter)`` over ``admm_grid`` (``rho`` and ``lam`` relative to
    ``||H||^2``).

    Returns
    -------
    dict ``{"isra": n, "rl": n, "admm": (rho, lam, n), "norm2": ||H||^2}``
    """
    h, w = op._check_sensor(y)
    L = float(op.eig(h, w)[0][..., 0].max())
    tuned = {"norm2": L, "admm": None}
    for name, key, n in (("ISRA", "isra", isra_n_iter), ("Richardson-Lucy", "rl", rl_n_iter)):
        tr = Tracker(truth, patience).start()
        baseline(name, op, {key: n})(y, tr)
        tuned[key] = tr.best[0]
    best = -math.inf
    for rho, lam in admm_grid:
        tr = Tracker(truth, patience).start()
        _admm(y, op, admm_n_iter, rho * L, lam * L, tr)
        if tr.best[1] > best:
            best, tuned["admm"] = tr.best[1], (rho, lam, tr.best[0])
    return tuned


def baseline(name: str, op: LightField, tuned: dict) -> Callable[..., torch.Tensor]:
    """``(y, callback=None) -> x`` for ``"ISRA"``, ``"Richardson-Lucy"`` or ``"ADMM"`` at its
    tuned setting (a dict from :func:`tune_baselines`)."""
    if name == "ISRA":
        return lambda y, callback=None: solvers.isra(y, op, tuned["isra"],
                                                     callback=callback)[0]
    if name == "Richardson-Lucy":
        return lambda y, callback=None: solvers.richardson_lucy(y, op, tuned["rl"],
                                                                callback=callback)[0]
    if name == "ADMM":
        rho, lam, n = tuned["admm"]
        L = tuned["norm2"]
        return lambda y, callback=None: _admm(y, op, n, rho * L, lam * L, callback)
    raise ValueError(f"unknown baseline {name!r}: 'ISRA', 'Richardson-Lucy' or 'ADMM'")


@torch.no_grad()
def time_per_volume(fn: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor,
                    repeat: int = 1) -> tuple[torch.Tensor, float]:
    """Run ``fn(y)`` once to warm up, then ``repeat`` times timed.

    Returns
    -------
    (output, seconds per volume): the median over the timed runs (robust to a run that
    another process interrupts), divided by the batch size.
    """
    out = fn(y)
    times = []
    for _ in range(repeat):
        if y.is_cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn(y)
        if y.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return out, statistics.median(times) / y.shape[0]


BASELINES = ("ISRA", "Richardson-Lucy", "ADMM")


def compare(y: torch.Tensor, truth: torch.Tensor, op: LightField, tuned: dict,
            nets: dict[str, nn.Module], repeat: int = 5) -> tuple[dict, dict, dict]:
    """The three baselines at their tuned settings and the given networks on the same light
    fields: PSNR and time per volume.

    The baselines run once with a :class:`Tracker` (their PSNR computation is not timed);
    each network runs once to warm up and ``repeat`` times timed.

    Returns
    -------
    results : dict ``name -> (mean PSNR, seconds per volume)``
    outputs : dict ``name -> volumes``
    curves : dict ``baseline name -> Tracker`` (PSNR and time per iteration)
    """
    results, outputs, curves = {}, {}, {}
    for m in BASELINES:
        tr = curves[m] = Tracker(truth).start()
        outputs[m] = baseline(m, op, tuned)(y, callback=tr)
        results[m] = (float(volume_psnr(outputs[m], truth).mean()), tr.seconds[-1] / len(y))
    for m, net in nets.items():
        outputs[m], sec = time_per_volume(net, y, repeat=repeat)
        results[m] = (float(volume_psnr(outputs[m], truth).mean()), sec)
    return results, outputs, curves


#: A multiplicative layer's untrained floor ``delta`` (in units of each volume's maximum):
#: what lets light reach voxels that the previous layer left at zero.
MULT_FLOOR = 1e-2
#: The multiplicative layer's denominator floor, relative to the denominator's mean.
MULT_DEN_FLOOR = 1e-2


class UnfoldedLFM(Unfolded):
    """The lecture's unrolled iteration for light-field microscopy.

    ``x_{k+1} = ReLU(x_k - W1_k H^T H x_k + W2_k H^T y - lambda_k)``, ``x_0 = 0``.

    Per spatial frequency of the lenslet grid ``H^T H`` is a small Hermitian matrix
    ``G = U Lambda U^H`` (:meth:`LightField.eig`). The layers work in that eigenbasis,
    keeping the ``rank`` leading eigenvectors ``U_r`` of every frequency:
    ``W_k = U_r diag(eta + a_k / (Lambda_r + rho_k)) U_r^H`` with ``eta = 1 / ||H||^2`` the
    plain gradient step. With ``a_k = 0`` and ``lambda_k = 0`` a layer is one step of
    projected gradient descent restricted to that subspace (with ``rank = D s^2``, exactly
    the plain iteration); with ``a_k = 1`` the step along an eigenvector is
    ``eta + 1 / (Lambda + rho_k)``: a Newton step where ``rho_k << Lambda << ||H||^2``,
    about twice one for the strongest directions (``eta Lambda ~ 1``).
    Learned per layer: ``a`` for ``W1`` and ``W2`` (``rank`` numbers each, indexed by the
    eigenvalue's rank), ``log rho_k`` and ``lambda_k`` per depth: a few hundred numbers.
    Leaving out the trailing eigenvectors (tiny ``Lambda``: directions the microscope barely
    sees, where a Newton step would amplify noise) is the regulariser; it plays the part of
    the TCI paper's learned compression. It also makes a layer cheap: two ``r x D s^2``
    products per frequency instead of the full ``D s^2 x D s^2`` of ``H^T H``.

    Parameters
    ----------
    op : LightField
        The operator (its eigen-decomposition is computed for ``lenslets``).
    lenslets : (h, w)
        The lenslet grid the network works on.
    n_layers : int
    rank : int
        Eigenvectors kept per frequency, ``1 <= rank <= D s^2``.
    init : {"newton", "zero"}
        ``a = 1`` (a Newton-like start) or ``a = 0`` (the plain iteration).
    multiplicative : int
        How many of the ``n_layers`` (the last ones) are *multiplicative*, ISRA-like
        layers instead (default 0; at most ``n_layers - 1``: the first layer starts from
        zero, which a multiplicative update cannot leave). Such a layer is
        ``z = x_k + delta max(x_k)``,
        ``x_{k+1} = ReLU(z * ReLU(U_r(p * b)) / ReLU(U_r(q * U_r^H z)) - mu)``
        with ``b = U_r^H H^T y`` and per eigenvalue rank the gains ``p = eta (1 + n)``,
        ``q = Lambda (1 + d)``, the denominator raised by ``den_floor`` (1e-2) times its
        mean: untrained (``n = d = 0``, ``mu = 0``) and with ``delta = 0``,
        ``den_floor = 0`` and ``rank = D s^2`` it is one ISRA step, ``z H^T y / H^T H z``.
        It suits point-like samples (beads), where ISRA's multiplicative update keeps the
        light where it already is, and it gives :func:`~mbdl_teach.lfm.adapt` more to work
        with. Learned per such layer: ``n`` and ``d`` (``rank`` numbers each),
        ``log delta`` and ``mu`` per depth. It costs about 1.2 additive layers.

    :meth:`add_head` adds a small convolutional refinement after the last layer (none by
    default, and in no shipped network: :func:`~mbdl_teach.lfm.adapt` adds one).
    """

    def __init__(self, op: LightField, lenslets: tuple[int, int], n_layers: int = 3,
                 rank: int = 48, init: str = "newton", multiplicative: int = 0,
                 mult_rank: int | None = None):
        super().__init__()
        if not isinstance(op, LightField):
            raise TypeError(f"op must be an lfm.LightField, got {type(op).__name__}")
        h, w = (int(v) for v in lenslets)
        op._check_grid(h, w)
        M = op.n_depths * op.voxels**2
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= M:
            raise ValueError(f"rank must be an int in [1, {M}] (D s^2), got {rank!r}")
        if init not in ("newton", "zero"):
            raise ValueError(f"init must be 'newton' or 'zero', got {init!r}")
        if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
            raise ValueError(f"n_layers must be an int >= 1, got {n_layers!r}")
        if isinstance(multiplicative, bool) or not isinstance(multiplicative, int) \
                or not 0 <= multiplicative < n_layers:
            raise ValueError(f"multiplicative must be an int in [0, n_layers - 1] = "
                             f"[0, {n_layers - 1}] (the first layer starts from zero), "
                             f"got {multiplicative!r}")
        mult_rank = rank if mult_rank is None else mult_rank
        if isinstance(mult_rank, bool) or not isinstance(mult_rank, int) \
                or not 1 <= mult_rank <= rank:
            raise ValueError(f"mult_rank must be an int in [1, rank] = [1, {rank}], "
                             f"got {mult_rank!r}")
        self.op, self.grid, self.n_layers, self.rank = op, (h, w), n_layers, rank
        self.mult_rank = mult_rank
        self.multiplicative = multiplicative
        lam, U = op.eig(h, w)
        L = float(lam[..., 0].max())
        self.eta = 1.0 / L
        Ur = U[..., :rank]
        self.register_buffer("lam", lam[..., :rank] / L, persistent=False)  # in units of ||H||^2
        # complex matrices kept as real (..., 2) buffers, so that .to(dtype) converts them
        # instead of dropping their imaginary parts
        self.register_buffer("U_ri", torch.view_as_real(Ur.contiguous()), persistent=False)
        self.register_buffer("UH_ri", torch.view_as_real(Ur.mH.contiguous()), persistent=False)
        # U_r^H A^H: the light field straight into the kept eigen-coordinates
        self.register_buffer("UHAH_ri", torch.view_as_real(Ur.mH @ op.spectra(h, w)["AH"]),
                             persistent=False)
        if multiplicative and mult_rank < rank:  # the multiplicative layers' own, smaller
            Um = U[..., :mult_rank]
            self.register_buffer("UM_ri", torch.view_as_real(Um.contiguous()), persistent=False)
            self.register_buffer("UMH_ri", torch.view_as_real(Um.mH.contiguous()),
                                 persistent=False)
        start = 1.0 if init == "newton" else 0.0
        T, D = n_layers - multiplicative, op.n_depths
        self.a1 = nn.Parameter(torch.full((T, rank), start))
        self.a2 = nn.Parameter(torch.full((T, rank), start))
        self.log_rho = nn.Parameter(torch.full((T, 1), math.log(1e-2)))
        self.thresh = nn.Parameter(torch.zeros(T, D))
        if multiplicative:
            m = multiplicative
            self.m_num = nn.Parameter(torch.zeros(m, rank))
            self.m_den = nn.Parameter(torch.zeros(m, rank))
            self.m_log_floor = nn.Parameter(torch.full((m, D), math.log(MULT_FLOOR)))
            self.m_thresh = nn.Parameter(torch.zeros(m, D))
        self.head = None  # see add_head
        self.den_floor = MULT_DEN_FLOOR  # the multiplicative layers' (0: exact ISRA)

    @property
    def U(self) -> torch.Tensor:
        """The kept eigenvectors ``U_r`` of every frequency, (h, w', D s^2, r), complex."""
        return torch.view_as_complex(self.U_ri)

    @property
    def UH(self) -> torch.Tensor:
        """``U_r^H``, (h, w', r, D s^2)."""
        return torch.view_as_complex(self.UH_ri)

    @property
    def UHAH(self) -> torch.Tensor:
        """``U_r^H A^H`` per frequency, (h, w', r, N^2)."""
        return torch.view_as_complex(self.UHAH_ri)

    def gains(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer k's per-eigenvalue gains (h, w', r): ``W1 G = U_r diag(g1) U_r^H`` and
        ``W2 = U_r diag(g2) U_r^H``, with ``g1 = eta Lambda + a1 Lambda / (Lambda + rho)`` and
        ``g2 = eta + a2 / (Lambda + rho)`` (``rho`` in units of ``||H||^2``)."""
        lam = self.lam
        den = lam + self.log_rho[k].exp()
        return lam + self.a1[k] * lam / den, self.eta * (1 + self.a2[k] / den)

    def prepare(self, y: torch.Tensor, **side) -> dict:
        """``b = U_r^H H^T y`` per frequency, computed once for every layer."""
        h, w = self.op._check_sensor(y)
        if (h, w) != self.grid:
            raise ValueError(f"this network was built for {self.grid[0]}x{self.grid[1]} lenslets, "
                             f"the light field has {h}x{w}")
        return {"b": self.UHAH @ self.op.sensor_spectrum(y)}

    def init(self, y: torch.Tensor, **side) -> torch.Tensor:
        """``x_0 = 0``."""
        h, w = self.grid
        s = self.op.voxels
        return y.new_zeros(y.shape[0], self.op.n_depths, h * s, w * s)

    def layer(self, k: int, x: torch.Tensor, y: torch.Tensor, b: torch.Tensor | None = None,
              **side) -> torch.Tensor:
        h, w = self.grid
        if b is None:
            b = self.prepare(y)["b"]
        j = k - (self.n_layers - self.multiplicative)
        if j >= 0:
            x = self.multiplicative_layer(j, x, b)
        else:
            g1, g2 = self.gains(k)
            step = -g2.unsqueeze(-1).to(b.dtype) * b
            if k > 0 or x.any():  # from init's zeros the H^T H x term is zero: skip its FFT
                c = self.UH @ self.op.to_spectrum(x)
                step = step + g1.unsqueeze(-1).to(c.dtype) * c
            x = x - self.op.from_spectrum(self.U @ step, h, w)
            x = torch.relu(x - self.thresh[k].view(1, -1, 1, 1))
        return self.refine(x) if k == self.n_layers - 1 else x

    def multiplicative_layer(self, j: int, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Multiplicative layer ``j`` (see the class): an ISRA-like step in the subspace."""
        h, w = self.grid
        B = x.shape[0]
        floor = self.m_log_floor[j].exp().view(1, -1, 1, 1)
        z = x + floor * x.detach().amax(dim=(1, 2, 3), keepdim=True)
        r = self.mult_rank
        U, UH = (self.U, self.UH) if r == self.rank else \
            (torch.view_as_complex(self.UM_ri), torch.view_as_complex(self.UMH_ri))
        c = UH @ self.op.to_spectrum(z)
        p = (self.eta * (1 + self.m_num[j, :r])).unsqueeze(-1).to(b.dtype)
        q = (self.lam[..., :r] * (1 + self.m_den[j, :r])).unsqueeze(-1).to(c.dtype)
        # numerator and denominator through one product and one inverse FFT
        both = self.op.from_spectrum(U @ torch.cat([p * b[..., :r, :], q * c], dim=-1), h, w)
        num, den = torch.relu(both[:B]), torch.relu(both[B:])
        # a floor under the denominator, where the ratio would blow up: with 1e-6 of its
        # maximum, a fine-tune on labelled bead volumes at lr 2e-3 collapsed (31.7 dB on
        # the bead validation volumes); with this one it gives 33.7 dB at 2e-3 and 4e-3,
        # and the shipped network's outputs move by under 0.01 dB
        tiny = self.den_floor * den.detach().mean(dim=(1, 2, 3), keepdim=True) + 1e-30
        return torch.relu(z * num / (den + tiny) - self.m_thresh[j].view(1, -1, 1, 1))

    def add_head(self, width: int = 16, generator: torch.Generator | None = None) -> "UnfoldedLFM":
        """Add a refinement head after the last layer (in place; returns the network).

        ``x <- ReLU(x + m C(x / m))``, ``m = max(x)`` per volume, ``C`` two 3x3 convolutions
        over each depth plane with the depths as channels (``D -> width -> D``, a ReLU
        between): a learned spatial filter where the layers have none. Its last
        convolution starts at zero, so the network's output does not change until it is
        trained (:func:`~mbdl_teach.lfm.adapt` adds and trains one). It costs about a
        quarter of an additive layer at rank 96 and holds ``18 D width + D + width``
        numbers.

        Parameters
        ----------
        width : int
            Channels of the hidden convolution, >= 1.
        generator : torch.Generator, optional
            Draws the first convolution's starting weights (default: seeded with 0).
        """
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be an int >= 1, got {width!r}")
        if self.head is not None:
            raise ValueError("this network has a head already")
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        D = self.op.n_depths
        head = nn.Sequential(nn.Conv2d(D, width, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(width, D, 3, padding=1))
        bound = 1 / math.sqrt(9 * D)  # PyTorch's default range, from our generator
        with torch.no_grad():
            head[0].weight.copy_(torch.rand(head[0].weight.shape, generator=g) * 2 * bound - bound)
            head[0].bias.copy_(torch.rand(width, generator=g) * 2 * bound - bound)
            head[2].weight.zero_()
            head[2].bias.zero_()
        p = next(self.parameters())
        self.head = head.to(device=p.device, dtype=p.dtype)
        return self

    def refine(self, x: torch.Tensor) -> torch.Tensor:
        """The head (:meth:`add_head`) on a volume batch (B, D, H, W); ``x`` if none."""
        if self.head is None:
            return x
        m = x.detach().amax(dim=(1, 2, 3), keepdim=True) + 1e-30
        return torch.relu(x + m * self.head(x / m))


class Critic(nn.Module):
    """A small discriminator for the optional adversarial term: volumes (B, D, H, W), the
    depths as channels, to one realness score per volume (B,)."""

    def __init__(self, n_depths: int, width: int = 16):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(n_depths, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.LeakyReLU(0.2))
        self.head = nn.Linear(2 * width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean(dim=(2, 3))).squeeze(-1)


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; the gradient's sign flips on the way back (Ganin & Lempitsky 2015)."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -g


class WithCritic(nn.Module):
    """A network and its critic trained together by one optimizer: the critic learns to
    tell labelled volumes from reconstructions, and the reversed gradient makes the network
    work against it. ``forward`` is the network's."""

    def __init__(self, net: UnfoldedLFM, critic: Critic):
        super().__init__()
        self.net, self.critic = net, critic

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)


def lfm_loss(op: LightField, resynthesis: float = 1.0, adversarial: float = 0.0) -> Callable:
    """Semi-supervised loss for :class:`UnfoldedLFM` (for :func:`mbdl_teach.training.fit`).

    Batches are ``(y, x, labelled)``: light fields, volumes (anything where unlabelled) and a
    boolean mask (B,). The loss is the normalised squared error of the last layer on the
    labelled items plus ``resynthesis`` times ``||H x_T - y||^2 / ||y||^2`` on all of them.
    With ``adversarial > 0`` the model must be a :class:`WithCritic`, and the loss adds
    ``adversarial`` times the critic's logistic loss (labelled volumes real, reconstructions
    fake, through a reversed gradient).
    """
    if adversarial < 0 or resynthesis < 0:
        raise ValueError("the weights of the loss terms must be >= 0")

    def loss_fn(model, batch):
        y, x, labelled = batch
        if adversarial > 0 and not isinstance(model, WithCritic):
            raise TypeError("an adversarial term needs the model wrapped as lfm.WithCritic("
                            "net, lfm.Critic(n_depths))")
        out = model(y)
        loss = out.new_zeros(())
        if labelled.any():
            m = labelled
            loss = loss + ((out[m] - x[m]) ** 2).sum() / (x[m] ** 2).sum()
        if resynthesis > 0:
            loss = loss + resynthesis * ((op(out) - y) ** 2).sum() / (y**2).sum()
        if adversarial > 0 and labelled.any():
            bce = nn.functional.binary_cross_entropy_with_logits
            real = model.critic(x[labelled])
            fake = model.critic(_ReverseGradient.apply(out))
            loss = loss + adversarial * (bce(real, torch.ones_like(real))
                                         + bce(fake, torch.zeros_like(fake)))
        return loss

    return loss_fn


def build_unfolded(optics: dict, lenslets: tuple[int, int] | list[int], n_layers: int, rank: int,
                   init: str = "newton", multiplicative: int = 0,
                   mult_rank: int | None = None) -> UnfoldedLFM:
    """The shipped network's builder: the PSF of ``Optics(**optics)`` (seconds), its operator
    in float32, and :class:`UnfoldedLFM` on that lenslet grid. The learned numbers do not
    depend on the grid (per eigenvalue rank, per depth), so the same weights load onto
    another ``lenslets``."""
    o = Optics(**{k: tuple(v) if isinstance(v, list) else v for k, v in optics.items()})
    net = UnfoldedLFM(_shared_operator(o).twin(), tuple(lenslets), n_layers=n_layers,
                      rank=rank, init=init, multiplicative=multiplicative, mult_rank=mult_rank)
    net.optics = o
    return net


@functools.lru_cache(maxsize=2)
def _shared_operator(optics: Optics) -> LightField:
    """One float32 operator per optics, whose twins serve the networks built by
    :func:`build_unfolded`: each network has its own operator (moving one network moves
    only its own), and the twins share the per-frequency matrices, computed once."""
    return LightField(psf(optics).float(), pixels=optics.pixels)


def check_shipped(net: UnfoldedLFM, info: dict) -> None:
    """A shipped network must beat its own untrained start (the Newton-like init) by 0.5 dB
    on fresh synthetic volumes, and reproduce the PSNR recorded at export within 0.05 dB."""
    p_net, p_init = check_psnr(net)
    assert p_net > p_init + 0.5, f"trained {p_net:.2f} dB vs untrained {p_init:.2f} dB"
    if "check_psnr" in info:
        assert abs(p_net - info["check_psnr"]) < 0.05, (p_net, info["check_psnr"])


@torch.no_grad()
def check_psnr(net: UnfoldedLFM) -> tuple[float, float]:
    """Mean PSNR of ``net`` and of its untrained start on two volumes (seeded) whose light
    fields, at 1000 photons, come from the network's own operator (fast; the chapter's
    measurements use the finer model)."""
    g = torch.Generator().manual_seed(7)
    p = next(net.parameters())
    o = _optics_of(net)
    x = torch.stack([synthetic_volume(o, net.grid, seed=g) for _ in range(2)]).to(p)
    y = add_noise(net.op(x).cpu(), 1000.0, seed=g).clamp_min(0).to(p)
    fresh = UnfoldedLFM(net.op, net.grid, n_layers=net.n_layers, rank=net.rank,
                        multiplicative=net.multiplicative, mult_rank=net.mult_rank).to(p)
    return float(volume_psnr(net(y), x).mean()), float(volume_psnr(fresh(y), x).mean())


def _optics_of(net: UnfoldedLFM) -> Optics:
    o = getattr(net, "optics", None)
    if o is None:
        raise ValueError("this UnfoldedLFM does not know its optics: build it with "
                         "lfm.build_unfolded(optics=..., ...)")
    return o


weights.register_model("lfm_unfolded", build_unfolded, check=check_shipped)
