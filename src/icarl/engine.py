"""The one training loop every learner uses.

A learner hands :func:`train` its network, its data (uint8 images and labels on
the training device), a ``prepare`` function that turns a uint8 batch into the
network's float input (augmentation, normalisation) and a ``loss`` of
``(inputs, logits, labels)``. The loop owns the optimiser, the schedule, mixed
precision, progress and the divergence check. Nothing else.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

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
    decay, no_decay = [], []
    for module in net.modules():
        for name, p in module.named_parameters(recurse=False):
            is_weight = name == "weight" and isinstance(module, nn.Conv2d | nn.Linear)
            (decay if is_weight else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": 2.0 * cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def autocast(cfg: LearnerConfig, device: torch.device) -> contextlib.AbstractContextManager[None]:
    if cfg.amp == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Shuffled index batches; the last partial batch is dropped (as the authors do),
    unless the data are smaller than one batch."""
    perm = torch.randperm(n, generator=generator)
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
) -> list[EpochLog]:
    """SGD with momentum, weight decay and a multi-step schedule, for ``cfg.epochs`` epochs."""
    device = x.device
    opt = torch.optim.SGD(param_groups(net, cfg), lr=cfg.lr, momentum=cfg.momentum)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(cfg.milestones()), cfg.lr_gamma)
    logs: list[EpochLog] = []
    bar = _progress(cfg, desc)
    model = distributed.wrap_ddp(net, cfg.sync_batchnorm)  # DDP: DistributedDataParallel when world > 1
    net.train()
    for epoch in range(cfg.epochs):
        total, count = torch.zeros((), device=device), 0
        for idx in batches(x.shape[0], cfg.batch_size, generator):
            idx = idx.to(device)
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
    if bar is not None:
        bar.close()
    net.eval()
    return logs


def _progress(cfg: LearnerConfig, desc: str):  # type: ignore[no-untyped-def]
    if not cfg.progress or not distributed.is_main():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=cfg.epochs, desc=desc, unit="epoch", leave=False, dynamic_ncols=True)
