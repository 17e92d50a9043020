"""Anyone's own data as one ``.npz``: ``x`` and ``y``, optionally ``x_test``/``y_test``
and ``class_names``. Read with ``allow_pickle=False``.

Or JPEG-packed (see :mod:`icarl.data.formats.packed`): ``x_train_jpeg``/``x_train_offsets``/
``y_train`` and the same for ``test``, decoded here with Pillow, or opened and read in batches
(:class:`~icarl.data.formats.packed.PackedSource`: each item reads only its own bytes).

Images are uint8 (or integers in 0..255), shaped (N, H, W), (N, H, W, C) or
(N, C, H, W) with C in {1, 3}. Without test arrays a seeded per-class split is made.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ...errors import DataError
from ..dataset import Dataset, of_sources, stratified_split
from ..registry import ReadWhole, register
from ..source import ImageSource, TensorSource, check_class_count, names_from_labels
from .images import resize_images
from .npzfile import read_npz
from .packed import PackedSource, is_packed, read_packed


def to_nchw(x: np.ndarray, key: str) -> Tensor:
    """uint8 NCHW from (N, H, W), NHWC or NCHW; a channel axis holds 1 or 3 values."""
    if x.dtype.kind not in "iub":
        raise DataError(f"npz '{key}' has dtype {x.dtype}; save uint8 pixels in 0..255")
    if x.dtype != np.uint8:
        if x.size and (int(x.min()) < 0 or int(x.max()) > 255):
            raise DataError(
                f"npz '{key}' values lie in {int(x.min())}..{int(x.max())}; save pixels in 0..255"
            )
        x = x.astype(np.uint8)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        if x.shape[3] in (1, 3) and x.shape[1] not in (1, 3):
            x = x.transpose(0, 3, 1, 2)
        elif x.shape[1] not in (1, 3):
            raise DataError(f"npz '{key}' has shape {x.shape}; one axis must be 1 or 3 channels")
    else:
        raise DataError(f"npz '{key}' has shape {x.shape}; expected (N, H, W), (N, H, W, C) or (N, C, H, W)")
    return torch.from_numpy(np.ascontiguousarray(x))


def to_labels(y: np.ndarray, key: str) -> Tensor:
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"npz '{key}' is {y.dtype} {y.shape}; expected one integer label per image")
    return torch.from_numpy(y.astype(np.int64))


def _read(path: Path) -> dict[str, np.ndarray]:
    return read_npz(path)[0]  # sizes checked against the file; object (pickled) arrays refused


def load_npz(
    path: str | Path | None,
    image_size: int | None = None,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    workers: int = 0,
    **_: Any,
) -> Dataset[TensorSource]:
    """``x``/``y`` (and optional ``x_test``/``y_test``, ``class_names``) from one .npz file,
    or a JPEG-packed one (decoded with ``workers`` threads; 0 = up to 8)."""
    if path is None:
        raise DataError("the npz dataset needs --data PATH (a .npz file with arrays x and y)")
    p = Path(path)
    if not p.is_file():
        raise DataError(f"npz file {p} does not exist; check the path")
    arrays = _read(p)
    if is_packed(list(arrays)):
        decoded = read_packed(arrays, str(p), workers)
        arrays = {k: v for k, v in arrays.items() if k == "class_names"}
        arrays.update(x=decoded["x_train"], y=decoded["y_train"])
        arrays.update(x_test=decoded["x_test"], y_test=decoded["y_test"])
    for key in ("x", "y"):
        if key not in arrays:
            raise DataError(f"{p} has no array '{key}' (found {sorted(arrays)}); save x=images, y=labels")
    x, y = to_nchw(arrays["x"], "x"), to_labels(arrays["y"], "y")
    if len(x) != len(y):
        raise DataError(f"{p} has {len(x)} images in x but {len(y)} labels in y; give one label per image")
    has_test = "x_test" in arrays or "y_test" in arrays
    if has_test and not ("x_test" in arrays and "y_test" in arrays):
        raise DataError(f"{p} has only one of x_test / y_test; save both or neither")
    xt = to_nchw(arrays["x_test"], "x_test") if has_test else None
    yt = to_labels(arrays["y_test"], "y_test") if has_test else None
    if "class_names" in arrays:
        check_class_count(arrays["class_names"].size, f"{p} 'class_names'")
        names = tuple(str(n) for n in arrays["class_names"].reshape(-1).tolist())
    else:
        names = names_from_labels([y.numpy()] + ([yt.numpy()] if yt is not None else []), str(p))
    if xt is None or yt is None:
        test = stratified_split(y, len(names), test_fraction, split_seed)
        x, xt, y, yt = x[~test], x[test], y[~test], y[test]
    return Dataset(
        p.stem,
        TensorSource(resize_images(x, image_size), y),
        TensorSource(resize_images(xt, image_size), yt),
        names,
    )


def open_npz(path: str | Path | None, image_size: int | None = None, **_: Any) -> Dataset[ImageSource]:
    """A JPEG-packed npz read by offsets, each item decoding only its own bytes (the items,
    labels and class names of :func:`load_npz`); a plain npz can only be read whole."""
    p = Path(path or "")
    if not p.is_file():
        raise DataError(f"npz file {p} does not exist; check the path")
    if _plain_npz(p):
        raise ReadWhole(
            f"{p} is not a JPEG-packed npz (no x_train_jpeg); pack it with icarl.tools.pack",
            why="numpy reads a plain npz whole; pack it (icarl.tools.pack) to stream it",
        )
    return of_sources(PackedSource(p, "train", image_size), PackedSource(p, "test", image_size))


def _plain_npz(path: Path) -> bool:
    """Whether ``path`` is an npz of plain arrays (not JPEG-packed): those are read whole.
    False when it cannot be read (the packed reader then says why)."""
    try:
        with zipfile.ZipFile(path) as z:
            return not is_packed([n.removesuffix(".npy") for n in z.namelist()])
    except (OSError, zipfile.BadZipFile):
        return False


register("npz", load=load_npz, open=open_npz)
