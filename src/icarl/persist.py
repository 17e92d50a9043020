"""Save and load learners as one file, read back with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .config import LearnerConfig, _build
from .errors import IcarlError
from .icarl import ICaRL, learner_state, restore_learner


class ModelFileError(IcarlError):
    """A model file that cannot be read."""


def save(learner: ICaRL, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write ``learner`` to ``path`` atomically (temporary file, fsync, rename)."""
    from .runner import versions

    path = Path(path)
    state = learner_state(learner)
    state["versions"] = versions()
    if extra:
        state["extra"] = extra
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read_state(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist; check the path")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(
            f"{path} is not a readable icarl model ({first[:120]}); pass a file written by "
            "learner.save or icarl run --save"
        ) from None
    if not isinstance(state, dict) or "format_version" not in state:
        raise ModelFileError(f"{path} is not an icarl model file; pass a file written by learner.save")
    return state


def load(path: str | Path, device: str | None = None) -> ICaRL:
    """Load a learner saved by :meth:`ICaRL.save` / :func:`save`."""
    state = read_state(path)
    cfg: LearnerConfig = _build(LearnerConfig, state["config"], "config.")
    if device is not None:
        cfg = _build(LearnerConfig, {**state["config"], "device": device}, "config.")
    try:
        return restore_learner(ICaRL(config=cfg), state)
    except (KeyError, RuntimeError, ValueError) as e:
        raise ModelFileError(f"{path} does not match this icarl version: {e}") from None
