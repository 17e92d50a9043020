"""Bounded reading of the torch files icarl loads: model files, checkpoints, initial weights.

``torch.load(weights_only=True)`` runs no code, but a small file can still ask for a lot of
memory or time, and every such request is refused here before anything uses the state:

- a special file (a FIFO blocks, ``/dev/zero`` never ends): refused by type, ``stat`` first,
  then the file is opened non-blocking and checked again on its descriptor;
- a file above ``ICARL_MAX_BYTES``;
- a member of the zip archive stored compressed: ``torch.save`` never compresses, and
  ``torch.load`` inflates such a member whole before it checks its size (a 1 MB file took
  1.35 GB); refused before ``torch.load``, as is a member declared larger than the file;
- a tensor that is an expanded view of a small storage (stride 0, overlapping strides): free
  when loaded, gigabytes once copied;
- containers shared by reference (a list holding the same list twice, forty levels deep) or
  holding themselves: cheap to unpickle, exponential or endless for any code that walks
  them. The size each container expands to is computed once per distinct container
  (memoised), so the check itself stays linear in the file; a container reachable from
  itself, nesting deeper than ``ICARL_MAX_DEPTH``, more than ``ICARL_MAX_ITEMS`` values
  (shared ones counted at every use), a string longer than ``ICARL_MAX_STRING`` or tensors
  whose expanded bytes exceed the file's size by more than ``ICARL_MAX_RATIO`` are refused.

Errors of a damaged file (``zipfile.BadZipFile``, torch's ``RuntimeError``,
``pickle.UnpicklingError``) pass through, for the caller's message.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import torch
from torch import Tensor

from ..errors import IcarlError
from .limits import limit, ratio_exceeded, refusal

KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


class PlainFileError(IcarlError):
    """A file refused before or right after loading: what it asks for is out of bounds."""


def file_kind(mode: int) -> str:
    return KINDS.get(stat.S_IFMT(mode), "not a regular file")


def check_regular(path: str | Path, what: str, fix: str) -> int:
    """``path`` is an existing regular file within ``ICARL_MAX_BYTES``; its size. By ``stat``,
    before anything opens it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise PlainFileError(f"{what} {path} does not exist; check the path") from None
    if not stat.S_ISREG(st.st_mode):
        raise PlainFileError(f"{what} {path} is {file_kind(st.st_mode)}, not a file; refused ({fix})")
    if st.st_size > limit("ICARL_MAX_BYTES"):
        raise PlainFileError(refusal(f"{what} {path}", f"{st.st_size} bytes", "ICARL_MAX_BYTES"))
    return st.st_size


def open_regular(path: str | Path, what: str, fix: str) -> tuple[IO[bytes], int]:
    """``path`` opened for reading after :func:`check_regular`; non-blocking, and checked
    again on the descriptor (a file swapped for a FIFO meanwhile is refused, not waited on)."""
    check_regular(path, what, fix)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise PlainFileError(f"{what} {path} is {file_kind(st.st_mode)}, not a file; refused ({fix})")
    return os.fdopen(fd, "rb"), st.st_size


def _check_members(f: IO[bytes], size: int, where: str) -> None:
    """Every member stored uncompressed (as ``torch.save`` writes) and within the file."""
    with zipfile.ZipFile(f) as z:
        infos = z.infolist()
        if len(infos) > limit("ICARL_MAX_MEMBERS"):
            raise PlainFileError(refusal(where, f"{len(infos)} members", "ICARL_MAX_MEMBERS"))
        for info in infos:
            if info.compress_type != zipfile.ZIP_STORED:
                raise PlainFileError(
                    f"{where}: member {info.filename!r} is stored compressed, which torch.save never "
                    f"writes and torch.load would inflate whole ({info.file_size} bytes); refused"
                )
            if info.file_size > size:
                raise PlainFileError(
                    f"{where}: member {info.filename!r} declares {info.file_size} bytes in a file of "
                    f"{size}; the file is damaged"
                )


