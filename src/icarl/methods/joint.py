"""Joint training: every step trains on ALL the training data seen so far (upper bound).

The network is warm-started from the previous step (not retrained from scratch) and
trained without distillation; it classifies with its own outputs. It keeps no exemplar
memory: the whole past training set stands in for it, which is exactly what a
class-incremental learner may not do. That set is held in memory, decoded, whatever
``data.storage`` says (images read from files are decoded once, when their step comes).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from typing_extensions import Self

from ..algorithm import ICaRL
from ..data.source import ImageSource, TensorSource
from ..train import TrainHooks


class SeenData:
    """All training images seen so far (uint8, CPU) and their internal labels (output indices)."""

    def __init__(self) -> None:
        self.x = torch.empty(0, dtype=torch.uint8)
        self.y = torch.empty(0, dtype=torch.long)

    def add(self, x: Tensor, y: Tensor) -> None:
        x, y = x.detach().cpu(), y.detach().cpu()
        self.x = x.clone() if self.x.numel() == 0 else torch.cat([self.x, x])
        self.y = torch.cat([self.y, y])

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def source(self, classes: list[int]) -> TensorSource:
        """The images as a source, labelled with the original labels (``classes[y]``)."""
        return TensorSource(self.x, torch.tensor(classes, dtype=torch.long)[self.y], name="seen")


class KeepsSeenData(ICaRL):
    """A learner that keeps every training image it saw in ``seen_`` (saved with its state)."""

    def _forget(self) -> None:
        super()._forget()
        self.seen_ = SeenData()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "seen": {"x": self.seen_.x, "y": self.seen_.y}}

    def load_state_dict(self, state: dict[str, Any]) -> Self:
        super().load_state_dict(state)
        self.seen_ = SeenData()
        if "seen" in state:
            self.seen_.x, self.seen_.y = state["seen"]["x"], state["seen"]["y"]
        return self

    def _keep(self, source: ImageSource) -> None:
        """Add the step's images (read whole, in memory from here on) to ``seen_``."""
        self.seen_.add(source.take(torch.arange(len(source))), self.output_index(source.labels))


class JointTraining(KeepsSeenData):
    """``partial_fit`` trains on the new classes plus all earlier training data."""

    method = "joint"

    def _update_representation(self, source: ImageSource, n_old: int, hooks: TrainHooks) -> None:
        self._keep(source)
        super()._update_representation(self.seen_.source(self._classes), n_old, hooks)
