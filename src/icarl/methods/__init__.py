"""Methods by name: each is a learner class plus the settings it fixes, as data.

iCaRL's baselines and ablations are compositions of the same pieces. A :class:`Method`
says which learner class runs and which :class:`~icarl.config.LearnerConfig` fields it
overrides; :func:`resolve` applies them once, so the configuration a run records is the
one its learner trains with. Register more with :func:`register`; methods from other
packages come in through :mod:`.plugins` (``--plugin MODULE``, entry points ``icarl.methods``).
:func:`get` never imports anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from torch import Tensor, nn

from ..algorithm import ICaRL
from ..algorithm.classifiers import check_learner_classifier
from ..config import ConfigError, LearnerConfig, RunConfig, resolve_learner
from ..registry import Registry
from .fixed import FixedRepresentation
from .incm import NearestClassMean
from .joint import JointTraining


@dataclass(frozen=True)
class Method:
    """A method: the learner class that runs it and the learner settings it fixes (applied
    over the user's by :func:`icarl.config.resolve_learner`, the one resolver)."""

    name: str
    description: str
    learner: type[ICaRL] = ICaRL
    settings: Mapping[str, Any] = field(default_factory=dict)

    def resolve(
        self, cfg: LearnerConfig, seed: int | None = None, first_step_images: int | None = None
    ) -> LearnerConfig:
        """``cfg`` with the run's ``seed`` (when given), this method's settings and the
        automatic batch size (given the first step's size), checked."""
        changes = {**({"seed": seed} if seed is not None else {}), **self.settings}
        resolved = resolve_learner(cfg, changes, first_step_images=first_step_images)
        check_learner_classifier(resolved)
        return resolved

    def create(
        self,
        cfg: LearnerConfig,
        *,
        backbone: nn.Module | None = None,
        batch_transform: Callable[[Tensor], Tensor] | None = None,
    ) -> ICaRL:
        """A fresh learner of this method: ``cfg`` with the method's settings (resolving a
        resolved configuration changes nothing); ``backbone``: the module of a configuration
        whose backbone was passed as an object."""
        params: dict[str, Any] = dict(self.settings)
        if backbone is not None:
            params["backbone"] = backbone
        learner = self.learner(config=cfg, batch_transform=batch_transform, **params)
        learner.method = self.name
        return learner


METHODS: Registry[Method] = Registry(
    "method", ConfigError, "a plugin's method: pass --plugin MODULE (Python: import the module first)"
)
NO_MEMORY = MappingProxyType({"memory_size": 0, "distillation": "none", "classifier": "cnn"})


def register(method: Method, *, replace: bool = False) -> Method:
    """Make ``method`` available by its name (``--method``, ``icarl compare``, model files);
    registering a name again warns (``replace=True``: without a warning)."""
    return METHODS.register(method.name, method, replace=replace)


def available() -> list[str]:
    return METHODS.available()


def get(name: str) -> Method:
    return METHODS.get(name)


def create(name: str, cfg: LearnerConfig) -> ICaRL:
    return get(name).create(cfg)


def descriptions() -> dict[str, str]:
    return {name: m.description for name, m in sorted(METHODS.items())}


def resolve(cfg: RunConfig, first_step_images: int | None = None) -> RunConfig:
    """The one resolved configuration of a run: the run's seed threaded into the learner, the
    method's settings, and (given the size of the first step) the automatic batch size, by
    :func:`icarl.config.resolve_learner`. What runs is what is recorded (results, checkpoints,
    models); resolving again changes nothing."""
    return replace(cfg, learner=get(cfg.method).resolve(cfg.learner, cfg.seed, first_step_images))


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
