"""Save and load learners as one file, read back with ``torch.load(weights_only=True)``.

A model file is a dict of tensors and plain containers: the network, the exemplar
memory and class means (``learner_state``), class names (label -> name),
preprocessing (image shape, channels, pixel mean), the configuration, the history
of steps (classes and names added, UTC time, accuracy where known, source), the
versions that wrote it and the time it was saved.
"""

from __future__ import annotations

import io
import pickle
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_write
from .config import LearnerConfig, _build
from .errors import IcarlError
from .icarl import ICaRL, learner_state, restore_learner


class ModelFileError(IcarlError):
    """A model file that cannot be read."""


def save(learner: ICaRL, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write ``learner`` to ``path`` atomically (temporary file, fsync, rename)."""
    from .deploy import class_names
    from .runner import versions

    path = Path(path)
    state = learner_state(learner)
    state["class_names"] = class_names(learner)
    state["preprocessing"] = preprocessing(learner)
    state["versions"] = versions()
    state["saved_at"] = utc_now()
    if extra:
        state["extra"] = extra
    buf = io.BytesIO()
    torch.save(state, buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buf.getvalue(), then="save again")
    return path


def read_state(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist; check the path")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":  # torch.save writes a zip archive
        raise ModelFileError(
            f"{path} is not an icarl model file (not a torch archive); pass a file written by "
            "learner.save or icarl run --save"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ModelFileError(
            f"{path} holds objects other than tensors and plain containers, which icarl refuses "
            "to unpickle; pass a file written by learner.save or icarl run --save"
        ) from None
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(
            f"{path} is damaged or not an icarl model ({first[:120]}); pass a file written by "
            "learner.save or icarl run --save"
        ) from None
    if not isinstance(state, dict) or "format_version" not in state:
        raise ModelFileError(f"{path} is not an icarl model file; pass a file written by learner.save")
    return state


def load(path: str | Path, device: str | None = None) -> ICaRL:
    """Load a learner saved by :meth:`ICaRL.save` / :func:`save`.

    ``device`` overrides the saved setting; without it, a model saved with a CUDA
    device loads on the CPU where CUDA is not available."""
    state = read_state(path)
    cfg: LearnerConfig = _build(LearnerConfig, state["config"], "config.")
    if device is None and cfg.device.startswith("cuda") and not torch.cuda.is_available():
        device = "cpu"
    if device is not None:
        cfg = _build(LearnerConfig, {**state["config"], "device": device}, "config.")
    try:
        return restore_learner(ICaRL(config=cfg), state)
    except (KeyError, RuntimeError, ValueError) as e:
        raise ModelFileError(f"{path} does not match this icarl version: {e}") from None


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def preprocessing(learner: ICaRL) -> dict[str, Any]:
    """How images must look before the network sees them (informational; the
    tensors that apply it are ``pixel_mean`` and ``image_shape`` in the state)."""
    shape = list(learner.image_shape_) if learner.image_shape_ else None
    return {
        "image_shape": shape,
        "channels": shape[0] if shape else None,
        "input": "uint8 0..255, scaled to [0, 1]",
        "normalize": learner.config.normalize,
        "pixel_mean_shape": list(learner.pixel_mean_.shape) if learner.pixel_mean_ is not None else None,
    }


def finish_run(learner: ICaRL, names: dict[int, str], steps: list[dict[str, Any]], source: str) -> None:
    """After ``icarl run``: name the classes and copy each step's accuracy into the history."""
    from .deploy import set_class_names

    set_class_names(learner, {c: names[c] for c in learner.classes_ if c in names})
    for entry, record in zip(learner.history_[-len(steps) :], steps, strict=True):
        entry["names"] = [names.get(c, str(c)) for c in entry["classes"]]
        entry["accuracy"] = {**record["accuracy"], "on": "test images of all classes seen so far"}
        entry["source"] = source


def summary(state: dict[str, Any], path: str | Path | None = None) -> dict[str, Any]:
    """What ``icarl info`` shows, from a state read by :func:`read_state`."""
    memory = state["memory"]["sets"]
    classes = [int(c) for c in state["classes"]]
    names = {int(k): str(v) for k, v in state["class_names"].items()}
    net_bytes = sum(t.numel() * t.element_size() for t in (state["net"] or {}).values())
    ex_bytes = sum(t.numel() * t.element_size() for t in memory.values())
    return {
        "file": str(path) if path is not None else None,
        "file_bytes": Path(path).stat().st_size if path is not None else None,
        "kind": state.get("kind"),
        "format_version": state.get("format_version"),
        "classes": [
            {
                "label": c,
                "name": names.get(c, str(c)),
                "exemplars": int(memory[str(i)].shape[0]) if str(i) in memory else 0,
            }
            for i, c in enumerate(classes)
        ],
        "memory": {
            "K": int(state["memory"]["memory_size"]),
            "exemplars": sum(int(t.shape[0]) for t in memory.values()),
            "exemplar_bytes": ex_bytes,
            "network_bytes": net_bytes,
        },
        "preprocessing": state.get("preprocessing", {"image_shape": state.get("image_shape")}),
        "config": state["config"],
        "steps": state["history"],
        "versions": state.get("versions", {}),
        "saved_at": state.get("saved_at"),
    }
