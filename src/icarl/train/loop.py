"""The one training loop every learner uses.

A learner hands :func:`train` its network, its data as a :class:`BatchReader`, a ``prepare``
function that turns a uint8 batch into the network's float input (augmentation,
normalisation) and a ``loss`` of a :class:`Batch` (inputs, features, logits, labels: a method
that distils features, as LUCIR or PODNet do, has them at hand). The network is any module
with ``forward_features`` and ``forward_head``; the loop applies the head through
``forward_head``. The loop owns the optimiser, the schedule, mixed precision and the
divergence check, and tells its callbacks after each epoch (:mod:`icarl.train.callbacks`).
Nothing else: progress bars and loggers are callbacks; the velocity it carries across steps
is returned, not written into the caller's objects.

The loop draws each epoch's shuffled global batches from the learner's generator; the reader
hands each rank its slice of each (gathered on the training device when the images are held
in memory, decoded by workers when they are read from files), and ``prepare(xb, part)``
draws the augmentation of the whole global batch and applies that slice of it. So every
source and every number of processes sees the same batches and the same random numbers.
"""

from __future__ import annotations

import bisect
import collections
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import torch
from torch import Tensor, nn

from .. import distributed, threads
from ..config import LearnerConfig
from ..data.reading import Part
from ..errors import IcarlError
from .amp import autocast, compiled
from .callbacks import CallbackList, EpochEnd
from .momentum import Velocity, load_velocity, velocity_of
from .state import TrainState, capture_train_state, restore_train_state


class Batch(NamedTuple):
    """What a loss sees of one batch: the prepared ``inputs`` (this rank's slice), the
    network's ``features`` ``phi(x)`` and ``logits`` (its head on them, every output), and
    the ``labels`` as output indices."""

    inputs: Tensor
    features: Tensor
    logits: Tensor
    labels: Tensor


LossFn = Callable[[Batch], Tensor]


class Network(Protocol):
    """What the loop trains: features, then the head on them (IncrementalNet, a method's own)."""

    def forward_features(self, x: Tensor) -> Tensor: ...

    def forward_head(self, features: Tensor) -> Tensor: ...


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
    continue (``resume``) and the callbacks told after every epoch (``on_epoch_end``: the
    runner's epoch record and checkpoints, loggers, progress, a user's). The learner passes
    them down as an argument; nothing is parked on an instance."""

    resume: TrainState | None = None
    callbacks: Sequence[Any] = ()


@dataclass(frozen=True)
class TrainResult:
    """What one call of :func:`train` gives back: each epoch's log and, when the caller
    carried one in, SGD's velocity at the end (parameter units, by parameter name; see
    :mod:`icarl.train.momentum`)."""

    logs: list[EpochLog]
    velocity: Velocity | None = None


class _FeaturesAndLogits(nn.Module):
    """``net`` as one module returning ``(features, logits)``, the head applied through
    ``forward_head``: DDP synchronises gradients of what ``forward`` computes, so both must
    come out of one call (the same operations as ``net(x)``, in the same order)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        net: Any = self.net
        features = net.forward_features(x)
        return features, net.forward_head(features)


def train(
    net: nn.Module,
    reader: BatchReader,
    *,
    cfg: LearnerConfig,
    prepare: Prepare,
    loss_fn: LossFn,
    generator: torch.Generator,
    hooks: TrainHooks = TrainHooks(),
    velocity: Velocity | None = None,
    step: int = 0,
    desc: str = "train",
) -> TrainResult:
    """SGD with momentum, weight decay and a multi-step schedule, for ``cfg.epochs`` epochs;
    ``hooks.resume`` continues an interrupted :class:`TrainState`, ``hooks.callbacks`` hear
    ``on_epoch_end`` after every epoch (``step`` and ``desc`` label it). ``velocity``: SGD's
    momentum buffers to start from (``learner.momentum_carry``); the result then holds the
    velocity at the end."""
    opt = torch.optim.SGD(param_groups(net, cfg), lr=cfg.lr, momentum=cfg.momentum)
    # DEVIATION: a new optimiser per call, so each step starts at zero velocity unless the
    # caller carries it (learner.momentum_carry, the authors' one optimiser per run)
    if velocity is not None:
        load_velocity(opt, net, velocity, cfg.lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(cfg.milestones()), cfg.lr_gamma)
    logs: list[EpochLog] = []
    first_epoch = 0
    if hooks.resume is not None:
        first_epoch = restore_train_state(hooks.resume, net, opt, sched, generator)
        apply_hyperparameters(net, cfg, opt, sched)  # --resume with another lr, momentum, ...
    callbacks = CallbackList(hooks.callbacks)
    # DDP: DistributedDataParallel when world > 1, compiled around it (one graph per bucket)
    model = compiled(distributed.wrap_ddp(_FeaturesAndLogits(net), cfg.sync_batchnorm), cfg)
    net.train()
    for epoch in range(first_epoch, cfg.epochs):
        # the command's thread policy (fixed: nothing; --threads auto; a replay). Not a
        # callback: the thread count changes the sums, and callbacks only observe
        threads.adjust()
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
        # DEVIATION: PyTorch's momentum buffer is in gradient units, so at a milestone the
        # velocity shrinks with the lr at once; Lasagne's (parameter units) keeps the old lr's
        # for the first update after the decay. A one-update difference at each milestone.
        sched.step()
        state = functools.partial(capture_train_state, epoch + 1, net, opt, sched, generator)
        callbacks.on_epoch_end(
            EpochEnd(step, log.epoch, cfg.epochs, log.loss, log.lr, log.threads, desc, state)
        )
    net.eval()
    if velocity is None:
        return TrainResult(logs)
    last_lr = cfg.lr * cfg.lr_gamma ** sum(m <= cfg.epochs - 1 for m in cfg.milestones())
    return TrainResult(logs, velocity_of(opt, net, last_lr))  # in the lr of the last epoch


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
            features, logits = model(inputs)
            loss = loss_fn(Batch(inputs, features, logits, labels))
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
