"""One training loop for every model of the course.

:func:`fit` trains any ``nn.Module`` with Adam (or a given optimizer), an optional step
learning-rate decay, a progress bar, a history of losses, periodic validation and a
checkpoint that holds everything needed to resume (model, optimizer, scheduler, step,
history and random-number states). Resuming from a checkpoint gives the same parameters
as a run that was never interrupted.

Batches come from a function ``batches(step, generator) -> batch`` (or any iterator); the
loss from ``loss_fn(model, batch) -> scalar tensor``. Nothing here knows about a chapter:
how each shipped model is trained (its recipe) and the command line live in
:mod:`mbdl_teach.recipes`.

Options: an exponential moving average of the weights (``ema=0.999``, kept in the checkpoint
and returned in ``History.ema``), callbacks after each step (one returning True stops the
run), and data-parallel training on several processes: launched with ``torchrun``,
:func:`init_distributed` joins the process group and :func:`fit` wraps the model in
PyTorch's ``DistributedDataParallel``. Every process draws the same batch from the same
seeded generator and trains on its own slice of it, so N processes on a batch of size
``B`` take the steps one process takes on the whole batch.
"""

from __future__ import annotations

import copy
import math
import os
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

BatchSource = Callable[[int, torch.Generator], Any] | Iterable[Any]


@dataclass
class History:
    """What happened during :func:`fit`.

    Attributes
    ----------
    losses : list of float
        Training loss at every step (index ``k`` is step ``k + 1``).
    val_steps, val_values : list of int, list of float
        Steps at which ``val_fn`` was called and what it returned.
    lrs : list of float
        Learning rate used at every step.
    seconds : float
        Wall-clock training time (summed over resumed runs).
    """

    losses: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_values: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    seconds: float = 0.0
    #: The EMA weights (a state dict) when ``fit`` kept them; not part of :meth:`to_dict`.
    ema: dict | None = field(default=None, repr=False, compare=False)

    @property
    def steps(self) -> int:
        """Number of steps done."""
        return len(self.losses)

    def smoothed(self, window: int = 20) -> np.ndarray:
        """Running mean of the losses over ``window`` steps (for plots)."""
        if not self.losses:
            return np.zeros(0)
        loss = np.asarray(self.losses, dtype=float)
        w = max(1, min(int(window), len(loss)))
        c = np.cumsum(np.insert(loss, 0, 0.0))
        return (c[w:] - c[:-w]) / w

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("ema")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**{k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in d.items()
                      if k != "ema"})


