"""iNCM (paper Sec. 4.1, "iCaRL with NCM"): iCaRL's training, but the class means are
the true means over ALL training data of the seen classes, recomputed with the
current network after every step. An ablation of the exemplar means, not a
class-incremental learner (it keeps the whole training set).
"""

from __future__ import annotations

from torch import Tensor

from ..nme import class_means
from .joint import KeepsSeenData


def incm_means(
    features: Tensor, labels: Tensor, num_classes: int, flipped_features: Tensor | None = None
) -> Tensor:
    """``mu_y`` over all training features of each class (L2-normalised, flip-averaged,
    re-normalised): :func:`icarl.nme.class_means` applied to the full training set."""
    return class_means(features, labels, num_classes, flipped_features)


class NearestClassMean(KeepsSeenData):
    """iCaRL whose ``means_`` come from all training data seen so far (Alg. 1 otherwise)."""

    def _update_representation(self, x: Tensor, y: Tensor, n_old: int) -> None:
        self._remember(x, y)
        super()._update_representation(x, y, n_old)

    def _update_means(self) -> None:
        x, y = self.seen_.x, self.seen_.y
        flipped = self.features(x, flip=True) if self.config.flip else None
        self.means_ = incm_means(self.features(x), y, len(self.classes_), flipped)
