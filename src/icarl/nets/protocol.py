"""What a backbone is: the one interface the learner relies on (timm's ``forward_features``)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor, nn

from ..errors import IcarlError


@runtime_checkable
class Backbone(Protocol):
    """A feature extractor ``phi``: ``forward_features(x)`` maps a float image batch
    (B, C, H, W) to features (B, ``out_dim``)."""

    out_dim: int

    def forward_features(self, x: Tensor) -> Tensor: ...


def as_backbone(module: nn.Module) -> Backbone:
    """``module`` checked against :class:`Backbone` (a one-line error if it does not fit)."""
    if not isinstance(module, Backbone) or not isinstance(getattr(module, "out_dim", None), int):
        raise IcarlError(
            f"{type(module).__name__} is not a backbone: it needs a forward_features(x) method "
            "and an integer out_dim attribute"
        )
    return module
