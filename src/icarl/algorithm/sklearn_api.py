"""scikit-learn conventions for the learner: get_params / set_params (so
``sklearn.base.clone`` works), a readable ``repr``, ``decision_function`` on numpy; and the
one place that writes the learner's configuration (:meth:`EstimatorAPI._configure`).

The parameters are the fields of :class:`~icarl.config.LearnerConfig` plus
``batch_transform``; ``backbone`` is the module itself where one was passed as an object.
As in scikit-learn, parameters are what the constructor stores; what is learned (the
network, the exemplar memory, ...) ends in ``_`` and is made by the first ``partial_fit``.
The exemplar budget ``K`` lives only in ``config.memory_size`` (the memory holds exemplars,
not its budget), so ``set_params(memory_size=...)`` takes effect at the next step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import Tensor, nn
from typing_extensions import Self

from ..config import LearnerConfig, resolve_learner
from ..errors import IcarlError
from ..nets import IncrementalNet, object_spec
from ..train.amp import resolve_device
from .classifiers import check_learner_classifier

EXTRA_PARAMS = ("batch_transform",)
# what a built network embodies: changing them on a fitted learner would describe another
# network than the one it holds (a clone starts again with them)
BUILT_INTO_THE_NETWORK = ("backbone", "init_weights", "init", "batchnorm", "resnet_last_relu", "normalize")
_KEEP = object()  # _configure: keep the current batch_transform


def param_names() -> list[str]:
    """The learner's parameters, in :class:`LearnerConfig` order, then ``batch_transform``."""
    return [f.name for f in fields(LearnerConfig)] + list(EXTRA_PARAMS)


def _short(value: Any) -> str:
    if isinstance(value, nn.Module):
        return f"{type(value).__name__}()"
    if callable(value):
        return getattr(value, "__qualname__", None) or type(value).__name__
    return repr(value)


class EstimatorAPI(ClassifierMixin, BaseEstimator):
    """``get_params``, ``set_params``, ``__repr__`` and ``decision_function`` over a
    learner's ``config``, ``backbone_object`` and ``batch_transform``; scikit-learn's
    mixins for the rest (tags: a classifier)."""

    config: LearnerConfig
    backbone_object: nn.Module | None = None
    batch_transform: Callable[[Tensor], Tensor] | None = None
    net_: IncrementalNet | None = None

    def decision_scores(self, x: Any, classifier: str | None = None) -> Tensor:
        raise NotImplementedError

    def _configure(
        self,
        base: LearnerConfig,
        params: dict[str, Any],
        batch_transform: Any = _KEEP,
        first_step_images: int | None = None,
    ) -> None:
        """Write ``self.config``: ``base`` with ``params`` through
        :func:`icarl.config.resolve_learner` (the one resolver: checked once), and what depends
        on it brought along. The only writer of ``config`` (constructor, ``set_params``, the
        automatic batch size of the first ``partial_fit``); a refused change leaves the learner
        as it was."""
        params = dict(params)
        obj = self.backbone_object
        if isinstance(params.get("backbone"), nn.Module):
            obj = params["backbone"]
            params["backbone"] = object_spec(obj)
        elif "backbone" in params:
            obj = None
        cfg = resolve_learner(base, params, first_step_images=first_step_images)
        check_learner_classifier(cfg)
        transform = self.batch_transform if batch_transform is _KEEP else batch_transform
        if cfg.augment == "user" and transform is None:
            raise IcarlError(
                "augment='user' replaces crop and flip by batch_transform; pass batch_transform=fn"
            )
        if self.net_ is not None:
            self._carry_network(cfg, obj)
        self.config, self.backbone_object, self.batch_transform = cfg, obj, transform

    def _carry_network(self, cfg: LearnerConfig, obj: nn.Module | None) -> None:
        """A fitted learner's network under a changed configuration: moved to another device
        or memory layout; a change of what it is built from is refused."""
        old, net = self.config, self.net_
        assert net is not None  # internal: called for a fitted learner only
        built = [k for k in BUILT_INTO_THE_NETWORK if getattr(cfg, k) != getattr(old, k)]
        if built or obj is not self.backbone_object:
            raise IcarlError(
                f"{', '.join(built) or 'backbone'} describes how the network is built, and this "
                "learner has built it; clone it (sklearn.base.clone) to learn from the start with it"
            )
        if cfg.device != old.device:
            net.to(resolve_device(cfg.device))
        if cfg.channels_last != old.channels_last:
            layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
            net.to(memory_format=layout)  # type: ignore[call-overload]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The parameters this learner was built with (``deep`` is accepted for scikit-learn;
        no parameter is itself an estimator)."""
        params = {f.name: getattr(self.config, f.name) for f in fields(LearnerConfig)}
        if self.backbone_object is not None:
            params["backbone"] = self.backbone_object
        params["batch_transform"] = self.batch_transform
        return params

    def set_params(self, **params: Any) -> Self:
        """Change parameters, checked as the constructor checks them; a fitted learner uses
        them from its next ``partial_fit`` (``memory_size``: the budget of the next step's
        exemplar sets). Returns ``self``."""
        unknown = sorted(set(params) - set(param_names()))
        if unknown:
            raise IcarlError(
                f"{type(self).__name__} has no parameter {unknown[0]!r}; valid: {', '.join(param_names())}"
            )
        transform = params.pop("batch_transform", _KEEP)
        self._configure(self.config, params, transform)
        return self

    def __repr__(self) -> str:
        default = LearnerConfig()
        params = self.get_params(deep=False)
        shown = [
            f"{k}={_short(v)}"
            for k, v in params.items()
            if (k in EXTRA_PARAMS and v is not None) or (k not in EXTRA_PARAMS and v != getattr(default, k))
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    def decision_function(self, x: Any, classifier: str | None = None) -> np.ndarray:
        """(N, t) scores as a numpy array, columns in ``classes_`` order, higher is better
        (see :meth:`decision_scores`)."""
        return self.decision_scores(x, classifier).numpy()
