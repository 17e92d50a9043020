"""A cache of decoded datasets, so a second run does not decode the images again.

An entry is keyed by the source's content (the sha256 of an archive's bytes, or
of a folder's file list with sizes and modification times), the dataset name and
the loader options. It is one uncompressed ``.npz`` read with ``allow_pickle=False``,
written to a temporary file and renamed into place. Deleting the folder (or any
entry) is always safe: a missing or unreadable entry is rebuilt.

Folder: ``$ICARL_CACHE`` if set, else ``~/.cache/icarl``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import distributed
from ..files.atomic import atomic_write
from .dataset import Dataset
from .source import TensorSource

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    env = os.environ.get("ICARL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "icarl"


def fingerprint(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's relative paths, sizes and mtimes."""
    h = hashlib.sha256()
    if path.is_file():
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        return "file:" + h.hexdigest()
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            st = full.lstat()
            h.update(f"{full.relative_to(path).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return "dir:" + h.hexdigest()


def cache_key(name: str, path: Path, options: dict[str, Any]) -> str:
    blob = json.dumps(
        {"v": CACHE_VERSION, "name": name, "source": fingerprint(path), "options": options},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def entry_path(cache_dir: Path, name: str, key: str) -> Path:
    return cache_dir / f"{name}-{key}.npz"


def read_entry(path: Path) -> Dataset[TensorSource] | None:
    """The cached dataset, or None when the entry is missing or unreadable (then rebuilt)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        return Dataset(
            str(arrays["name"]),
            TensorSource(torch.from_numpy(arrays["x_train"]), torch.from_numpy(arrays["y_train"])),
            TensorSource(torch.from_numpy(arrays["x_test"]), torch.from_numpy(arrays["y_test"])),
            tuple(str(n) for n in arrays["class_names"].tolist()),
        )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        warnings.warn(f"ignoring unreadable cache entry {path} ({e}); decoding again", stacklevel=2)
        return None


def write_entry(path: Path, data: Dataset[TensorSource]) -> None:
    """Atomically write ``data`` to ``path`` (a temporary file in the same folder, then rename)."""
    buf = io.BytesIO()
    np.savez(
        buf,
        name=np.array(data.name),
        x_train=data.train.x.numpy(),
        y_train=data.train.y.numpy(),
        x_test=data.test.x.numpy(),
        y_test=data.test.y.numpy(),
        class_names=np.array(list(data.class_names), dtype=str),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buf.getvalue(), then="delete the cache folder or pass --cache off")


def cached_load(
    loader: Callable[..., Dataset[TensorSource]],
    name: str,
    path: Path,
    cache_dir: Path,
    options: dict[str, Any],
) -> Dataset[TensorSource]:
    """``loader(path, **options)``, through the cache in ``cache_dir``."""
    if not path.exists():  # let the loader raise its own clear error
        return loader(path, **options)
    entry = entry_path(cache_dir, name, cache_key(name, path, options))
    cached = read_entry(entry)
    if cached is not None:
        return cached
    data = loader(path, **options).validate()
    if not distributed.is_main():  # torchrun: rank 0 alone writes the entry
        return data
    try:
        write_entry(entry, data)
    except OSError as e:
        warnings.warn(f"cannot write cache entry {entry} ({e.strerror}); continuing without", stacklevel=2)
    return data
