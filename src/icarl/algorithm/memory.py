"""Exemplar memory: per class, an ordered list of stored uint8 images (``P_y``).

The order is herding order (Algorithm 4), so reducing (Algorithm 5) is a truncation. The
memory holds the exemplars, not their budget: ``K`` is the learner's ``memory_size`` and
``m`` comes from :meth:`~icarl.algorithm.learner.ICaRL.exemplars_per_class` at each step,
so a budget changed between steps (``set_params``) takes effect at the next one.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..errors import IcarlError


def per_class_budget(memory_size: int, num_seen: int) -> int:
    """``m = K // t``. Floor, so that ``t * m <= K`` always (the memory never exceeds K)."""
    # DEVIATION: the authors' code keeps ceil(K / t) per class (both versions), so their memory
    # can exceed K by up to t - 1 exemplars (2010 of K = 2000 at t = 30); the paper says m = K / t.
    # A method may use another rule: ICaRL.exemplars_per_class is the hook.
    if num_seen <= 0:
        return 0
    return memory_size // num_seen


def check_budget(memory_size: int, t: int, m: int, where: str = "seen") -> None:
    """Refuse a budget ``K > 0`` whose rule gives ``m = 0`` exemplars for ``t`` classes (every
    exemplar set would be empty: NME would have nothing to average). ``where``: "seen" (a
    step's classes) or "of the stream" (a run, checked before it starts)."""
    if memory_size and m == 0:
        raise IcarlError(
            f"memory size K={memory_size} is smaller than the {t} classes {where}, so m = K // t "
            f"would reach 0; set memory_size (--memory) to at least {t}"
        )


class ExemplarMemory:
    """Ordered exemplar sets ``P_y`` keyed by internal class index."""

    def __init__(self) -> None:
        self.sets: dict[int, Tensor] = {}

    def __len__(self) -> int:
        return sum(int(p.shape[0]) for p in self.sets.values())

    @property
    def nbytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.sets.values())

    def counts(self) -> dict[int, int]:
        return {y: int(p.shape[0]) for y, p in self.sets.items()}

    def reduce(self, m: int) -> None:
        """Algorithm 5: keep the first ``m`` exemplars of every class."""
        self.sets = {y: p[:m] for y, p in self.sets.items()}

    def add(self, y: int, exemplars: Tensor) -> None:
        """Store the ordered exemplar set of a new class ``y`` (uint8 images)."""
        if exemplars.dtype != torch.uint8:
            raise TypeError("exemplars are stored as uint8 images")
        self.sets[y] = exemplars.detach().to("cpu").clone()

    def as_tensors(self) -> tuple[Tensor, Tensor]:
        """All exemplars and their internal labels, class by class."""
        if not self.sets:
            return torch.empty(0, dtype=torch.uint8), torch.empty(0, dtype=torch.long)
        ys = sorted(self.sets)
        x = torch.cat([self.sets[y] for y in ys])
        lab = torch.cat([torch.full((self.sets[y].shape[0],), y, dtype=torch.long) for y in ys])
        return x, lab

    def state_dict(self) -> dict[str, Any]:
        """The sets, by class index (the learner adds its ``memory_size`` beside them)."""
        return {"sets": {str(k): v for k, v in self.sets.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sets = {int(k): v for k, v in dict(state["sets"]).items()}
