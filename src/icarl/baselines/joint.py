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

from ..icarl import ICaRL


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
    """A learner that keeps every training image it saw in ``seen_`` (checkpointed)."""

    seen_: SeenData

    def _remember(self, x: Tensor, y: Tensor) -> SeenData:
        if not hasattr(self, "seen_"):
            self.seen_ = SeenData()
        self.seen_.add(x, y)
        return self.seen_

    def get_extra_state(self) -> dict[str, Any]:
        return {"x": self.seen_.x, "y": self.seen_.y} if hasattr(self, "seen_") else {}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        if state:
            self.seen_ = SeenData()
            self.seen_.x, self.seen_.y = state["x"], state["y"]


class JointTraining(KeepsSeenData):
    """``partial_fit`` trains on the new classes plus all earlier training data."""

    def _update_representation(self, x: Tensor, y: Tensor, n_old: int) -> None:
        seen = self._remember(x, y)
        super()._update_representation(seen.x, seen.y, n_old)
