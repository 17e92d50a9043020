"""Where the training loop stands after an epoch: enough to continue it exactly (resume),
as plain tensors and containers that a checkpoint loads with ``weights_only=True``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class TrainState:
    """Where :func:`~icarl.train.loop.train` stands after ``epoch`` epochs: the network, the
    optimiser (momentum buffers), the schedule and the generator of the batches.

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
