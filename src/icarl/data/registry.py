"""Dataset sources: a registry from name to a loader returning a :class:`Dataset`.

A loader takes ``path`` (where its files are; ``None`` for embedded data) and
keyword options, and returns uint8 tensors. Add one with ``@register("name")``;
``cache=True`` marks sources whose decoding is slow enough to be worth caching
(see :mod:`icarl.data.cache`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .cache import cached_load
from .dataset import DataError, Dataset, Split

Loader = Callable[..., Dataset]
_SOURCES: dict[str, Loader] = {}
_CACHED: set[str] = set()  # sources cached by default (they decode compressed images)


def register(name: str, *, cache: bool = False) -> Callable[[Loader], Loader]:
    def add(fn: Loader) -> Loader:
        _SOURCES[name] = fn
        if cache:
            _CACHED.add(name)
        return fn

    return add


def available() -> list[str]:
    return sorted(_SOURCES)


def descriptions() -> dict[str, str]:
    """name -> the first line of each source's docstring (empty where it has none)."""
    return {n: (f.__doc__ or "").strip().split("\n")[0].rstrip(",;") for n, f in sorted(_SOURCES.items())}


def caches_by_default(name: str) -> bool:
    return name in _CACHED


def load_dataset(
    name: str, path: str | Path | None = None, *, cache: str | Path | None = None, **options: Any
) -> Dataset:
    """Load dataset ``name`` from ``path`` (see :func:`available` for names).

    ``cache`` is a folder for decoded images (keyed by the source's content and
    ``options``); ``None`` decodes every time.
    """
    try:
        loader = _SOURCES[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(available())}") from None
    if cache is not None and path is not None:
        return cached_load(loader, name, Path(path), Path(cache), options).validate()
    return loader(path, **options).validate()


@register("digits")
def load_digits(path: str | Path | None = None, **_: Any) -> Dataset:
    """scikit-learn's 8×8 digits (1,797 images, 10 classes), embedded, no files needed.

    Pixels 0..16 are scaled to 0..255. The split is fixed and independent of any
    seed: within each class, every fifth image (by index) is a test image (20%).
    """
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    labels = bunch.target.astype(np.int64)
    test_mask = np.zeros(len(labels), dtype=bool)
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        test_mask[idx[::5]] = True
    x = torch.from_numpy(images)
    y = torch.from_numpy(labels)
    tm = torch.from_numpy(test_mask)
    return Dataset(
        name="digits",
        train=Split(x[~tm].contiguous(), y[~tm].contiguous()),
        test=Split(x[tm].contiguous(), y[tm].contiguous()),
        class_names=tuple(str(i) for i in range(10)),
    )
