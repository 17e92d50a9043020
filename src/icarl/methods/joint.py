"""Joint training: every step trains on ALL the training data seen so far (upper bound).

The network is warm-started from the previous step (not retrained from scratch) and
trained without distillation; it classifies with its own outputs. It keeps no exemplar
memory: the whole past training set stands in for it, which is exactly what a
class-incremental learner may not do.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from typing_extensions import Self

from ..algorithm import ICaRL
from ..train import TrainHooks


class SeenData:
    """All training images seen so far (uint8, CPU) and their internal labels."""

    def __init__(self) -> None:
        self.x = torch.empty(0, dtype=torch.uint8)
        self.y = torch.empty(0, dtype=torch.long)

    def add(self, x: Tensor, y: Tensor) -> None:
        x, y = x.detach().cpu(), y.detach().cpu()
        self.x = x.clone() if self.x.numel() == 0 else torch.cat([self.x, x])
        self.y = torch.cat([self.y, y])

    def __len__(self) -> int:
        return int(self.y.shape[0])


class KeepsSeenData(ICaRL):
    """A learner that keeps every training image it saw in ``seen_`` (saved with its state)."""

    streams = False  # it holds all training data in memory by definition

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen_ = SeenData()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "seen": {"x": self.seen_.x, "y": self.seen_.y}}

    def load_state_dict(self, state: dict[str, Any]) -> Self:
        super().load_state_dict(state)
        self.seen_ = SeenData()
        if "seen" in state:
            self.seen_.x, self.seen_.y = state["seen"]["x"], state["seen"]["y"]
        return self


class JointTraining(KeepsSeenData):
    """``partial_fit`` trains on the new classes plus all earlier training data."""

    method = "joint"

    def _update_representation(self, x: Tensor, y: Tensor, n_old: int, hooks: TrainHooks) -> None:
        self.seen_.add(x, y)
        super()._update_representation(self.seen_.x, self.seen_.y, n_old, hooks)
