"""Backbones through a registry, and the incremental network (backbone + growing head).

A backbone is an ``nn.Module`` with ``forward_features(x) -> (N, out_dim)`` and an
``out_dim`` attribute. Its factory takes ``in_channels`` and ``image_size``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

Factory = Callable[[int, int], nn.Module]
_BACKBONES: dict[str, Factory] = {}


def register(name: str) -> Callable[[Factory], Factory]:
    def add(fn: Factory) -> Factory:
        _BACKBONES[name] = fn
        return fn

    return add


def available() -> list[str]:
    return sorted(_BACKBONES)


def create_backbone(name: str, in_channels: int, image_size: int) -> nn.Module:
    try:
        factory = _BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose one of: {', '.join(available())}") from None
    return factory(in_channels, image_size)


from . import resnet, small  # noqa: E402,F401  (registers the backbones)
from .incremental import IncrementalNet  # noqa: E402

__all__ = ["IncrementalNet", "available", "create_backbone", "register"]
