"""The one training loop every learner uses.

A learner hands :func:`train` its network, its data as a :class:`BatchReader`, a ``prepare``
function that turns a uint8 batch into the network's float input (augmentation,
normalisation) and a ``loss`` of ``(inputs, logits, labels)``. The loop owns the optimiser,
the schedule, mixed precision, progress and the divergence check. Nothing else.

The loop draws each epoch's shuffled global batches from the learner's generator; the reader
hands each rank its slice of each (gathered on the training device when the images are held
in memory, decoded by workers when they are read from files), and ``prepare(xb, part)``
draws the augmentation of the whole global batch and applies that slice of it. So every
source and every number of processes sees the same batches and the same random numbers.
"""

from __future__ import annotations

import bisect
import collections
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .. import distributed, threads
from ..config import LearnerConfig
from ..data.reading import Part
from ..errors import IcarlError
from .amp import autocast, compiled
from .momentum import Velocity, load_velocity, store_velocity

LossFn = Callable[[Tensor, Tensor, Tensor], Tensor]


class Prepare(Protocol):
    def __call__(self, xb: Tensor, part: Part | None = None) -> Tensor: ...


class BatchReader(Protocol):
    """Training data read in batches (:class:`icarl.data.reading.BatchReader`)."""

    device: torch.device

    def __len__(self) -> int: ...

    def read(self, index_batches: list[Tensor]) -> Iterator[tuple[Tensor, Tensor, Part]]:
        """This rank's slice of each global index batch: uint8 images and output indices on
        ``device``, and the slice's place in the global batch."""
        ...


class TrainingDiverged(IcarlError):
    """The loss became NaN or infinite."""


@dataclass
class EpochLog:
    epoch: int
    loss: float
    lr: float
    threads: int = 0  # torch's CPU threads during the epoch (icarl.threads); 0: not recorded


