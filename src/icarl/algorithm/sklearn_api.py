"""scikit-learn conventions for the learner: ``fit`` (a fresh learner over all given classes),
get_params / set_params (so ``sklearn.base.clone`` works), a readable ``repr``,
``decision_function`` on numpy; and the one place that writes the learner's configuration
(:meth:`EstimatorAPI._configure`). What ``check_estimator`` says of it: docs/sklearn.md.

The parameters are the fields of :class:`~icarl.config.LearnerConfig` plus
``batch_transform`` and ``classes_per_step`` (how :meth:`EstimatorAPI.fit` cuts the classes
into steps); ``backbone`` is the module itself where one was passed as an object.
As in scikit-learn, parameters are what the constructor stores; what is learned (the
network, the exemplar memory, ...) ends in ``_`` and is made by the first ``partial_fit``.
The exemplar budget ``K`` lives only in ``config.memory_size`` (the memory holds exemplars,
not its budget), so ``set_params(memory_size=...)`` takes effect at the next step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError as SklearnNotFitted
from torch import Tensor, nn
from typing_extensions import Self

from .. import errors
from ..config import LearnerConfig, resolve_learner
from ..errors import IcarlError
from ..nets import IncrementalNet, object_spec
from ..train.amp import resolve_device
from .classifiers import check_learner_classifier
from .inputs import as_source, int_labels, is_source, is_text

EXTRA_PARAMS = ("batch_transform", "classes_per_step")
# what a built network embodies: changing them on a fitted learner would describe another
# network than the one it holds (a clone starts again with them)
BUILT_INTO_THE_NETWORK = ("backbone", "init_weights", "init", "batchnorm", "resnet_last_relu", "normalize")
_KEEP = object()  # _configure: keep the current batch_transform


class NotFittedError(errors.NotFittedError, SklearnNotFitted):
    """A learner asked to predict before it learned anything: icarl's one-line error, which
    scikit-learn recognises as its own (``check_is_fitted``, ``check_estimator``)."""


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
    classes_per_step: int | None = None
    net_: IncrementalNet | None = None

    def decision_scores(self, x: Any, classifier: str | None = None) -> Tensor:
        raise NotImplementedError

    def partial_fit(self, x: Any, y: Any = None, *, callbacks: Sequence[Any] = ()) -> Self:
        raise NotImplementedError

    def _forget(self) -> None:
        raise NotImplementedError

    def _normalisation(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        raise NotImplementedError

    def __sklearn_is_fitted__(self) -> bool:
        return self.net_ is not None

    def fit(self, x: Any, y: Any = None, *, callbacks: Sequence[Any] = ()) -> Self:
        """scikit-learn's ``fit``: forget anything learned, then learn every class of ``(x, y)``
        (images in any accepted form with labels, or a source with its own): in one step, or,
        with ``classes_per_step = k``, in steps of ``k`` classes in sorted label order, one
        ``partial_fit`` each (the class-incremental protocol on data you hold at once). The
        labels are checked before the images, as scikit-learn's estimators do."""
        if not is_source(x):
            if y is None:
                raise IcarlError(
                    f"{type(self).__name__}.fit requires y to be passed, but the target y is None; "
                    "give one label per image, or a dataset of (image, label) items"
                )
            if not isinstance(y, Tensor) and hasattr(y, "__array__"):
                y = np.asarray(y)
            if not is_text(y):  # continuous (fractional) labels: refused before any image is read
                int_labels(y, len(y) if hasattr(y, "__len__") else 1)
        self._forget()
        for part_x, part_y in self._fit_steps(x, y):
            self.partial_fit(part_x, part_y, callbacks=callbacks)
        return self

    def _fit_steps(self, x: Any, y: Any) -> Iterator[tuple[Any, Any]]:
        """``(x, y)`` cut into the steps of :meth:`fit`."""
        k = self.classes_per_step
        if not k:
            yield x, y
            return
        if is_source(x):  # its labels: integers, or (string labels) positions of the sorted names
            source = as_source(x, normalisation=self._normalisation())
            classes = sorted(int(c) for c in source.labels.unique())
            for i in range(0, len(classes), k):
                yield source.of_classes(classes[i : i + k]), None
            return
        given = np.asarray(y.cpu() if isinstance(y, Tensor) else y)
        if y is None or given.ndim != 1 or len(given) != len(x):
            shape = "no labels" if y is None else f"labels shaped {given.shape}"
            raise IcarlError(f"{len(x)} images but {shape}; give one label per image")
        kinds = np.unique(given)
        for i in range(0, len(kinds), k):
            keep = np.isin(given, kinds[i : i + k])
            yield (x[torch.from_numpy(keep)] if isinstance(x, Tensor) else np.asarray(x)[keep]), given[keep]

    def _configure(
        self,
        base: LearnerConfig,
        params: dict[str, Any],
        batch_transform: Any = _KEEP,
        classes_per_step: Any = _KEEP,
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
        step = self.classes_per_step if classes_per_step is _KEEP else classes_per_step
        whole = isinstance(step, int | np.integer) and not isinstance(step, bool)
        if step is not None and (not whole or step < 1):
            raise IcarlError(
                f"classes_per_step is {step!r}; give a whole number of classes, 1 or more, or None "
                "(fit learns every class in one step)"
            )
        if self.net_ is not None:
            self._carry_network(cfg, obj)
        self.config, self.backbone_object, self.batch_transform = cfg, obj, transform
        self.classes_per_step = None if step is None else int(step)

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
        params["classes_per_step"] = self.classes_per_step
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
        step = params.pop("classes_per_step", _KEEP)
        self._configure(self.config, params, transform, step)
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
