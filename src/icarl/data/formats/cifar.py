"""CIFAR-10 and CIFAR-100, the official "python version": archive or extracted folder.

The archive's md5 is checked against the published one, unless ``data.checksum`` says
otherwise (``off``, or the md5 or sha256 of a copy the user rebuilt). The batches are pickles
written by Python 2; they are read with :func:`icarl.safeio.restricted_loads`,
which admits only plain data and numpy arrays.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import DataError, IcarlError
from ...files.safeio import restricted_loads
from ..dataset import Dataset
from ..registry import register
from ..source import TensorSource
from .files import FileTree, file_digest, find_root, open_tree
from .images import resize_images


@dataclass(frozen=True)
class CifarLayout:
    name: str
    archive: str  # official file name
    md5: str  # published checksum of the archive
    train: tuple[str, ...]
    test: tuple[str, ...]
    meta: str
    names_key: str
    labels_key: str


CIFAR10 = CifarLayout(
    name="cifar10",
    archive="cifar-10-python.tar.gz",
    md5="c58f30108f718f92721af3b95e74349a",
    train=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test=("test_batch",),
    meta="batches.meta",
    names_key="label_names",
    labels_key="labels",
)
CIFAR100 = CifarLayout(
    name="cifar100",
    archive="cifar-100-python.tar.gz",
    md5="eb9058c3a382ffc7106e4002c42a8d85",
    train=("train",),
    test=("test",),
    meta="meta",
    names_key="fine_label_names",
    labels_key="fine_labels",
)


def _text(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _read_pickle(tree: FileTree, name: str, label: str) -> dict[str, Any]:
    try:
        obj = restricted_loads(tree.read(name), label)
    except DataError:
        raise
    except IcarlError as e:
        raise DataError(str(e)) from None
    if not isinstance(obj, dict):
        raise DataError(f"{label} holds a {type(obj).__name__}, not a dict; is it the python version?")
    return {_text(k): v for k, v in obj.items()}


def _read_batch(tree: FileTree, name: str, label: str, layout: CifarLayout) -> tuple[np.ndarray, np.ndarray]:
    d = _read_pickle(tree, name, label)
    if "data" not in d or layout.labels_key not in d:
        raise DataError(
            f"{label} has no 'data' or '{layout.labels_key}' entry; is it the {layout.name} python version?"
        )
    data, labels = d["data"], np.asarray(d[layout.labels_key])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DataError(
            f"{label} 'data' is {type(data).__name__} {shape}; expected uint8 rows of 3072 pixels "
            "(the file is damaged: download it again)"
        )
    if labels.shape != (data.shape[0],) or labels.dtype.kind not in "iu":
        raise DataError(
            f"{label} has {data.shape[0]} images but {labels.size} labels; the file is damaged, "
            "download it again"
        )
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _check_archive(path: Path, layout: CifarLayout, checksum: str) -> None:
    """``checksum``: "published" (the official md5), "off", or an md5 / sha256 in hex."""
    if not path.is_file():
        return  # an extracted folder: nothing to check
    if checksum == "off":
        print(f"note: {path}: checksum not checked (data.checksum = off)", file=sys.stderr)
        return
    expected = layout.md5 if checksum == "published" else checksum.lower()
    algorithm = "sha256" if len(expected) == 64 else "md5"
    digest = file_digest(path, algorithm)
    if digest == expected:
        return
    if checksum == "published":
        raise DataError(
            f"{path} has md5 {digest} but the published {layout.archive} has {layout.md5}; the file "
            "is damaged or not the official archive: download it again, or for a copy you rebuilt "
            f"and trust pass --checksum {digest} (or --checksum off; data.checksum)"
        )
    raise DataError(
        f"{path} has {algorithm} {digest} but data.checksum (--checksum) asks for {expected}; the "
        "file changed or the checksum is wrong: check both"
    )


def load_cifar(
    layout: CifarLayout, path: str | Path | None, image_size: int | None, checksum: str
) -> Dataset[TensorSource]:
    if path is None:
        raise DataError(
            f"the {layout.name} dataset needs --data PATH ({layout.archive} or its extracted folder), "
            "or --download"
        )
    p = Path(path)
    _check_archive(p, layout, checksum)
    tree = open_tree(p, layout.name)
    try:
        root = find_root(tree, layout.meta, layout.name)
        meta = _read_pickle(tree, root + layout.meta, f"{layout.name} {layout.meta}")
        if layout.names_key not in meta:
            raise DataError(f"{layout.name} {layout.meta} has no '{layout.names_key}'; wrong archive?")
        names = tuple(_text(n) for n in meta[layout.names_key])
        splits = []
        for files in (layout.train, layout.test):
            parts = [_read_batch(tree, root + f, f"{layout.name} {f}", layout) for f in files]
            x = torch.from_numpy(np.concatenate([a for a, _ in parts]))
            y = torch.from_numpy(np.concatenate([b for _, b in parts]))
            splits.append(TensorSource(resize_images(x, image_size), y))
    finally:
        tree.close()
    return Dataset(layout.name, splits[0], splits[1], names)


def load_cifar10(
    path: str | Path | None,
    image_size: int | None = None,
    verify: bool = True,
    checksum: str = "published",
    **_: Any,
) -> Dataset[TensorSource]:
    """CIFAR-10 from ``cifar-10-python.tar.gz`` or its folder ``cifar-10-batches-py``."""
    return load_cifar(CIFAR10, path, image_size, checksum if verify else "off")


def load_cifar100(
    path: str | Path | None,
    image_size: int | None = None,
    verify: bool = True,
    checksum: str = "published",
    **_: Any,
) -> Dataset[TensorSource]:
    """CIFAR-100 (fine labels) from ``cifar-100-python.tar.gz`` or its folder ``cifar-100-python``."""
    return load_cifar(CIFAR100, path, image_size, checksum if verify else "off")


register("cifar10", load=load_cifar10)
register("cifar100", load=load_cifar100)