def param_groups(net: nn.Module, cfg: LearnerConfig) -> list[dict[str, object]]:
    """Weight decay per :attr:`LearnerConfig.weight_decay_convention`.

    "authors": ``loss + wd * sum(p**2)`` over Lasagne's regularizable parameters: conv/linear
    weights and BatchNorm scales (gamma; Lasagne's ``BatchNormLayer`` tags it regularizable),
    whose gradient is ``2 * wd * p``: PyTorch ``weight_decay = 2 * wd`` on those, 0 on biases
    and BatchNorm shifts. "weights": the same on conv/linear weights only (no gamma).
    "torch": ``weight_decay = wd`` on every parameter.
    """
    if cfg.weight_decay_convention == "torch":
        return [{"params": list(net.parameters()), "weight_decay": cfg.weight_decay}]
    decayed: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)
    if cfg.weight_decay_convention == "authors":
        decayed = (*decayed, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for module in net.modules():
        for name, p in module.named_parameters(recurse=False):
            is_weight = name == "weight" and isinstance(module, decayed)
            (decay if is_weight else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": 2.0 * cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Shuffled index batches; the last partial batch is dropped (as the authors do),
    unless the data are smaller than one batch.

    The permutation is drawn on the CPU generator (device-independent results); a reader of
    images held on the training device moves the indices there once per epoch.
    """
    perm = torch.randperm(n, generator=generator)
    if n < batch_size:
        yield perm
        return
    for i in range(0, n - batch_size + 1, batch_size):
        yield perm[i : i + batch_size]


@dataclass(frozen=True)
class TrainHooks:
    """What a caller hands one call of :func:`train`, explicitly: the interrupted state to
    continue (``resume``) and the callback that receives the loop's state after every epoch
    (``on_epoch``: checkpoints) and the one that receives each epoch's :class:`EpochLog`
    (``on_log``, called first: loggers, and what a checkpoint then records). The learner
    passes them down as an argument."""

    resume: TrainState | None = None
    on_epoch: StateHook | None = None
    on_log: LogHook | None = None
    # ``learner.momentum_carry``: SGD's momentum buffers by parameter name, read at the start
    # and replaced at the end (see :mod:`icarl.train.momentum`); None: zero velocity each call
    velocity: Velocity | None = None


def train(
    net: nn.Module,
    reader: BatchReader,
    *,
    cfg: LearnerConfig,
    prepare: Prepare,
    loss_fn: LossFn,
    generator: torch.Generator,
    hooks: TrainHooks = TrainHooks(),
    desc: str = "train",
) -> list[EpochLog]:
    """SGD with momentum, weight decay and a multi-step schedule, for ``cfg.epochs`` epochs;
    ``hooks.resume`` continues an interrupted :class:`TrainState`, ``hooks.on_epoch`` gets one
    after every epoch (checkpoints)."""
    opt = torch.optim.SGD(param_groups(net, cfg), lr=cfg.lr, momentum=cfg.momentum)
    # DEVIATION: a new optimiser per call, so each step starts at zero velocity unless the
    # caller carries it (learner.momentum_carry, the authors' one optimiser per run)
    if hooks.velocity is not None:
        load_velocity(opt, net, hooks.velocity, cfg.lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(cfg.milestones()), cfg.lr_gamma)
    logs: list[EpochLog] = []
    first_epoch = 0
    if hooks.resume is not None:
        first_epoch = restore_train_state(hooks.resume, net, opt, sched, generator)
        apply_hyperparameters(net, cfg, opt, sched)  # --resume with another lr, momentum, ...
    bar = _progress(cfg, desc)
    # DDP: DistributedDataParallel when world > 1, compiled around it (one graph per bucket)
    model = compiled(distributed.wrap_ddp(net, cfg.sync_batchnorm), cfg)
    net.train()
    for epoch in range(first_epoch, cfg.epochs):
        threads.adjust()  # the command's policy: fixed (nothing), --threads auto, or a replay
        n_threads = torch.get_num_threads()
        mean_loss = _epoch(model, reader, cfg, prepare, loss_fn, generator, opt)
        distributed.sync_module(net)  # DDP: same BN statistics and weights on every rank
        if not math.isfinite(mean_loss):
            raise TrainingDiverged(
                f"the training loss became {mean_loss} in epoch {epoch + 1} of {desc}; "
                "lower the learning rate (learner.lr) or check the input for NaN"
            )
        log = EpochLog(epoch + 1, mean_loss, opt.param_groups[0]["lr"], n_threads)
        logs.append(log)
        if hooks.on_log is not None:
            hooks.on_log(log)
        # DEVIATION: PyTorch's momentum buffer is in gradient units, so at a milestone the
        # velocity shrinks with the lr at once; Lasagne's (parameter units) keeps the old lr's
        # for the first update after the decay. A one-update difference at each milestone.
        sched.step()
        if bar is not None:
            bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{log.lr:.3g}")
            bar.update(1)
        if hooks.on_epoch is not None:
            hooks.on_epoch(capture_train_state(epoch + 1, net, opt, sched, generator))
    if bar is not None:
        bar.close()
    if hooks.velocity is not None:
        last_lr = cfg.lr * cfg.lr_gamma ** sum(m <= cfg.epochs - 1 for m in cfg.milestones())
        store_velocity(opt, net, hooks.velocity, last_lr)  # the lr of the last epoch
    net.eval()
    return logs


def _epoch(
    model: nn.Module,
    reader: BatchReader,
    cfg: LearnerConfig,
    prepare: Prepare,
    loss_fn: LossFn,
    generator: torch.Generator,
    opt: torch.optim.Optimizer,
) -> float:
    """One pass over shuffled batches; the mean loss over every rank's items."""
    device = reader.device
    # the loss is summed on the device; the one host sync per epoch is float(total)
    total, count = torch.zeros((), device=device), 0
    for inputs, labels, scale in _local_batches(reader, cfg.batch_size, generator, prepare):
        with autocast(cfg, device):
            logits = model(inputs)
            loss = loss_fn(inputs, logits, labels)
        opt.zero_grad(set_to_none=True)
        (loss * scale).backward()
        opt.step()
        total += loss.detach() * len(labels)
        count += len(labels)
    total, count = distributed.all_reduce_sum(total), distributed.all_reduce_sum_int(count)  # DDP
    return float(total) / max(count, 1)


def _local_batches(
    reader: BatchReader, batch_size: int, generator: torch.Generator, prepare: Prepare
) -> Iterator[tuple[Tensor, Tensor, float]]:
    """(inputs, labels, loss scale) of this rank's slice of each global batch.

    DDP: every rank draws the same global batches (and augmentation), and reads and prepares
    only its slice; the loss scale makes DDP's gradient average that of the global batch
    (:func:`icarl.distributed.local_part`)."""
    for xb, labels, (start, stop, n) in reader.read(list(batches(len(reader), batch_size, generator))):
        yield prepare(xb, (start, stop, n)), labels, distributed.local_part(n)[2]


def on_terminal() -> bool:
    """Progress bars go to stderr; they are drawn only when it is a terminal (a log file
    gets plain lines, no carriage returns or escape codes)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty is not None and isatty())


def _progress(cfg: LearnerConfig, desc: str) -> Any:
    if not cfg.progress or not distributed.is_main() or not on_terminal():
        return None
    return tqdm(total=cfg.epochs, desc=desc, unit="epoch", leave=False, dynamic_ncols=True)


# ------------------------------------------------------------- resumable state
@dataclass(frozen=True)
class TrainState:
    """Where :func:`train` stands after ``epoch`` epochs: enough to continue the loop exactly.

    Plain tensors and containers only (a checkpoint loads it with ``weights_only=True``).
    The tensors are references to live state: serialise or copy them before training goes on.
    """

    epoch: int
    net: dict[str, Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    generator: Tensor

    def as_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "net": self.net,
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "generator": self.generator,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainState:
        return cls(int(d["epoch"]), d["net"], d["optimizer"], d["scheduler"], d["generator"])


StateHook = Callable[[TrainState], None]
LogHook = Callable[[EpochLog], None]


def capture_train_state(
    epoch: int, net: nn.Module, opt: torch.optim.Optimizer, sched: Any, generator: torch.Generator
) -> TrainState:
    return TrainState(epoch, net.state_dict(), opt.state_dict(), sched.state_dict(), generator.get_state())


def restore_train_state(
    state: TrainState, net: nn.Module, opt: torch.optim.Optimizer, sched: Any, generator: torch.Generator
) -> int:
    """Load ``state`` into the live objects; returns the epoch to continue from."""
    net.load_state_dict(state.net)
    opt.load_state_dict(state.optimizer)
    sched.load_state_dict(state.scheduler)
    generator.set_state(state.generator)
    return state.epoch


def apply_hyperparameters(net: nn.Module, cfg: LearnerConfig, opt: torch.optim.Optimizer, sched: Any) -> None:
    """After a restore: the optimizer and schedule take ``cfg``'s momentum, weight decay,
    learning rate, milestones and gamma (a resumed run may change them; the momentum
    buffers and the epoch count are kept). Unchanged values are left bit for bit."""
    fresh = param_groups(net, cfg)
    for group, new in zip(opt.param_groups, fresh, strict=True):
        group["momentum"] = cfg.momentum
        group["weight_decay"] = new["weight_decay"]
    milestones = collections.Counter(cfg.milestones())
    same = sched.base_lrs == [cfg.lr] * len(sched.base_lrs) and sched.gamma == cfg.lr_gamma
    if same and sched.milestones == milestones:
        return
    sched.base_lrs = [cfg.lr] * len(sched.base_lrs)
    sched.milestones, sched.gamma = milestones, cfg.lr_gamma
    passed = bisect.bisect_right(sorted(milestones.elements()), sched.last_epoch)
    for group in opt.param_groups:
        group["initial_lr"] = cfg.lr
        group["lr"] = cfg.lr * cfg.lr_gamma**passed
    sched._last_lr = [g["lr"] for g in opt.param_groups]
