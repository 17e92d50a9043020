"""iNCM (paper Sec. 4.1, "iCaRL with NCM"): iCaRL's training, but the class means are
the true means over ALL training data of the seen classes, recomputed with the
current network after every step. An ablation of the exemplar means, not a
class-incremental learner (it keeps the whole training set).
"""

from __future__ import annotations

from torch import Tensor

from ..algorithm.nme import class_means
from ..train import TrainHooks
from .joint import KeepsSeenData


class NearestClassMean(KeepsSeenData):
    """iCaRL whose ``means_`` come from all training data seen so far (Alg. 1 otherwise)."""

    method = "incm"

    def _update_representation(self, x: Tensor, y: Tensor, n_old: int, hooks: TrainHooks) -> None:
        self.seen_.add(x, y)
        super()._update_representation(x, y, n_old, hooks)

    def _update_means(self) -> None:
        x, y = self.seen_.x, self.seen_.y
        flipped = self.features(x, flip=True) if self.config.flip else None
        self.means_ = class_means(self.features(x), y, len(self.classes_), flipped)
