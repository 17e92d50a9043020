"""A model file back as a learner of the method that wrote it, and the names and accuracies
``icarl run --save`` writes into a model's history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .. import methods
from ..algorithm import ICaRL
from ..config import ConfigError, LearnerConfig, from_table
from ..files.model import ModelFileError, read_model
from .learn import set_class_names


def load(path: str | Path, device: str | None = None) -> ICaRL:
    """Load a learner saved by :meth:`ICaRL.save`, as the method that saved it.

    ``device`` overrides the saved setting; without it, a model saved with a CUDA
    device loads on the CPU where CUDA is not available."""
    state = read_model(path)
    return from_state(state, device, str(path))


def from_state(state: dict[str, Any], device: str | None = None, where: str = "the model") -> ICaRL:
    """The learner a model file's ``state`` describes (its method, config and learned state)."""
    saved = dict(state["config"])
    if device is None and str(saved.get("device", "")).startswith("cuda") and not torch.cuda.is_available():
        device = "cpu"
    if device is not None:
        saved["device"] = device
    try:
        cfg: LearnerConfig = from_table(LearnerConfig, saved, "config.")
        method = methods.get(str(state.get("method", "icarl")))
    except ConfigError as e:
        raise ModelFileError(f"{where} cannot be rebuilt by this icarl: {e}") from None
    learner = method.learner(config=cfg)  # the saved config is already the method's resolved one
    learner.method = method.name
    try:
        return learner.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError) as e:
        raise ModelFileError(f"{where} does not match this icarl version: {e}") from None


def name_run_steps(learner: ICaRL, names: dict[int, str], steps: list[dict[str, Any]], source: str) -> None:
    """After ``icarl run``: name the classes and copy each step's accuracy into the history."""
    set_class_names(learner, {c: names[c] for c in learner.classes_ if c in names})
    for entry, record in zip(learner.history_[-len(steps) :], steps, strict=True):
        entry["names"] = [names.get(c, str(c)) for c in entry["classes"]]
        entry["accuracy"] = {**record["accuracy"], "on": "test images of all classes seen so far"}
        entry["source"] = source