def load_torch(path: str | Path, what: str, fix: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU within the bounds above; ``what``
    names the file in messages ("model file"), ``fix`` says what to do about a refusal."""
    f, size = open_regular(path, what, fix)
    where = f"{what} {path}"
    with f:
        _check_members(f, size, where)
        f.seek(0)
        obj = torch.load(f, map_location="cpu", weights_only=True)
    check_plain(obj, where, size)
    return obj


# ------------------------------------------------------------------ the loaded structure
CONTAINERS = (dict, list, tuple, set, frozenset)


def _children(x: Any) -> Iterable[Any]:
    return [*x.keys(), *x.values()] if isinstance(x, dict) else x


def _tensor_bytes(t: Tensor, where: str) -> int:
    if t.layout != torch.strided:
        raise PlainFileError(f"{where} holds a {t.layout} tensor; only dense tensors are read")
    n = t.numel() * t.element_size()
    if n > t.untyped_storage().nbytes():
        raise PlainFileError(
            f"{where} holds a tensor of shape {tuple(t.shape)} ({n} bytes) viewing a storage of "
            f"{t.untyped_storage().nbytes()} bytes (an expanded view); refused, it would take {n} "
            "bytes once copied"
        )
    return n


class _Walk:
    """The expanded size of a loaded structure, each distinct container visited once."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.items, self.depth = limit("ICARL_MAX_ITEMS"), limit("ICARL_MAX_DEPTH")
        self.chars = limit("ICARL_MAX_STRING")
        self.done: dict[int, tuple[int, int, int]] = {}  # id -> (values, depth, tensor bytes)

    def leaf(self, x: Any) -> tuple[int, int, int]:
        if isinstance(x, str | bytes | bytearray):
            if len(x) > self.chars:
                what = f"a string of {len(x)} characters"
                raise PlainFileError(refusal(self.where, what, "ICARL_MAX_STRING"))
            return 1 + len(x) // 64, 0, 0
        if isinstance(x, Tensor):
            return 1, 0, _tensor_bytes(x, self.where)
        return 1, 0, 0

    def sizes(self, x: Any) -> tuple[int, int, int]:
        return self.done[id(x)] if isinstance(x, CONTAINERS) else self.leaf(x)

    def run(self, root: Any) -> tuple[int, int, int]:
        active: set[int] = set()  # the containers on the path being walked
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            x, leaving = stack.pop()
            if not isinstance(x, CONTAINERS) or (not leaving and id(x) in self.done):
                continue
            if leaving:
                self.finish(x, _children(x))
                active.discard(id(x))
                continue
            if id(x) in active:
                raise PlainFileError(
                    f"{self.where} holds a container that contains itself; refused (not written by icarl)"
                )
            if len(active) >= self.depth:
                what = f"containers nested more than {self.depth} deep"
                raise PlainFileError(refusal(self.where, what, "ICARL_MAX_DEPTH"))
            active.add(id(x))
            stack.append((x, True))
            stack.extend((k, False) for k in _children(x) if isinstance(k, CONTAINERS))
        return self.sizes(root)

    def finish(self, x: Any, kids: Iterable[Any]) -> None:
        values, depth, nbytes = 1, 0, 0
        for k in kids:
            v, d, b = self.sizes(k)
            values, depth, nbytes = values + v, max(depth, d), nbytes + b
        if values > self.items:
            what = f"more than {self.items} values (shared ones counted at each use)"
            raise PlainFileError(refusal(self.where, what, "ICARL_MAX_ITEMS"))
        self.done[id(x)] = (values, depth + 1, nbytes)


def check_plain(obj: Any, where: str, file_size: int) -> None:
    """The bounds of the module docstring on a structure loaded from a file of ``file_size``
    bytes (``where`` names it in messages)."""
    _, _, nbytes = _Walk(where).run(obj)
    if ratio_exceeded(nbytes, file_size):
        what = f"tensors of {nbytes} bytes from {file_size} (shared storages)"
        raise PlainFileError(refusal(where, what, "ICARL_MAX_RATIO"))
