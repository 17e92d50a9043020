"""Backbones by name. A factory takes ``(in_channels, image_size)`` and returns a module
that satisfies :class:`~icarl.nets.protocol.Backbone`; :func:`register` adds one::

    @icarl.nets.register("tiny")
    def tiny(in_channels: int, image_size: int) -> nn.Module: ...
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..config import ConfigError
from ..registry import Registry

Factory = Callable[[int, int], nn.Module]
BACKBONES: Registry[Factory] = Registry(
    "backbone", ConfigError, "or name a factory as package.module:function"
)


def register(name: str) -> Callable[[Factory], Factory]:
    """Decorator: register the factory under ``name`` (a second registration warns)."""
    return BACKBONES.decorator(name)


def available() -> list[str]:
    return BACKBONES.available()


def descriptions() -> dict[str, str]:
    """name -> the first line of each backbone factory's docstring (empty where it has none)."""
    return {n: (f.__doc__ or "").strip().split("\n")[0].rstrip(",;") for n, f in sorted(BACKBONES.items())}


def create_backbone(name: str, in_channels: int, image_size: int) -> nn.Module:
    return BACKBONES.get(name)(in_channels, image_size)