# ------------------------------------------------------------------ checkpoints
def _rng_state() -> dict:
    state = {
        "torch": torch.get_rng_state(),
        "numpy": torch.from_numpy(np.frombuffer(np.random.get_state()[1].tobytes(), np.uint8).copy()),
        "numpy_pos": int(np.random.get_state()[2]),
        "numpy_gauss": [float(np.random.get_state()[3]), float(np.random.get_state()[4])],
        "python": torch.tensor(list(random.getstate()[1]), dtype=torch.int64),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    keys = np.frombuffer(state["numpy"].numpy().tobytes(), dtype=np.uint32)
    has_gauss, cached = state.get("numpy_gauss", [0, 0.0])
    np.random.set_state(("MT19937", keys, int(state["numpy_pos"]), int(has_gauss), float(cached)))
    random.setstate((3, tuple(int(v) for v in state["python"].tolist()), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, model: nn.Module, optimizer=None, scheduler=None,
                    step: int = 0, history: History | None = None,
                    generator: torch.Generator | None = None, extra: dict | None = None,
                    ema: nn.Module | None = None) -> None:
    """Write everything needed to resume training to one file (atomically).

    The file loads with ``torch.load(path, weights_only=True)``; ``ema`` (the averaged copy
    of the model) is stored as the state dict ``"ema"``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "step": int(step),
        "history": (history or History()).to_dict(),
        "rng": _rng_state(),
        "generator": generator.get_state() if generator is not None else None,
        "extra": extra or {},
        "ema": ({k: v.detach().cpu() for k, v in ema.state_dict().items()}
                if ema is not None else None),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a file written by :func:`save_checkpoint` (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location=map_location, weights_only=True)


# ------------------------------------------------------------------ the loop
def _check_fit_args(model, loss_fn, n_steps, lr, val_every, log_every, checkpoint_every, ema):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(model, batch), got {type(loss_fn).__name__}")
    if not isinstance(n_steps, (int, np.integer)) or isinstance(n_steps, bool) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    for name, v in (("val_every", val_every), ("log_every", log_every),
                    ("checkpoint_every", checkpoint_every)):
        if v is not None and (not isinstance(v, (int, np.integer)) or v < 1):
            raise ValueError(f"{name} must be an integer >= 1 or None, got {v!r}")
    if ema is not None and not (isinstance(ema, float) and 0 < ema < 1):
        raise ValueError(f"ema must be a decay in (0, 1) such as 0.999, or None; got {ema!r}")


# ------------------------------------------------------------------ several processes
def distributed() -> tuple[int, int]:
    """``(rank, world_size)`` of this process: ``(0, 1)`` outside a process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed() -> tuple[int, int]:
    """Join the process group ``torchrun`` describes (``$WORLD_SIZE`` > 1); else do nothing.

    NCCL on CUDA, gloo on the CPU. Returns ``(rank, world_size)``.
    """
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return distributed()


class _LossModule(nn.Module):
    """``forward(batch) = loss_fn(model, batch)``: lets DistributedDataParallel wrap any loss
    (a model's own ``loss`` method, several forward calls, ...)."""

    def __init__(self, model: nn.Module, loss_fn: Callable):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch):
        return self.loss_fn(self.model, batch)


def _shard(batch, rank: int, world: int):
    """This process's slice of a batch (every tensor cut along its first dimension)."""
    if isinstance(batch, torch.Tensor):
        if batch.ndim == 0:
            return batch
        if batch.shape[0] % world:
            raise ValueError(f"a batch of {batch.shape[0]} does not split over {world} processes")
        n = batch.shape[0] // world
        return batch[rank * n:(rank + 1) * n]
    if isinstance(batch, (tuple, list)):
        return type(batch)(_shard(b, rank, world) for b in batch)
    if isinstance(batch, dict):
        return {k: _shard(v, rank, world) for k, v in batch.items()}
    return batch


def _next_batch(batches, step: int, generator: torch.Generator, it: Iterator | None):
    if callable(batches):
        return batches(step, generator), it
    if it is None:
        it = iter(batches)
    try:
        return next(it), it
    except StopIteration:
        raise ValueError(f"the batch iterator ran out at step {step + 1}") from None


def _to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def fit(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    batches: BatchSource,
    n_steps: int,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    milestones: Sequence[int] | None = None,
    gamma: float = 0.1,
    val_fn: Callable[[nn.Module], float] | None = None,
    val_every: int | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    log_every: int | None = None,
    progress: bool = True,
    device: str | torch.device | None = None,
    seed: int = 0,
    grad_clip: float | None = None,
    desc: str = "training",
    ema: float | None = None,
    callbacks: Sequence[Callable[[int, nn.Module, History], bool | None]] = (),
    autocast: bool = False,
) -> History:
    """Train ``model`` for ``n_steps`` steps (in total, counting resumed ones).

    Parameters
    ----------
    model : nn.Module
    loss_fn : callable
        ``loss_fn(model, batch) -> Tensor`` (a scalar; under several processes, a mean
        over the batch, so that the processes' average is the whole batch's loss).
    batches : callable or iterable
        ``batches(step, generator) -> batch`` with ``step`` counted from 0 and a
        ``torch.Generator`` owned (seeded, checkpointed) by the loop; or an iterator of
        batches (not resumable exactly). Tensors in the batch are moved to ``device``.
    n_steps : int
        Total number of optimisation steps (>= 1).
    lr : float
        Learning rate of the default Adam optimizer.
    optimizer : torch.optim.Optimizer, optional
        Used instead of Adam over ``model.parameters()``.
    milestones, gamma : list of int, float
        Multiply the learning rate by ``gamma`` at these steps (``MultiStepLR``). A resumed
        run keeps the decays already made and follows this call's milestones from there on
        (so asking for more steps also moves a pending decay).
    val_fn : callable, optional
        ``val_fn(model) -> float`` (e.g. PSNR or NMSE on a validation set), run in
        ``eval`` mode without gradients every ``val_every`` steps and at the end (on the
        EMA weights when ``ema`` is set).
    checkpoint : path, optional
        File to save to every ``checkpoint_every`` steps (default: every ``val_every``
        or at the end) and at the end; if it exists and ``resume``, training continues
        from it.
    log_every : int, optional
        Print the mean loss every ``log_every`` steps (rounded to 4 significant digits).
    progress : bool
        Show a progress bar (:func:`mbdl_teach.progress.progress_bar`: a live bar in a
        notebook or a terminal, one line of text on a batch-executed page).
    device : str or torch.device, optional
        Where to train (default: where the model's parameters are).
    seed : int
        Seed of the batch generator.
    grad_clip : float, optional
        Clip the gradient norm to this value.
    ema : float, optional
        Keep an exponential moving average of the weights with this decay (e.g. 0.999);
        it is checkpointed and returned as ``History.ema`` (a state dict).
    callbacks : sequence of callables
        ``callback(step, model, history)`` after each step (``step`` counted from 1); if
        one returns True, training stops there (after a checkpoint).
    autocast : bool
        On a CUDA device, compute the forward pass and the loss in bfloat16
        (``torch.autocast``; the weights, the optimizer and validation stay float32). Ignored
        on the CPU, so a CPU run is unchanged. Use it where training is known to stay
        stable in bfloat16 (plain CNNs such as DnCNN).

    Returns
    -------
    History

    Raises
    ------
    FloatingPointError
        When the loss becomes NaN or infinite (the message says at which step).
    """
    _check_fit_args(model, loss_fn, n_steps, lr, val_every, log_every, checkpoint_every, ema)
    if not isinstance(autocast, bool):
        raise TypeError(f"autocast must be True or False, got {autocast!r}")
    run = _Run(model, loss_fn, lr, optimizer, milestones, gamma, device, seed, ema)
    run.autocast = autocast and run.device.type == "cuda"
    start = run.resume(checkpoint, milestones) if checkpoint is not None and resume else 0
    if checkpoint_every is None:
        checkpoint_every = val_every
    bar = None
    if progress and start < n_steps and run.rank == 0:
        from .progress import progress_bar

        bar = progress_bar(total=n_steps, initial=start, desc=desc)
    running: list[float] = []
    run.clock = time.perf_counter()
    model.train()
    for step in range(start, n_steps):
        try:
            value = run.step(batches, step, n_steps, grad_clip)
        except FloatingPointError:
            if bar is not None:
                bar.close()
            raise
        running.append(value)
        done = step + 1
        running = run.report(done, n_steps, value, running, bar, log_every)
        if val_fn is not None and run.rank == 0 and ((val_every and done % val_every == 0)
                                                     or done == n_steps):
            run.validate(done, val_fn)
        stop = any(bool(cb(done, model, run.history)) for cb in callbacks)
        if checkpoint is not None and ((checkpoint_every and done % checkpoint_every == 0)
                                       or done == n_steps or stop):
            run.save(checkpoint, done)
        if stop:
            break
    if bar is not None:
        bar.close()
    return run.finish()


class _Run:
    """The state of one :func:`fit` call, and its named steps: set up, resume, one
    optimisation step, report, validate, save, finish."""

    def __init__(self, model, loss_fn, lr, optimizer, milestones, gamma, device, seed, ema):
        if device is None:
            p = next(model.parameters(), None)
            device = p.device if p is not None else torch.device("cpu")
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.rank, self.world = distributed()
        self.params = [p for p in model.parameters() if p.requires_grad]
        if optimizer is None:
            if not self.params:
                raise ValueError("the model has no trainable parameters")
            optimizer = torch.optim.Adam(self.params, lr=lr)
        self.optimizer = optimizer
        self.scheduler = (torch.optim.lr_scheduler.MultiStepLR(optimizer, list(milestones), gamma)
                          if milestones else None)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.ema = ema
        self.averaged = (copy.deepcopy(model).eval().requires_grad_(False)
                         if ema is not None else None)
        self.history, self.iterator, self.clock = History(), None, 0.0
        self.autocast = False  # bfloat16 forward passes (CUDA only), set by fit
        self.step_model: nn.Module = _LossModule(model, loss_fn)
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.step_model = DistributedDataParallel(
                self.step_model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def resume(self, checkpoint, milestones) -> int:
        """Continue from ``checkpoint`` when it exists; the step to start from."""
        if not Path(checkpoint).is_file():
            return 0
        state = load_checkpoint(checkpoint, map_location=self.device)
        self.model.load_state_dict(state["model"])
        if state["optimizer"] is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
            # a resumed run follows this call's plan: with more steps, the decay moves
            self.scheduler.milestones = Counter(int(m) for m in milestones)
        if self.averaged is not None and state.get("ema") is not None:
            self.averaged.load_state_dict(state["ema"])
        self.history = History.from_dict(state["history"])
        _set_rng_state(state["rng"])
        if state["generator"] is not None:
            self.generator.set_state(state["generator"])
        return int(state["step"])

    def step(self, batches, step: int, n_steps: int, grad_clip) -> float:
        """One optimisation step on the next batch; the loss (checked finite)."""
        batch, self.iterator = _next_batch(batches, step, self.generator, self.iterator)
        batch = _to_device(_shard(batch, self.rank, self.world) if self.world > 1 else batch,
                           self.device)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.autocast):
            loss = self.step_model(batch)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise TypeError(f"loss_fn must return a scalar tensor, got {type(loss).__name__}"
                            f"{'' if not isinstance(loss, torch.Tensor) else ' of shape ' + str(tuple(loss.shape))}")
        value = float(loss.detach())
        if not math.isfinite(value):
            losses = self.history.losses
            raise FloatingPointError(
                f"the loss is {value} at step {step + 1} of {n_steps} (last finite loss: "
                f"{losses[-1] if losses else 'none'}); lower the learning rate "
                "or check the data"
            )
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.params, grad_clip)
        self.history.lrs.append(float(self.optimizer.param_groups[0]["lr"]))
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        if self.averaged is not None:
            with torch.no_grad():
                for a, p in zip(self.averaged.parameters(), self.model.parameters()):
                    a.lerp_(p, 1.0 - self.ema)
                for a, b in zip(self.averaged.buffers(), self.model.buffers()):
                    a.copy_(b)
        self.history.losses.append(value)
        return value

    def report(self, done, n_steps, value, running, bar, log_every) -> list[float]:
        """Progress bar and printed log; the running losses still to be logged."""
        if bar is not None:
            bar.update(1)
            if done % 10 == 0 or done == n_steps:
                bar.set_postfix(loss=f"{value:.4g}")
        if log_every and done % log_every == 0 and self.rank == 0:
            print(f"step {done:>6d}  loss {np.mean(running):.4g}")
            return []
        return running

    def validate(self, done: int, val_fn) -> None:
        """``val_fn`` on the model (its EMA when kept), in eval mode without gradients."""
        judged = self.averaged if self.averaged is not None else self.model
        judged.eval()
        with torch.no_grad():
            metric = float(val_fn(judged))
        self.model.train()
        self.history.val_steps.append(done)
        self.history.val_values.append(metric)

    def save(self, checkpoint, done: int) -> None:
        """Checkpoint (rank 0; the others wait), and count the time trained so far."""
        self.history.seconds += time.perf_counter() - self.clock
        if self.rank == 0:
            save_checkpoint(checkpoint, self.model, self.optimizer, self.scheduler, done,
                            self.history, self.generator, ema=self.averaged)
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()
        self.clock = time.perf_counter()

    def finish(self) -> History:
        self.history.seconds += time.perf_counter() - self.clock
        if self.averaged is not None:
            self.history.ema = {k: v.detach().clone()
                                for k, v in self.averaged.state_dict().items()}
        self.model.eval()
        return self.history
