"""Baselines and ablations of the paper that differ from iCaRL in behaviour, not only
in settings: each is a small subclass of :class:`~icarl.icarl.ICaRL` overriding one hook.

- :class:`FixedRepresentation` (paper Sec. 4: "fixed representation")
- :class:`JointTraining` (all data seen so far; the upper bound)
- :class:`NearestClassMean` (iNCM: iCaRL's training, class means of all training data)

Settings-only variants (finetune, LwF-MC, hybrid1-3) live in :mod:`icarl.methods`.
"""

from .fixed import FixedRepresentation
from .incm import NearestClassMean, incm_means
from .joint import JointTraining, SeenData

__all__ = ["FixedRepresentation", "JointTraining", "NearestClassMean", "SeenData", "incm_means"]
