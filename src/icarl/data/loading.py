"""From a ``[data]`` configuration to a :class:`Dataset`: download, cache, and the storage
choice (decode into memory, or read from the files in batches)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import ConfigError, DataConfig
from ..errors import DataError
from .cache import default_cache_dir
from .dataset import Dataset
from .formats.download import download
from .registry import ReadWhole, caches_by_default, format_of, load_dataset, open_dataset, openable
from .source import ImageSource, TensorSource


def cache_dir_for(dc: DataConfig) -> Path | None:
    """``data.cache``: "auto" caches slow formats in the default folder, "off" never, else a folder
    (every file-based format is then cached there)."""
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


def run_data(dc: DataConfig) -> tuple[Dataset[ImageSource], str]:
    """The run's data in the storage ``data.storage`` asks for, and a sentence saying which
    path was taken and why. "stream" reads the files in batches (the format must be able to
    open them); "auto" does so when the decoded images would exceed ``data.memory_budget``."""
    # data.storage's value is checked with the rest of the configuration (DataConfig.check)
    if format_of(dc.dataset).open is None:
        if dc.storage == "stream":
            raise ConfigError(
                f"data.storage = 'stream' reads {', '.join(openable())}; {dc.dataset} is loaded "
                "into memory: set data.storage = 'memory' or 'auto'"
            )
        return dataset_from_config(dc), "storage: memory (this format is always decoded into memory)"
    if dc.storage == "memory":
        return dataset_from_config(dc), "storage: memory (data.storage = 'memory')"
    try:
        lazy = open_dataset(dc.dataset, data_path_for(dc), image_size=dc.image_size or None)
    except ReadWhole as e:
        if dc.storage == "stream":
            raise
        return dataset_from_config(dc), f"storage: memory (auto: {e.why})"
    budget = int(dc.memory_budget * 2**30) if dc.memory_budget > 0 else memory_budget_default()
    storage, why = choose_storage(dc.storage, lazy.decoded_nbytes, budget)
    if storage == "memory":
        return dataset_from_config(dc), f"storage: memory ({why})"
    return lazy, f"storage: stream ({why})"


def dataset_from_config(dc: DataConfig) -> Dataset[TensorSource]:
    options: dict[str, Any] = {}
    if dc.image_size:
        options["image_size"] = dc.image_size
    if dc.checksum != "published":
        options["checksum"] = dc.checksum
    return load_dataset(dc.dataset, data_path_for(dc), cache=cache_dir_for(dc), **options)


def memory_budget_default() -> int:
    """Bytes a decoded training set may take by default: half the available memory, from
    ``MemAvailable`` in /proc/meminfo (Linux; it counts reclaimable page cache), else from
    ``os.sysconf`` (free pages x page size), else 4 GiB."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 // 2
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


def choose_storage(storage: str, decoded_nbytes: int, budget: int) -> tuple[str, str]:
    """("memory" | "stream", a sentence saying why, with the sizes in GiB) for ``data.storage``
    in memory, stream or auto (auto reads the files in batches when ``decoded_nbytes`` exceeds
    ``budget``)."""
    gib = f"{decoded_nbytes / 2**30:.2f} GiB decoded, budget {budget / 2**30:.2f} GiB"
    if storage == "memory":
        return "memory", f"data.storage = 'memory'; {gib}"
    if storage == "stream":
        return "stream", f"data.storage = 'stream'; {gib}"
    if storage != "auto":
        raise DataError(f"data.storage is {storage!r}; choose one of memory, stream, auto")
    if decoded_nbytes > budget:
        return "stream", f"auto: the data would take {gib} (data.memory_budget)"
    return "memory", f"auto: the data fit, {gib}"
