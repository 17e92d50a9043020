"""A model file back as a learner of the method that wrote it, and the names and accuracies
``icarl run --save`` writes into a model's history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..algorithm import ICaRL
from ..config import ConfigError, LearnerConfig, from_table
from ..errors import IcarlError
from ..files.model import ModelFileError, read_model
from ..methods import plugins
from ..nets.adapt import OBJECT_PREFIX, check_consent
from .learn import set_class_names


def load(
    path: str | Path,
    device: str | None = None,
    *,
    backbone: nn.Module | None = None,
    batch_transform: Callable[[Tensor], Tensor] | None = None,
    trust_backbone: bool = False,
) -> ICaRL:
    """Load a learner saved by :meth:`ICaRL.save`, as the method that saved it.

    ``device`` overrides the saved setting; without it, a model saved with a CUDA
    device loads on the CPU where CUDA is not available. A model whose backbone was passed
    as an object needs ``backbone``: a module of the same architecture (its weights are
    replaced by the saved ones). ``batch_transform`` is handed to the learner for more steps.

    A model whose backbone is an import path (``package.module:factory``) is refused unless
    ``backbone`` gives a module of that architecture or ``trust_backbone=True`` allows
    importing the module the file names (which runs its code): loading a file never runs
    code the user did not ask for."""
    state = read_model(path)
    return from_state(
        state,
        device,
        str(path),
        backbone=backbone,
        batch_transform=batch_transform,
        trust_backbone=trust_backbone,
    )


def from_state(
    state: dict[str, Any],
    device: str | None = None,
    where: str = "the model",
    *,
    backbone: nn.Module | None = None,
    batch_transform: Callable[[Tensor], Tensor] | None = None,
    trust_backbone: bool = False,
) -> ICaRL:
    """The learner a model file's ``state`` describes (its method, config and learned state);
    ``backbone`` and ``trust_backbone`` as in :func:`load`."""
    saved = dict(state["config"])
    if device is None and str(saved.get("device", "")).startswith("cuda") and not torch.cuda.is_available():
        device = "cpu"
    if device is not None:
        saved["device"] = device
    try:
        cfg: LearnerConfig = from_table(LearnerConfig, saved, "config.")
        method = plugins.for_file(str(state.get("method", "icarl")), where)  # never imports
    except ConfigError as e:
        raise ModelFileError(f"{where} cannot be rebuilt by this icarl: {e}") from None
    spec = cfg.backbone
    if spec.startswith(OBJECT_PREFIX) and backbone is None:
        raise ModelFileError(
            f"{where} was trained with a backbone passed as an object ({spec[len(OBJECT_PREFIX) :]}); "
            "load it with icarl.load(path, backbone=<a module of the same architecture>)"
        )
    if backbone is None:  # before anything is built: a file's import path only with consent
        try:
            check_consent(spec, where, trust_backbone)
        except ConfigError as e:  # a malformed or standard-library spec: named with the file
            raise ModelFileError(f"{where}: {e}") from None
    try:  # the saved config is the method's resolved one: building through the method keeps it
        learner = method.create(cfg, backbone=backbone, batch_transform=batch_transform)
        return learner.load_state_dict(state)
    except IcarlError as e:
        raise ModelFileError(f"{where}: {e}") from None
    except (KeyError, RuntimeError, ValueError) as e:
        raise ModelFileError(f"{where} does not match this icarl version: {e}") from None


def name_run_steps(learner: ICaRL, names: dict[int, str], steps: list[dict[str, Any]], source: str) -> None:
    """After ``icarl run``: name the classes and copy each step's accuracy into the history."""
    set_class_names(learner, {c: names[c] for c in learner.classes_.tolist() if c in names})
    for entry, record in zip(learner.history_[-len(steps) :], steps, strict=True):
        entry["names"] = [names.get(c, str(c)) for c in entry["classes"]]
        entry["accuracy"] = {**record["accuracy"], "on": "test images of all classes seen so far"}
        entry["source"] = source
