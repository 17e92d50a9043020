"""From a ``[data]`` configuration to a :class:`Dataset`: download, cache, load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import DataConfig
from .cache import default_cache_dir
from .dataset import Dataset
from .download import download
from .sources import caches_by_default, load_dataset


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


def dataset_from_config(dc: DataConfig) -> Dataset:
    options: dict[str, Any] = {}
    if dc.image_size:
        options["image_size"] = dc.image_size
    return load_dataset(dc.dataset, data_path_for(dc), cache=cache_dir_for(dc), **options)
