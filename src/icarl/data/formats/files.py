"""One view over an archive or a folder: relative POSIX names and their bytes.

Loaders that accept "the official archive or its extracted folder" read through
:func:`open_tree`, so both paths share one parser. Archives go through
:class:`icarl.safeio.SafeArchive` (no extraction; unsafe members refused).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol

from ...errors import DataError, IcarlError
from ...files.safeio import SafeArchive
from .guards import read_confined, refuse_link


class FileTree(Protocol):
    def names(self) -> list[str]: ...

    def read(self, name: str) -> bytes: ...

    def close(self) -> None: ...


class FolderTree:
    """The regular files under a folder: a symbolic link in it is refused (as an archive's
    links are), and so is a name with ``..`` or an absolute path
    (:func:`~icarl.data.formats.guards.read_confined`)."""

    def __init__(self, root: Path) -> None:
        self.path = root
        self._names: list[str] | None = None

    def names(self) -> list[str]:
        if self._names is None:
            found: list[str] = []
            for dirpath, dirnames, filenames in os.walk(self.path):
                dirnames.sort()
                rel = Path(dirpath).relative_to(self.path)
                for d in dirnames:
                    refuse_link(Path(dirpath) / d)
                for f in sorted(filenames):
                    full = Path(dirpath) / f
                    refuse_link(full)
                    if full.is_file():
                        found.append((rel / f).as_posix())
            self._names = found
        return self._names

    def read(self, name: str) -> bytes:
        """The bytes of ``name``, a path inside the folder: ``..``, absolute paths and links refused."""
        return read_confined(self.path, name, f"a file name under {self.path}")

    def close(self) -> None:
        pass


def open_tree(path: str | Path, what: str) -> FileTree:
    """A :class:`FileTree` for an archive file or a folder; ``what`` names the dataset for errors."""
    p = Path(path)
    if p.is_dir():
        return FolderTree(p)
    if not p.exists():
        raise DataError(f"{what} data path {p} does not exist; pass the archive or its extracted folder")
    try:
        return SafeArchive(p)
    except IcarlError as e:
        raise DataError(str(e)) from None


def find_root(tree: FileTree, marker: str, what: str) -> str:
    """The prefix (``""`` or ``"dir/"``) of the shallowest folder holding ``marker``."""
    hits = [n[: -len(marker)] for n in tree.names() if n == marker or n.endswith("/" + marker)]
    if not hits:
        raise DataError(
            f"no {marker} found in {getattr(tree, 'path', '?')}; is it the {what} archive or folder?"
        )
    return min(hits, key=lambda h: (h.count("/"), h))


def file_digest(path: Path, algorithm: str = "md5") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
