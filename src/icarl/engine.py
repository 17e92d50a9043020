"""The one training loop every learner uses.

A learner hands :func:`train` its network, its data (uint8 images and labels on
the training device), a ``prepare`` function that turns a uint8 batch into the
network's float input (augmentation, normalisation) and a ``loss`` of
``(inputs, logits, labels)``. The loop owns the optimiser, the schedule, mixed
precision, progress and the divergence check. Nothing else.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from . import distributed
from .config import LearnerConfig
from .errors import IcarlError

Prepare = Callable[[Tensor], Tensor]
LossFn = Callable[[Tensor, Tensor, Tensor], Tensor]


class TrainingDiverged(IcarlError):
    """The loss became NaN or infinite."""


@dataclass
class EpochLog:
    epoch: int
    loss: float
    lr: float


def param_groups(net: nn.Module, cfg: LearnerConfig) -> list[dict[str, object]]:
    """Weight decay per :attr:`LearnerConfig.weight_decay_convention`.

    "authors": ``loss + wd * sum(w**2)`` over conv/linear weights only, whose gradient
    is ``2 * wd * w``: PyTorch ``weight_decay = 2 * wd`` on those, 0 on biases and BN.
    "torch": ``weight_decay = wd`` on every parameter.
    """
    if cfg.weight_decay_convention == "torch":
        return [{"params": list(net.parameters()), "weight_decay": cfg.weight_decay}]
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for module in net.modules():
        for name, p in module.named_parameters(recurse=False):
            is_weight = name == "weight" and isinstance(module, nn.Conv2d | nn.Linear)
            (decay if is_weight else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": 2.0 * cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


@functools.cache
def _cpu_has_fast_bf16() -> bool:
    """AMX or AVX512-BF16 (Linux /proc/cpuinfo); elsewhere assume not."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags for f in (" amx_bf16", " avx512_bf16"))


def use_bf16(amp: str, device: torch.device) -> bool:
    """``amp``: "bf16" always, "off" never, "auto" where bf16 is fast (measured on AMX CPUs:
    2-2.5x for small CNNs and ResNet-32 with equal accuracy; CUDA devices with bf16)."""
    if amp != "auto":
        return amp == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and _cpu_has_fast_bf16()


def autocast(cfg: LearnerConfig, device: torch.device) -> contextlib.AbstractContextManager[None]:
    if use_bf16(cfg.amp, device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def compiled(net: nn.Module, cfg: LearnerConfig) -> nn.Module:
    """``torch.compile(net)`` when ``cfg.compile`` is set (it shares ``net``'s parameters), else ``net``.

    The head grows between steps; the first recompilation marks that size dynamic,
    so a run compiles about twice, not once per step.
    """
    if not cfg.compile:
        return net
    return torch.compile(net)  # type: ignore[return-value]


def batches(
    n: int, batch_size: int, generator: torch.Generator, device: torch.device | None = None
) -> Iterator[Tensor]:
    """Shuffled index batches; the last partial batch is dropped (as the authors do),
    unless the data are smaller than one batch.

    The permutation is drawn on the CPU generator (device-independent results) and
    moved to ``device`` once per epoch, not once per batch.
    """
    perm = torch.randperm(n, generator=generator)
    if device is not None and device.type != "cpu":
        perm = perm.pin_memory().to(device, non_blocking=True)
    if n < batch_size:
        yield perm
        return
    for i in range(0, n - batch_size + 1, batch_size):
        yield perm[i : i + batch_size]


def train(
    net: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    cfg: LearnerConfig,
    prepare: Prepare,
    loss_fn: LossFn,
    generator: torch.Generator,
    desc: str = "train",
    on_epoch: Callable[[EpochLog], None] | None = None,
    start: TrainState | None = None,
    on_state: Callable[[TrainState], None] | None = None,
) -> list[EpochLog]:
    """SGD with momentum, weight decay and a multi-step schedule, for ``cfg.epochs`` epochs.

    ``start`` continues an interrupted loop from a :class:`TrainState` (see
    :func:`restore_train_state`); ``on_state`` receives one after every epoch (checkpoints).
    """
    device = x.device
    opt = torch.optim.SGD(param_groups(net, cfg), lr=cfg.lr, momentum=cfg.momentum)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(cfg.milestones()), cfg.lr_gamma)
    logs: list[EpochLog] = []
    first_epoch = restore_train_state(start, net, opt, sched, generator) if start is not None else 0
    bar = _progress(cfg, desc)
    # DDP: DistributedDataParallel when world > 1, compiled around it (one graph per bucket)
    model = compiled(distributed.wrap_ddp(net, cfg.sync_batchnorm), cfg)
    net.train()
    for epoch in range(first_epoch, cfg.epochs):
        # the loss is summed on the device; the one host sync per epoch is float(total)
        total, count = torch.zeros((), device=device), 0
        for idx in batches(x.shape[0], cfg.batch_size, generator, device):
            inputs = prepare(x[idx])
            labels = y[idx]
            # DDP: every rank draws the same global batch (and augmentation), then keeps its slice
            inputs, labels, scale = distributed.local_batch(inputs, labels)
            with autocast(cfg, device):
                logits = model(inputs)
                loss = loss_fn(inputs, logits, labels)
            opt.zero_grad(set_to_none=True)
            (loss * scale).backward()
            opt.step()
            total += loss.detach() * len(labels)
            count += len(labels)
        total, count = distributed.all_reduce_sum(total), distributed.all_reduce_sum_int(count)  # DDP
        mean_loss = float(total) / max(count, 1)
        distributed.sync_module(net)  # DDP: same BN statistics and weights on every rank
        if not math.isfinite(mean_loss):
            raise TrainingDiverged(
                f"the training loss became {mean_loss} in epoch {epoch + 1} of {desc}; "
                "lower the learning rate (learner.lr) or check the input for NaN"
            )
        log = EpochLog(epoch + 1, mean_loss, opt.param_groups[0]["lr"])
        logs.append(log)
        sched.step()
        if bar is not None:
            bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{log.lr:.3g}")
            bar.update(1)
        if on_epoch is not None:
            on_epoch(log)
        if on_state is not None:
            on_state(capture_train_state(epoch + 1, net, opt, sched, generator))
    if bar is not None:
        bar.close()
    net.eval()
    return logs


def _progress(cfg: LearnerConfig, desc: str):  # type: ignore[no-untyped-def]
    if not cfg.progress or not distributed.is_main():
        return None
    from tqdm.auto import tqdm

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
