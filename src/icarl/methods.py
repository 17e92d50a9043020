"""Methods by name: each is the learner with a few settings fixed.

iCaRL's baselines and ablations are compositions of the same pieces, so a
method is a function from the run's learner settings to a learner. Register
more with ``@register("name")``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .baselines import FixedRepresentation, JointTraining, NearestClassMean
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


@register("lwf", "LwF-MC: BCE distillation like iCaRL, no exemplars, network outputs")
def lwf(cfg: LearnerConfig) -> ICaRL:
    return ICaRL(config=replace(cfg, memory_size=0, distillation="bce", classifier="cnn"))


@register("fixed", "fixed representation: network frozen after step 1, only new head rows learn")
def fixed(cfg: LearnerConfig) -> ICaRL:
    return FixedRepresentation(config=replace(cfg, memory_size=0, distillation="none", classifier="cnn"))


@register("joint", "joint training on all data seen so far (upper bound, not incremental)")
def joint(cfg: LearnerConfig) -> ICaRL:
    return JointTraining(config=replace(cfg, memory_size=0, distillation="none", classifier="cnn"))


@register("hybrid1", "ablation: iCaRL training, network-output classifier")
def hybrid1(cfg: LearnerConfig) -> ICaRL:
    return ICaRL(config=replace(cfg, classifier="cnn"))


@register("hybrid2", "ablation: exemplars and NME, no distillation")
def hybrid2(cfg: LearnerConfig) -> ICaRL:
    return ICaRL(config=replace(cfg, distillation="none", classifier="nme"))


@register("hybrid3", "ablation: exemplars, no distillation, network outputs")
def hybrid3(cfg: LearnerConfig) -> ICaRL:
    return ICaRL(config=replace(cfg, distillation="none", classifier="cnn"))


@register("incm", "ablation: iCaRL training, class means over all training data (iNCM)")
def incm(cfg: LearnerConfig) -> ICaRL:
    return NearestClassMean(config=replace(cfg, classifier="nme"))
