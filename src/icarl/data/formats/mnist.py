"""MNIST and Fashion-MNIST from IDX files, gzipped or not.

The files are parsed (magic number, dimensions, exact data length), so any
distributor's copy works; no archive checksum is insisted on here (``--download``
checks the published ones).
"""

from __future__ import annotations

import gzip
import io
import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import DataError
from ...files.limits import exceeds, ratio_exceeded, refusal
from ..dataset import Dataset
from ..registry import register
from ..source import TensorSource
from .images import resize_images

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


def _idx_header(f: io.BufferedIOBase, name: str) -> tuple[np.dtype[Any], tuple[int, ...]]:
    """An IDX file's dtype and dimensions: magic ``00 00 TYPE NDIM``, NDIM big-endian uint32 sizes."""
    magic = f.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0:
        raise DataError(f"{name} is not an IDX file (bad magic number); pass the original MNIST-format file")
    code, ndim = magic[2], magic[3]
    if code not in IDX_TYPES:
        raise DataError(f"{name} has unknown IDX type code 0x{code:02x}; the file is damaged")
    raw = f.read(4 * ndim)
    if len(raw) < 4 * ndim:
        raise DataError(f"{name} is truncated inside its header; download it again")
    return np.dtype(IDX_TYPES[code]), tuple(int(d) for d in np.frombuffer(raw, ">u4"))


def _check_declared(expected: int, dims: tuple[int, ...], path: Path, gz: bool) -> None:
    """The data size the header declares, against ``ICARL_MAX_BYTES`` and, for a gzip file,
    ``ICARL_MAX_RATIO`` times its size: refused before anything is decompressed."""
    what = f"a header declaring shape {dims} ({expected} bytes)"
    if exceeds("ICARL_MAX_BYTES", expected):
        raise DataError(refusal(str(path), what, "ICARL_MAX_BYTES"))
    if gz and ratio_exceeded(expected, path.stat().st_size):
        raise DataError(
            refusal(str(path), what + f" from {path.stat().st_size} gzip bytes", "ICARL_MAX_RATIO")
        )


def read_idx(path: Path) -> np.ndarray:
    """The array of an IDX file, gzipped or not; the header's declared size is checked first and
    at most that many bytes (plus one, to find trailing data) are decompressed."""
    name = str(path)
    try:
        with open(path, "rb") as probe:
            gz = probe.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gz else open(path, "rb") as f:
            dtype, dims = _idx_header(f, name)
            expected = math.prod(dims) * dtype.itemsize
            _check_declared(expected, dims, path, gz)
            data = f.read(expected + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(
            f"cannot read {path} ({type(e).__name__}: {e}); the file is damaged or truncated"
        ) from None
    if len(data) < expected:
        raise DataError(
            f"{name} is truncated: its header promises {expected} bytes of data for shape {dims}, "
            f"found {len(data)}; download it again"
        )
    if len(data) > expected:
        raise DataError(f"{name} has bytes after its data; the file is damaged")
    return np.frombuffer(data, dtype).reshape(dims)


def find_idx(root: Path, stem: str) -> Path:
    """``stem``, ``stem.gz``, or the dotted spelling (``train-images.idx3-ubyte``), in ``root``
    or its ``raw/`` subfolder."""
    dotted = stem.replace("-idx", ".idx")
    for folder in (root, root / "raw"):
        for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
            if (folder / name).is_file():
                return folder / name
    raise DataError(f"{root} has no {stem}[.gz]; pass the folder holding the four IDX files")


def load_idx_dataset(
    name: str, path: str | Path | None, names: tuple[str, ...], size: int | None
) -> Dataset[TensorSource]:
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
        splits.append(TensorSource(resize_images(xt, size), torch.from_numpy(y.astype(np.int64))))
    return Dataset(name, splits[0], splits[1], names)


def load_mnist(path: str | Path | None, image_size: int | None = None, **_: Any) -> Dataset[TensorSource]:
    """MNIST: 60,000 train / 10,000 test 28×28 greyscale digits."""
    return load_idx_dataset("mnist", path, tuple(str(i) for i in range(10)), image_size)


def load_fashion_mnist(
    path: str | Path | None, image_size: int | None = None, **_: Any
) -> Dataset[TensorSource]:
    """Fashion-MNIST: the MNIST format, ten kinds of clothing."""
    return load_idx_dataset("fashion-mnist", path, FASHION_NAMES, image_size)


register("mnist", load=load_mnist)
register("fashion-mnist", load=load_fashion_mnist)
