"""Methods by name: each is the learner with a few settings fixed.

iCaRL's baselines and ablations are compositions of the same pieces, so a
method is a function from the run's learner settings to a learner. Register
more with ``@register("name")``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .config import ConfigError, LearnerConfig
from .icarl import ICaRL

Builder = Callable[[LearnerConfig], ICaRL]
_METHODS: dict[str, Builder] = {}
DESCRIPTIONS: dict[str, str] = {}


def register(name: str, description: str) -> Callable[[Builder], Builder]:
    def add(fn: Builder) -> Builder:
        _METHODS[name] = fn
        DESCRIPTIONS[name] = description
        return fn

    return add


def available() -> list[str]:
    return sorted(_METHODS)


def create(name: str, cfg: LearnerConfig) -> ICaRL:
    try:
        return _METHODS[name](cfg)
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; choose one of: {', '.join(available())}") from None


@register("icarl", "iCaRL: exemplars by herding, BCE distillation, nearest-mean classifier")
def icarl(cfg: LearnerConfig) -> ICaRL:
    return ICaRL(config=cfg)


@register("finetune", "finetuning: no exemplars, no distillation, network outputs")
def finetune(cfg: LearnerConfig) -> ICaRL:
    return ICaRL(config=replace(cfg, memory_size=0, distillation="none", classifier="cnn"))
