"""scikit-learn conventions for the learner: ``get_params`` / ``set_params`` (so
``sklearn.base.clone`` works), a readable ``repr``, ``decision_function`` on numpy.

The parameters are the fields of :class:`~icarl.config.LearnerConfig` plus
``batch_transform``; ``backbone`` is the module itself where one was passed as an object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import Tensor, nn
from typing_extensions import Self

from ..config import LearnerConfig
from ..errors import IcarlError
from ..nets import object_spec

EXTRA_PARAMS = ("batch_transform",)


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
    backbone_object: nn.Module | None
    batch_transform: Callable[[Tensor], Tensor] | None

    def decision_scores(self, x: Any, classifier: str | None = None) -> Tensor:
        raise NotImplementedError

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The parameters this learner was built with (``deep`` is accepted for scikit-learn;
        no parameter is itself an estimator)."""
        params = {f.name: getattr(self.config, f.name) for f in fields(LearnerConfig)}
        if self.backbone_object is not None:
            params["backbone"] = self.backbone_object
        params["batch_transform"] = self.batch_transform
        return params

    def set_params(self, **params: Any) -> Self:
        """Change parameters (checked as the constructor checks them); returns ``self``."""
        unknown = sorted(set(params) - set(param_names()))
        if unknown:
            raise IcarlError(
                f"{type(self).__name__} has no parameter {unknown[0]!r}; valid: {', '.join(param_names())}"
            )
        if "batch_transform" in params:
            self.batch_transform = params.pop("batch_transform")
        if isinstance(params.get("backbone"), nn.Module):
            self.backbone_object = params["backbone"]
            params["backbone"] = object_spec(params["backbone"])
        elif "backbone" in params:
            self.backbone_object = None
        self.config = replace(self.config, **params).check()
        if self.config.augment == "user" and self.batch_transform is None:
            raise IcarlError("augment='user' replaces crop and flip by batch_transform; set batch_transform")
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
