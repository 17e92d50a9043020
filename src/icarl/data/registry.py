"""The data formats: one registry from a dataset's name to how its files are read.

A format registers how it reads, in one or both ways:

- ``load``: decode everything into memory, a :class:`~icarl.data.dataset.Dataset` of
  :class:`~icarl.data.source.TensorSource` (the fast path);
- ``open``: list the files without decoding them, a dataset of sources read in batches by
  decoding workers (data larger than memory; ``data.storage = "stream"`` or ``"auto"``).
  A format with ``open`` only is loaded by reading every item once.

``cache=True`` marks formats whose decoding is slow enough that a decoded copy is worth
keeping (:mod:`icarl.data.cache`). Each module of ``data/formats`` registers its format;
a user's format registers the same way::

    icarl.data.register("mine", load=load_mine)   # load_mine(path, **options) -> Dataset

A loader and an opener take ``path`` (where the files are; ``None`` for embedded data) and
keyword options (``image_size`` among them), and ignore the options they do not know.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import DataError
from ..registry import Registry
from .cache import cached_load
from .dataset import Dataset
from .source import ImageSource, TensorSource

Loader = Callable[..., Dataset[TensorSource]]
Opener = Callable[..., Dataset[ImageSource]]


@dataclass(frozen=True)
class Format:
    name: str
    load: Loader | None = None  # decode every image into memory
    open: Opener | None = None  # list the files, decode in batches when read
    cache: bool = False  # cached by default (data.cache = "auto"): its decoding is slow

    @property
    def description(self) -> str:
        """The first line of the loader's (else the opener's) docstring."""
        fn = self.load or self.open
        return ((fn.__doc__ if fn else None) or "").strip().split("\n")[0].rstrip(",;")


class ReadWhole(DataError):
    """An opener's refusal for a file that can only be read whole (a plain npz, which numpy
    reads at once): ``data.storage = "auto"`` then loads it into memory, saying ``why``."""

    def __init__(self, message: str, why: str) -> None:
        super().__init__(message)
        self.why = why


FORMATS: Registry[Format] = Registry("dataset", DataError)


def register(
    name: str,
    *,
    load: Loader | None = None,
    open: Opener | None = None,
    cache: bool = False,
    replace: bool = False,
) -> Format:
    """Register the data format ``name``; see the module docstring. Registering a name again
    replaces it with a warning (``replace=True``: without one)."""
    if load is None and open is None:
        raise DataError(f"data format {name!r} registers neither load= nor open=; give one or both")
    return FORMATS.register(name, Format(name, load, open, cache), replace=replace)


def format_of(name: str) -> Format:
    return FORMATS.get(name)


def available() -> list[str]:
    return FORMATS.available()


def openable() -> list[str]:
    """The formats that can be read from their files in batches (``data.storage = "stream"``)."""
    return [name for name, fmt in sorted(FORMATS.items()) if fmt.open is not None]


def descriptions() -> dict[str, str]:
    """name -> the first line of each format's docstring (empty where it has none)."""
    return {name: fmt.description for name, fmt in sorted(FORMATS.items())}


def caches_by_default(name: str) -> bool:
    return name in FORMATS and FORMATS.get(name).cache


def load_dataset(
    name: str, path: str | Path | None = None, *, cache: str | Path | None = None, **options: Any
) -> Dataset[TensorSource]:
    """Dataset ``name`` from ``path``, decoded into memory (see :func:`available` for names).

    ``cache`` is a folder for decoded images (keyed by the files' content and ``options``);
    ``None`` decodes every time.
    """
    fmt = format_of(name)
    loader = fmt.load or _loader_of(fmt)
    if cache is not None and path is not None:
        return cached_load(loader, name, Path(path), Path(cache), options).validate()
    return loader(path, **options).validate()


def open_dataset(name: str, path: str | Path | None, **options: Any) -> Dataset[ImageSource]:
    """Dataset ``name`` from ``path`` as sources read in batches, listed without decoding
    (with ``image_size`` none is decoded; without it, the first image of each split gives the
    shape): the same items, order, labels and class names as :func:`load_dataset` gives."""
    fmt = format_of(name)
    if fmt.open is None:
        readable = ", ".join(openable())
        raise DataError(
            f"dataset {name!r} is only decoded into memory; read from files in batches: {readable}"
        )
    if path is None:
        raise DataError(f"reading {name} from its files needs --data PATH")
    return fmt.open(path, **options).validate()


def _loader_of(fmt: Format) -> Loader:
    """A loader for a format that only opens: every item of each split read once."""
    opener = fmt.open
    assert opener is not None  # internal: a format registers load= or open=

    def load(path: str | Path | None, **options: Any) -> Dataset[TensorSource]:
        data = opener(path, **options)
        splits = [
            TensorSource(s.take(torch.arange(len(s))), s.labels, s.class_names, s.name)
            for s in (data.train, data.test)
        ]
        return Dataset(data.name, splits[0], splits[1], data.class_names)

    load.__doc__ = fmt.open.__doc__ if fmt.open else None
    return load
