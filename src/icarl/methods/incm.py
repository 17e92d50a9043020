"""iNCM (paper Sec. 4.1, "iCaRL with NCM"): iCaRL's training, but the class means are
the true means over ALL training data of the seen classes, recomputed with the
current network after every step. An ablation of the exemplar means, not a
class-incremental learner (it keeps the whole training set).
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from ..data.source import ImageSource
from ..train import TrainHooks
from .joint import KeepsSeenData


class NearestClassMean(KeepsSeenData):
    """iCaRL whose ``means_`` come from all training data seen so far (Alg. 1 otherwise)."""

    method = "incm"

    def _update_representation(self, source: ImageSource, n_old: int, hooks: TrainHooks) -> None:
        self._keep(source)
        super()._update_representation(source, n_old, hooks)

    def _update_means(self, known: Mapping[int, Tensor] | None = None) -> None:
        # the true means over all training data seen; herding's features do not cover them
        self.means_ = self.class_means(self.seen_.source(self._classes))  # as the evaluation's iNCM
