"""The expected structure of a learner's state (model files and checkpoints), checked at load.

A file read with ``torch.load(weights_only=True)`` holds only tensors and plain containers,
but not necessarily the ones icarl wrote: a key may be missing or hold a value of another
type. :func:`check_learner_state` finds that at load, so the error is one line naming the
file and the key, instead of a ``KeyError`` or ``TypeError`` deep in the loading code.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..config import MAX_IMAGE_SIDE
from ..errors import IcarlError
from .limits import limit, refusal

# key -> the types its value may have (None: the key may hold None)
LEARNER_KEYS: dict[str, tuple[type | None, ...]] = {
    "format_version": (int,),
    "config": (dict,),
    "classes": (list, tuple),
    "class_names": (dict,),
    "image_shape": (list, tuple, None),
    "num_outputs": (int,),
    "net": (dict, None),
    "memory": (dict,),
    "means": (Tensor, None),
    "pixel_mean": (Tensor, None),
    "rng": (Tensor, None),
    "history": (list,),
}


class StateLayoutError(IcarlError):
    """A file that loads safely but does not hold what icarl wrote."""


def _type_names(types: tuple[type | None, ...]) -> str:
    return " or ".join("None" if t is None else t.__name__ for t in types)


def check_keys(state: Any, keys: dict[str, tuple[type | None, ...]], where: str, prefix: str = "") -> None:
    """Every key of ``keys`` present in the dict ``state`` with a value of an allowed type."""
    if not isinstance(state, dict):
        raise StateLayoutError(f"{where}: {prefix or 'the file'} holds {type(state).__name__}, not a dict")
    for key, types in keys.items():
        if key not in state:
            raise StateLayoutError(f"{where} lacks the key '{prefix}{key}'; it was not written by icarl")
        value = state[key]
        ok = (value is None and None in types) or any(
            t is not None and isinstance(value, t) and not (t is int and isinstance(value, bool))
            for t in types
        )
        if not ok:
            raise StateLayoutError(
                f"{where}: {prefix}{key} holds {type(value).__name__}, expected {_type_names(types)}; "
                "the file was not written by icarl or is damaged"
            )


def _all(items: Any, kind: type, what: str, where: str) -> None:
    bad = [type(v).__name__ for v in items if not isinstance(v, kind) or isinstance(v, bool)]
    if bad:
        raise StateLayoutError(
            f"{where}: {what} holds {bad[0]}, expected {kind.__name__}; the file is damaged"
        )


def check_learner_state(state: Any, where: str) -> None:
    """One-line :class:`StateLayoutError` unless ``state`` has the layout of a learner's
    ``state_dict()`` (keys, types, and the types inside its containers)."""
    check_keys(state, LEARNER_KEYS, where)
    _all(state["classes"], int, "classes", where)
    shape = state["image_shape"]
    if shape is not None:
        _all(shape, int, "image_shape", where)
        if len(shape) != 3:
            raise StateLayoutError(f"{where}: image_shape is {list(shape)}, expected (C, H, W)")
        c, h, w = shape
        if not (1 <= c <= 4 and 1 <= h <= MAX_IMAGE_SIDE and 1 <= w <= MAX_IMAGE_SIDE):
            raise StateLayoutError(
                f"{where}: image_shape is {list(shape)}; a model takes 1 to 4 channels and sides of 1 "
                f"to {MAX_IMAGE_SIDE} pixels (the file is damaged or not written by icarl)"
            )
    n = max(len(state["classes"]), len(state["class_names"]), state["num_outputs"])
    if state["num_outputs"] < 0 or n > limit("ICARL_MAX_CLASSES"):
        raise StateLayoutError(refusal(where, f"{n} classes or outputs", "ICARL_MAX_CLASSES"))
    if shape is not None and state["net"] is None:
        raise StateLayoutError(f"{where}: the network is missing (net is None); the file is damaged")
    _all((state["net"] or {}).values(), Tensor, "net", where)
    check_keys(state["memory"], {"memory_size": (int,), "sets": (dict,)}, where, "memory.")
    _all(state["memory"]["sets"].values(), Tensor, "memory.sets", where)
    _all(state["history"], dict, "history", where)
