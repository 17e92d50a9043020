"""From a ``[data]`` configuration to a :class:`Dataset`: download, cache, load."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from ..config import ConfigError, DataConfig
from .cache import default_cache_dir
from .dataset import Dataset
from .download import download
from .packed import is_packed
from .sources import caches_by_default, load_dataset
from .streamload import STREAMABLE, choose_storage, memory_budget_default, open_stream
from .streamset import SourceDataset


def cache_dir_for(dc: DataConfig) -> Path | None:
    """``data.cache``: "auto" caches slow sources in the default folder, "off" never, else a folder
    (every file-based source is then cached there)."""
    if dc.cache == "off":
        return None
    if dc.cache == "auto":
        return default_cache_dir() if caches_by_default(dc.dataset) else None
    return Path(dc.cache).expanduser()


def data_path_for(dc: DataConfig) -> str | Path | None:
    """``data.path``, after fetching the files there first when ``data.download`` is set
    (default folder: ``<cache>/downloads/<dataset>``)."""
    if not dc.download:
        return dc.path
    folder = Path(dc.path) if dc.path else default_cache_dir() / "downloads" / dc.dataset
    if folder.is_file():
        folder = folder.parent
    return download(dc.dataset, folder)


def run_data(dc: DataConfig) -> tuple[Dataset | SourceDataset, str]:
    """The run's data in the storage ``data.storage`` asks for, and a sentence saying which
    path was taken and why."""
    if dc.storage not in ("memory", "stream", "auto"):
        raise ConfigError(f"data.storage is {dc.storage!r}; choose one of memory, stream, auto")
    if dc.dataset not in STREAMABLE:
        if dc.storage == "stream":
            raise ConfigError(
                f"data.storage = 'stream' reads {', '.join(STREAMABLE)}; {dc.dataset} is loaded "
                "into memory: set data.storage = 'memory' or 'auto'"
            )
        return dataset_from_config(dc), "storage: memory (this source is always decoded into memory)"
    if dc.storage == "memory":
        return dataset_from_config(dc), "storage: memory (data.storage = 'memory')"
    if dc.storage == "auto" and dc.dataset == "npz" and _plain_npz(data_path_for(dc)):
        why = "auto: numpy reads a plain npz whole; pack it (icarl.tools.pack) to stream it"
        return dataset_from_config(dc), f"storage: memory ({why})"
    train, test = open_stream(dc.dataset, data_path_for(dc), image_size=dc.image_size or None)
    budget = int(dc.memory_budget * 2**30) if dc.memory_budget > 0 else memory_budget_default()
    storage, why = choose_storage(dc.storage, train.decoded_nbytes + test.decoded_nbytes, budget)
    if storage == "memory":
        return dataset_from_config(dc), f"storage: memory ({why})"
    return SourceDataset.of(train, test), f"storage: stream ({why})"


def _plain_npz(path: str | Path | None) -> bool:
    """Whether ``path`` is an npz of plain arrays (not JPEG-packed): those are read whole.
    False when it cannot be read (the loader then says why)."""
    try:
        with zipfile.ZipFile(Path(path or "")) as z:
            return not is_packed([n.removesuffix(".npy") for n in z.namelist()])
    except (OSError, zipfile.BadZipFile):
        return False


def dataset_from_config(dc: DataConfig) -> Dataset:
    if dc.dataset == "digits" and dc.image_size not in (0, 8):
        raise ConfigError(
            f"data.image_size (--image-size) is {dc.image_size}, but digits has fixed 8x8 images "
            "and cannot be resized; drop --image-size"
        )
    options: dict[str, Any] = {}
    if dc.image_size:
        options["image_size"] = dc.image_size
    if dc.checksum != "published":
        options["checksum"] = dc.checksum
    return load_dataset(dc.dataset, data_path_for(dc), cache=cache_dir_for(dc), **options)
