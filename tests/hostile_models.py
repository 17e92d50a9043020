"""Model files and checkpoints that ask for far more memory or time than their size (issue 22,
finding 6), built from a real learner state: each is a few KB to a few hundred KB on disk.
Each variant maps a learner state to a hostile one; :func:`save` writes it, as a model file
or inside a checkpoint, and stores the largest record deflated for the ``deflated`` case."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

INFLATE_MIB = 32  # the deflated record: 32 MiB of zeros in about 32 KB
State = dict[str, Any]


def deflated(state: State) -> State:
    """A 32 MiB tensor, written with its record deflated by :func:`save` (torch.save never
    compresses; torch.load inflates such a record whole before it checks its size)."""
    return {**state, "padding": torch.zeros(INFLATE_MIB << 20, dtype=torch.uint8)}


def expanded(state: State, rows: int = 10**7) -> State:
    """An exemplar set that is a stride-0 view: ``rows`` images over one stored image."""
    sets = dict(state["memory"]["sets"])
    key = next(iter(sets))
    sets[key] = sets[key][:1].expand(rows, *sets[key].shape[1:])
    return {**state, "memory": {**state["memory"], "sets": sets}}


def self_nested(state: State) -> State:
    """A history list that contains itself."""
    history: list[Any] = list(state["history"])
    history.append(history)
    return {**state, "history": history}


def doubling(state: State, levels: int = 50) -> State:
    """A history entry holding a list of the same list twice, ``levels`` deep: 2**levels
    values for any code that walks it, a few hundred bytes on disk."""
    node: list[Any] = []
    for _ in range(levels):
        node = [node, node]
    return {**state, "history": [*state["history"], {"classes": [], "names": node}]}


def deep(state: State, levels: int = 200) -> State:
    """Dicts nested ``levels`` deep (torch.save itself recurses; :func:`deep_pickle` goes deeper)."""
    node: Any = {}
    for _ in range(levels):
        node = {"x": node}
    return {**state, "history": [*state["history"], node]}


def long_name(state: State, chars: int = 2 << 20) -> State:
    names = dict(state["class_names"])
    names[next(iter(names))] = "x" * chars
    return {**state, "class_names": names}


def many_outputs(state: State, outputs: int = 10**7) -> State:
    """A network head declared with ``outputs`` units (2.5 GB of float32 weights for a 64-d
    feature if believed)."""
    return {**state, "num_outputs": outputs}


def huge_images(state: State) -> State:
    return {**state, "image_shape": [3, 30_000, 30_000]}


def deep_pickle(path: Path, levels: int = 100_000) -> Path:
    """A torch archive whose pickle is ``levels`` nested lists (``]`` x N, then ``a`` x N-1):
    100 KB that no recursive walker survives."""
    buf = io.BytesIO()
    torch.save({}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    pkl = b"\x80\x02" + b"]" * levels + b"a" * (levels - 1) + b"."
    with zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            out.writestr(info.filename, pkl if info.filename.endswith("data.pkl") else src.read(info))
    return path


def save(obj: Any, path: Path, deflate: bool = False) -> Path:
    """``torch.save(obj, path)``; with ``deflate``, the largest record stored deflated."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    if not deflate:
        path.write_bytes(buf.getvalue())
        return path
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    biggest = max(src.infolist(), key=lambda i: i.file_size)
    with zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            kind = zipfile.ZIP_DEFLATED if info is biggest else zipfile.ZIP_STORED
            out.writestr(info.filename, src.read(info), compress_type=kind)
    return path


MODEL_CASES: dict[str, tuple[Callable[[State], State], str]] = {
    "deflated": (deflated, "is stored compressed"),
    "expanded": (expanded, "(an expanded view)"),
    "self_nested": (self_nested, "holds a container that contains itself"),
    "doubling": (doubling, "ICARL_MAX_ITEMS"),
    "deep": (deep, "ICARL_MAX_DEPTH"),
    "long_name": (long_name, "ICARL_MAX_STRING"),
    "many_outputs": (many_outputs, "ICARL_MAX_CLASSES"),
    "huge_images": (huge_images, "a model takes 1 to 4 channels and sides of 1 to 2048 pixels"),
}


def hostile_model(state: State, case: str, path: Path) -> Path:
    return save(MODEL_CASES[case][0](state), path, deflate=case == "deflated")


def hostile_checkpoint(ck: State, case: str, path: Path) -> Path:
    return save({**ck, "learner": MODEL_CASES[case][0](ck["learner"])}, path, deflate=case == "deflated")
