"""A learner's state as tensors and plain containers: what checkpoints and model files hold.

:class:`LearnerState` is the part of :class:`~icarl.algorithm.learner.ICaRL` that turns its
learned attributes into a ``state_dict`` and back; methods with more learned state extend
both (``methods/joint.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from typing_extensions import Self

from ..config import LearnerConfig, to_dict
from ..errors import IcarlError
from ..files.model import write_model
from ..nets import IncrementalNet
from .memory import ExemplarMemory

FORMAT_VERSION = 1


class LearnerState:
    """``state_dict`` / ``load_state_dict`` / ``save`` over the learner's ``..._`` attributes."""

    method: str
    config: LearnerConfig
    label_kind_: str
    class_names_: dict[int, str]
    net_: IncrementalNet | None
    memory_: ExemplarMemory
    means_: Tensor | None
    pixel_mean_: Tensor | None
    image_shape_: tuple[int, int, int] | None
    rng_: torch.Generator | None
    history_: list[dict[str, Any]]
    inference_only_: bool  # loaded from a file saved without exemplars: predicts, cannot learn
    _classes: list[int]  # the labels of the seen classes, in arrival order (output unit = position)

    @property
    def classes_(self) -> np.ndarray:
        """The labels of the seen classes in arrival order (a class's output unit is its
        position), as an int64 array (scikit-learn's ``classes_``); assign any sequence."""
        return np.array(self._classes, dtype=np.int64)

    @classes_.setter
    def classes_(self, labels: Iterable[int]) -> None:
        self._classes = [int(c) for c in labels]

    velocity_: dict[str, Tensor]

    def named_classes(self) -> dict[int, str]:
        """label -> name for every class the learner knows (``str(label)`` where unnamed)."""
        return {c: self.class_names_.get(c, str(c)) for c in self._classes}

    def _new_network(self, num_outputs: int, fresh: bool = False) -> IncrementalNet:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Everything the learner has learned, as tensors and plain containers only
        (loadable with ``torch.load(weights_only=True)``). Methods add their own state."""
        net = self.net_
        shape = list(self.image_shape_) if self.image_shape_ else None
        return {
            "format_version": FORMAT_VERSION,
            "method": self.method,
            "kind": type(self).__name__,
            "config": to_dict(self.config),
            "classes": list(self._classes),
            "class_names": self.named_classes(),
            "label_kind": self.label_kind_,
            "image_shape": shape,
            "num_outputs": net.num_outputs if net is not None else 0,
            "net": {k: v.detach().cpu() for k, v in net.state_dict().items()} if net else None,
            # K beside the sets (model files show it); the learner reads K from its config
            "memory": {"memory_size": self.config.memory_size, **self.memory_.state_dict()},
            "means": self.means_,
            "pixel_mean": self.pixel_mean_,
            "rng": self.rng_.get_state() if self.rng_ is not None else None,
            "history": list(self.history_),
            # learner.momentum_carry: SGD's momentum buffers at the end of the last step
            "velocity": dict(self.velocity_),
        }

    def load_state_dict(self, state: dict[str, Any]) -> Self:
        """Inverse of :meth:`state_dict` on a learner built with the same config."""
        if state.get("format_version") != FORMAT_VERSION:
            raise IcarlError(
                f"model format version {state.get('format_version')} is not supported by this "
                f"icarl (format {FORMAT_VERSION}); use the icarl version that wrote it"
            )
        self.classes_ = [int(c) for c in state["classes"]]
        self.class_names_ = {int(k): str(v) for k, v in state["class_names"].items()}
        self.label_kind_ = str(state.get("label_kind", "int"))
        self.history_ = list(state["history"])
        self.memory_.load_state_dict(state["memory"])
        self.means_ = state["means"]
        self.pixel_mean_ = state["pixel_mean"]
        self.inference_only_ = bool(state.get("inference_only", False))
        self.velocity_ = dict(state.get("velocity") or {})  # absent from older files
        if state["image_shape"] is not None:
            c, h, w = (int(v) for v in state["image_shape"])
            self.image_shape_ = (c, h, w)
            net = self._new_network(int(state["num_outputs"]))
            net.load_state_dict(state["net"])
            self.net_ = net.eval()
        if state["rng"] is not None:
            self.rng_ = torch.Generator()
            self.rng_.set_state(state["rng"])
        return self

    def check_can_learn(self, where: str = "this model") -> None:
        """Refuse (one line) to learn on a learner loaded from a file without exemplars."""
        if self.inference_only_:
            raise IcarlError(
                f"{where} was saved without exemplars (--no-exemplars); it can predict but not learn; "
                "save it again without --no-exemplars"
            )

    def save(self, path: str | Path, *, exemplars: bool = True, **extra: Any) -> Path:
        """One file: network, exemplars, class names, preprocessing, config, history;
        :func:`icarl.load` reads it back as a learner of the same method.

        ``exemplars=False``: an inference-only file, without the exemplar images (or any
        other training images a method keeps), with the class means; it predicts but cannot
        learn more classes."""
        state = without_exemplars(self.state_dict()) if not exemplars else self.state_dict()
        if extra:
            state["extra"] = extra
        return write_model(path, state)


def without_exemplars(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` for inference only: no exemplar images, no kept training data (``seen``)."""
    out = {k: v for k, v in state.items() if k != "seen"}
    out["memory"] = {**state["memory"], "sets": {}}
    out["inference_only"] = True
    return out
