"""Methods by name: each is a learner class plus the settings it fixes, as data.

iCaRL's baselines and ablations are compositions of the same pieces. A :class:`Method`
says which learner class runs and which :class:`~icarl.config.LearnerConfig` fields it
overrides; :func:`resolve` applies them once, so the configuration a run records is the
one its learner trains with. Register more with :func:`register`; methods from other
packages come in through :mod:`.plugins` (``--plugin MODULE``, entry points ``icarl.methods``).
:func:`get` never imports anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from ..algorithm import ICaRL
from ..config import ConfigError, LearnerConfig, RunConfig
from .fixed import FixedRepresentation
from .incm import NearestClassMean
from .joint import JointTraining


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    learner: type[ICaRL] = ICaRL
    settings: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self, cfg: LearnerConfig) -> LearnerConfig:
        """``cfg`` with this method's settings applied (checked)."""
        return replace(cfg, **self.settings).check()

    def create(self, cfg: LearnerConfig) -> ICaRL:
        """A fresh learner of this method; ``cfg`` is resolved first (idempotent)."""
        learner = self.learner(config=self.resolve(cfg))
        learner.method = self.name
        return learner


_METHODS: dict[str, Method] = {}
NO_MEMORY = MappingProxyType({"memory_size": 0, "distillation": "none", "classifier": "cnn"})


def register(method: Method) -> Method:
    _METHODS[method.name] = method
    return method


def available() -> list[str]:
    return sorted(_METHODS)


def get(name: str) -> Method:
    try:
        return _METHODS[name]
    except KeyError:
        raise ConfigError(
            f"unknown method {name!r}; choose one of: {', '.join(available())} (a plugin's method: "
            "pass --plugin MODULE; Python: import the module first)"
        ) from None


def create(name: str, cfg: LearnerConfig) -> ICaRL:
    return get(name).create(cfg)


def descriptions() -> dict[str, str]:
    return {name: m.description for name, m in sorted(_METHODS.items())}


def resolve(cfg: RunConfig) -> RunConfig:
    """The one resolved configuration of a run: the run's seed threaded into the learner,
    then the method's settings. What runs is what is recorded (results, checkpoints, models)."""
    learner = replace(cfg.learner, seed=cfg.seed)
    return replace(cfg, learner=get(cfg.method).resolve(learner))


for _m in (
    Method("icarl", "iCaRL: exemplars by herding, BCE distillation, nearest-mean classifier"),
    Method("finetune", "finetuning: no exemplars, no distillation, network outputs", settings=NO_MEMORY),
    Method(
        "lwf",
        "LwF-MC: BCE distillation like iCaRL, no exemplars, network outputs",
        settings={"memory_size": 0, "distillation": "bce", "classifier": "cnn"},
    ),
    Method(
        "fixed",
        "fixed representation: network frozen after step 1, only new head rows learn",
        FixedRepresentation,
        NO_MEMORY,
    ),
    Method(
        "joint",
        "joint training on all data seen so far (upper bound, not incremental)",
        JointTraining,
        NO_MEMORY,
    ),
    Method("hybrid1", "ablation: iCaRL training, network-output classifier", settings={"classifier": "cnn"}),
    Method(
        "hybrid2",
        "ablation: exemplars and NME, no distillation",
        settings={"distillation": "none", "classifier": "nme"},
    ),
    Method(
        "hybrid3",
        "ablation: exemplars, no distillation, network outputs",
        settings={"distillation": "none", "classifier": "cnn"},
    ),
    Method(
        "incm",
        "ablation: iCaRL training, class means over all training data (iNCM)",
        NearestClassMean,
        {"classifier": "nme"},
    ),
):
    register(_m)

__all__ = [
    "FixedRepresentation",
    "JointTraining",
    "Method",
    "NearestClassMean",
    "available",
    "create",
    "descriptions",
    "get",
    "register",
    "resolve",
]
