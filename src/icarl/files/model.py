"""The model file: one ``torch.save`` archive of tensors and plain containers, read back
with ``torch.load(weights_only=True)`` only.

It holds what a learner's ``state_dict()`` returns (method, configuration, network,
exemplar memory, class means, class names, preprocessing, history of steps), plus the
versions that wrote it and the time it was saved. Turning a file back into a learner
of the right method is :func:`icarl.deploy.model.load`.
"""

from __future__ import annotations

import io
import pickle
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from ..errors import IcarlError
from ..version import versions
from .atomic import atomic_write
from .layout import StateLayoutError, check_learner_state
from .plain import PlainFileError, load_torch, open_regular


class ModelFileError(IcarlError):
    """A model file that cannot be read."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_model(path: str | Path, state: dict[str, Any]) -> Path:
    """Write a learner's ``state`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    buf = io.BytesIO()
    shape = state.get("image_shape")
    preprocessing = {
        "image_shape": shape,
        "channels": shape[0] if shape else None,
        "input": "uint8 0..255, scaled to [0, 1]",
        "normalize": state.get("config", {}).get("normalize"),
    }
    torch.save({**state, "preprocessing": preprocessing, "versions": versions(), "saved_at": utc_now()}, buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buf.getvalue(), then="save again")
    return path


def read_model(path: str | Path) -> dict[str, Any]:
    """A model file's state, read within the bounds of :mod:`icarl.files.plain` (a special file,
    a compressed member, an expanded tensor or a self-nested structure is refused)."""
    path = Path(path)
    fix = "pass a file written by learner.save or icarl run --save"
    try:
        f, _ = open_regular(path, "model file", fix)
        with f:
            magic = f.read(4)
        if magic != b"PK\x03\x04":  # torch.save writes a zip archive
            raise ModelFileError(f"{path} is not an icarl model file (not a torch archive); {fix}")
        state = load_torch(path, "model file", fix)
    except PlainFileError as e:
        raise ModelFileError(str(e)) from None
    except pickle.UnpicklingError:
        raise ModelFileError(
            f"{path} holds objects other than tensors and plain containers, which icarl refuses "
            f"to unpickle; {fix}"
        ) from None
    except ModelFileError:
        raise
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(f"{path} is damaged or not an icarl model ({first[:120]}); {fix}") from None
    if not isinstance(state, dict) or "format_version" not in state:
        raise ModelFileError(f"{path} is not an icarl model file; pass a file written by learner.save")
    try:
        check_learner_state(state, str(path))
    except StateLayoutError as e:
        raise ModelFileError(f"{e}; {fix}") from None
    return state


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
        "method": state.get("method", "icarl"),
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
        "inference_only": bool(state.get("inference_only", False)),
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
