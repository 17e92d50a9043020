"""Backbones by name. A factory takes ``(in_channels, image_size)`` and returns a module
that satisfies :class:`~icarl.nets.protocol.Backbone`."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..config import ConfigError

Factory = Callable[[int, int], nn.Module]
_BACKBONES: dict[str, Factory] = {}


def register(name: str) -> Callable[[Factory], Factory]:
    def add(fn: Factory) -> Factory:
        _BACKBONES[name] = fn
        return fn

    return add


def available() -> list[str]:
    return sorted(_BACKBONES)


def descriptions() -> dict[str, str]:
    """name -> the first line of each backbone factory's docstring (empty where it has none)."""
    return {n: (f.__doc__ or "").strip().split("\n")[0].rstrip(",;") for n, f in sorted(_BACKBONES.items())}


def create_backbone(name: str, in_channels: int, image_size: int) -> nn.Module:
    try:
        factory = _BACKBONES[name]
    except KeyError:
        raise ConfigError(f"unknown backbone {name!r}; choose one of: {', '.join(available())}") from None
    return factory(in_channels, image_size)
