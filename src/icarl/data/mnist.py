"""MNIST and Fashion-MNIST from IDX files, gzipped or not.

The files are parsed (magic number, dimensions, exact data length), so any
distributor's copy works; no archive checksum is insisted on here (``--download``
checks the published ones).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .dataset import DataError, Dataset, Split, resize_images
from .sources import register

# IDX type codes -> numpy dtypes (big-endian)
IDX_TYPES: dict[int, str] = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
FASHION_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def parse_idx(data: bytes, name: str) -> np.ndarray:
    """An IDX file's array: magic ``00 00 TYPE NDIM``, NDIM big-endian uint32 sizes, then data."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{name} is not an IDX file (bad magic number); pass the original MNIST-format file")
    code, ndim = data[2], data[3]
    if code not in IDX_TYPES:
        raise DataError(f"{name} has unknown IDX type code 0x{code:02x}; the file is damaged")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name} is truncated inside its header; download it again")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_TYPES[code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found < expected:
        raise DataError(
            f"{name} is truncated: its header promises {expected} bytes of data for shape {dims}, "
            f"found {found}; download it again"
        )
    if found > expected:
        raise DataError(f"{name} has {found - expected} bytes after its data; the file is damaged")
    return np.frombuffer(data, dtype, offset=header).reshape(dims)


def read_idx(path: Path) -> np.ndarray:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(
            f"cannot read {path} ({type(e).__name__}: {e}); the file is damaged or truncated"
        ) from None
    return parse_idx(raw, str(path))


def find_idx(root: Path, stem: str) -> Path:
    """``stem``, ``stem.gz``, or the dotted spelling (``train-images.idx3-ubyte``), in ``root``
    or its ``raw/`` subfolder."""
    dotted = stem.replace("-idx", ".idx")
    for folder in (root, root / "raw"):
        for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
            if (folder / name).is_file():
                return folder / name
    raise DataError(f"{root} has no {stem}[.gz]; pass the folder holding the four IDX files")


def load_idx_dataset(name: str, path: str | Path | None, names: tuple[str, ...], size: int | None) -> Dataset:
    if path is None:
        raise DataError(
            f"the {name} dataset needs --data PATH (a folder with the four IDX files), or --download"
        )
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{name} data path {root} is not a folder; pass the folder holding the IDX files")
    arrays = {key: read_idx(find_idx(root, stem)) for key, stem in FILES.items()}
    splits = []
    for split in ("train", "test"):
        x, y = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if x.ndim != 3 or x.dtype != np.uint8:
            raise DataError(f"{name} {split} images are {x.dtype} {x.shape}; expected uint8 (N, H, W)")
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise DataError(f"{name} has {x.shape[0]} {split} images but {y.shape} labels; files mismatch")
        xt = torch.from_numpy(x.copy())[:, None]
        splits.append(Split(resize_images(xt, size), torch.from_numpy(y.astype(np.int64))))
    return Dataset(name, splits[0], splits[1], names)


@register("mnist")
def load_mnist(path: str | Path | None, image_size: int | None = None, **_: Any) -> Dataset:
    """MNIST: 60,000 train / 10,000 test 28×28 greyscale digits."""
    return load_idx_dataset("mnist", path, tuple(str(i) for i in range(10)), image_size)


@register("fashion-mnist")
def load_fashion_mnist(path: str | Path | None, image_size: int | None = None, **_: Any) -> Dataset:
    """Fashion-MNIST: the MNIST format, ten kinds of clothing."""
    return load_idx_dataset("fashion-mnist", path, FASHION_NAMES, image_size)
