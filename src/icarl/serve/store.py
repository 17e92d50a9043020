"""The serving folder: every version of the served model, and which one is current.

::

    STORE/
      current.json        {"version": N, ...}: the version served; replaced atomically
      versions/v1.icarl   the model served first (a byte copy of MODEL)
      versions/v2.icarl   written by the learn job that made version 2, ...
      .lock               held by the serving process (a second server is refused)

A learn job writes ``versions/vN.icarl`` through the atomic writer (a temporary file, fsync,
rename), and only then is ``current.json`` replaced, atomically too. So whenever the server
stops, however it stops (kill -9 included), ``current.json`` names a complete file: a
restart serves the last version that was published. What a stop can leave is a temporary
file of a write in flight (removed at the next start, which says so) or a complete version
file that was never published (kept and named at the start, never served, never reused: the
next version takes a higher number).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import IcarlError
from ..files.atomic import atomic_write, temp_path
from ..files.model import read_model

POINTER = "current.json"
VERSIONS = "versions"
VERSION_FILE = re.compile(r"^v([1-9][0-9]{0,8})\.icarl$")
MAX_POINTER_BYTES = 1 << 16


class StoreError(IcarlError):
    """A serving folder that cannot be used as it is."""


def default_store(model: Path) -> Path:
    """``digits.icarl`` -> ``digits.served`` beside it."""
    return model.with_name(f"{model.stem}.served")


def is_store(path: Path) -> bool:
    return path.is_dir() and (path / POINTER).is_file()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Opened:
    """What opening a store found: the current version and what a stop left behind."""

    version: int
    removed: list[str]  # temporary files of interrupted writes, removed
    unpublished: list[int]  # complete version files above the current one, never served


class Store:
    """One serving folder (see the module docstring). Not thread-safe on its own: the server
    publishes from one place at a time (one learn job)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.versions = root / VERSIONS

    def file(self, version: int) -> Path:
        return self.versions / f"v{version}.icarl"

    def existing(self) -> list[int]:
        """The versions with a complete file, ascending."""
        if not self.versions.is_dir():
            return []
        found = (VERSION_FILE.match(p.name) for p in self.versions.iterdir() if p.is_file())
        return sorted(int(m.group(1)) for m in found if m)

    def next_version(self) -> int:
        """A number no file has held: one above every version file there is."""
        return max(self.existing(), default=0) + 1

    # ------------------------------------------------------------------ pointer
    def current(self) -> int:
        """The version ``current.json`` names (its file checked to exist)."""
        path = self.root / POINTER
        if path.is_symlink() or (path.is_file() and path.stat().st_size > MAX_POINTER_BYTES):
            raise StoreError(f"{path} is a link or too large; it was not written by icarl serve")
        try:
            doc = json.loads(path.read_text())
            version = int(doc["version"])
        except (OSError, ValueError, KeyError, TypeError):
            raise StoreError(
                f'{path} is damaged; write {{"version": N}} naming a file of {self.versions}'
            ) from None
        if version < 1 or not self.file(version).is_file():
            raise StoreError(f"{path} names version {version}, whose file {self.file(version)} is missing")
        return version

    def pointer(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.root / POINTER).read_text())
        return doc

    def publish(self, version: int, **about: Any) -> None:
        """Make ``version`` (its file complete) the current one, atomically."""
        doc = {"version": version, "file": f"{VERSIONS}/{self.file(version).name}", "published_at": utc_now()}
        doc.update(about)
        atomic_write(self.root / POINTER, (json.dumps(doc, indent=2) + "\n").encode(), then="learn again")

    # --------------------------------------------------------------- opening
    def create(self, model: Path) -> None:
        """A new store serving ``model`` (checked to be a model file) as version 1."""
        read_model(model)  # one-line ModelFileError for anything that is not a model file
        if [v for v in self.existing() if v != 1]:  # v1 alone: a first start that was interrupted
            raise StoreError(
                f"{self.root} holds versions {self.existing()} but no {POINTER}; write "
                f'{{"version": N}} into {self.root / POINTER} to serve one, or choose another --store'
            )
        self.versions.mkdir(parents=True, exist_ok=True)
        atomic_write(self.file(1), model.read_bytes(), then="start icarl serve again")
        self.publish(1, source=str(model), source_sha256=sha256(model))

    def check_source(self, model: Path) -> None:
        """Refuse to serve a store made from another model than ``model``."""
        recorded = self.pointer().get("source_sha256")
        if recorded and recorded != sha256(model):
            raise StoreError(
                f"{self.root} serves versions learned from another model than {model}; "
                f"serve the folder itself (icarl serve {self.root}) or choose another --store"
            )

    def open(self) -> Opened:
        """Clean what an interrupted write left, and find the version to serve. Call with the
        store's lock held (no other process writes here)."""
        removed = [str(p.relative_to(self.root)) for p in self._stale_temporaries()]
        for p in self._stale_temporaries():
            p.unlink()
        version = self.current()
        return Opened(version, removed, [v for v in self.existing() if v > version])

    def _stale_temporaries(self) -> list[Path]:
        """The atomic writer's temporary files (``temp_path`` of a name) in the store."""
        found = []
        for folder in (self.root, self.versions):
            if not folder.is_dir():
                continue
            for p in folder.iterdir():
                target = folder / p.name[1:-4] if p.name.startswith(".") and p.name.endswith(".tmp") else None
                if target is not None and temp_path(target) == p and not p.is_dir():
                    found.append(p)
        return sorted(found)
