"""JPEG-packed ``.npz``: every image of a split as one JPEG file, the files concatenated.

Keys, per split ``train`` and ``test``: ``x_<split>_jpeg`` (1-D uint8, the JPEG files one
after another), ``x_<split>_offsets`` (integers, N + 1: image ``i`` is
``jpeg[offsets[i]:offsets[i + 1]]``; starts at 0, never decreases, ends at the byte count)
and ``y_<split>`` (N integer labels); optional ``class_names``. ``--dataset npz`` reads it
(see :mod:`icarl.data.npz`); ``python -m icarl.tools.pack`` writes it. Images decode to
greyscale (1 channel) or RGB (3 channels), all of one size and mode.

Why: 55,000 Tiny-ImageNet images at 32x32 are 169 MB as raw pixels and 47 MiB here (JPEG
quality 90, 4:4:4), small enough to carry to a machine that receives 64 MiB.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from ..files.limits import exceeds, refusal
from .dataset import DataError
from .guards import bomb_refusal, check_pixels, follow_pixel_limit

SPLITS = ("train", "test")
MODES = {"L": 1, "RGB": 3}  # Pillow mode -> channels
CHUNK = 1024  # images per thread task
FIX = "pack it again with python -m icarl.tools.pack"
T = TypeVar("T")


def is_packed(keys: set[str] | list[str]) -> bool:
    return any(k.endswith(("_jpeg", "_offsets")) for k in keys)


def packed_keys(split: str) -> tuple[str, str, str]:
    return f"x_{split}_jpeg", f"x_{split}_offsets", f"y_{split}"


def _chunks(n: int) -> list[range]:
    return [range(i, min(i + CHUNK, n)) for i in range(0, n, CHUNK)]


def _parallel(fn: Callable[[range], T], n: int, workers: int) -> list[T]:
    """``fn`` over chunks of ``range(n)``; Pillow releases the GIL while coding, so threads help."""
    workers = workers or min(8, os.cpu_count() or 1)
    if workers > 1 and n > CHUNK:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(fn, _chunks(n)))
    return [fn(r) for r in _chunks(n)]


# ------------------------------------------------------------------ encoding
def encode_jpegs(
    x: Tensor, quality: int, subsampling: int = 0, workers: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, C, H, W) with C 1 or 3 -> (concatenated JPEG bytes, int64 offsets N + 1).

    ``subsampling`` is Pillow's: 0 = 4:4:4 (full colour resolution), 2 = 4:2:0. Huffman tables
    are optimised per image (lossless; at 32x32 it saves about 28% of the bytes).
    """
    from PIL import Image

    if x.dtype != torch.uint8:
        raise DataError(f"images have dtype {x.dtype}; expected uint8")
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise DataError(f"images have shape {tuple(x.shape)}; expected (N, 1 or 3, H, W)")
    arr = x.numpy()
    hwc = arr[:, 0] if arr.shape[1] == 1 else arr.transpose(0, 2, 3, 1)

    def encode(r: range) -> list[bytes]:
        out = []
        for i in r:
            buf = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(hwc[i])).save(
                buf, "JPEG", quality=quality, subsampling=subsampling, optimize=True
            )
            out.append(buf.getvalue())
        return out

    files = [b for part in _parallel(encode, len(hwc), workers) for b in part]
    offsets = np.zeros(len(files) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in files], out=offsets[1:])
    return np.frombuffer(bytearray(b"".join(files)), dtype=np.uint8), offsets


# ------------------------------------------------------------------ decoding
def check_offsets(offsets: np.ndarray, nbytes: int, n: int, split: str, where: str) -> np.ndarray:
    """``offsets`` as int64 after checking its shape and values against the bytes and labels."""
    key = f"x_{split}_offsets"
    if offsets.ndim != 1 or offsets.dtype.kind not in "iu":
        raise DataError(f"{where} '{key}' is {offsets.dtype} {offsets.shape}; expected 1-D integers; {FIX}")
    if len(offsets) != n + 1:
        raise DataError(
            f"{where} '{key}' has {len(offsets)} entries but y_{split} has {n} labels; "
            f"expected {n + 1} (one more than the images); {FIX}"
        )
    off = offsets.astype(np.int64)
    if off[0] != 0 or off[-1] != nbytes:
        raise DataError(
            f"{where} '{key}' runs {int(off[0])}..{int(off[-1])} but x_{split}_jpeg holds {nbytes} "
            f"bytes; offsets must start at 0 and end at the byte count; {FIX}"
        )
    steps = np.diff(off)
    bad = np.flatnonzero(steps < 0)
    if len(bad):
        raise DataError(
            f"{where} '{key}' decreases at image {int(bad[0])} of {split}; offsets must not decrease; {FIX}"
        )
    empty = np.flatnonzero(steps == 0)
    if len(empty):
        raise DataError(f"{where} {split} image {int(empty[0])} has 0 bytes ('{key}' repeats); {FIX}")
    return off


def decode_jpegs(
    data: np.ndarray, offsets: np.ndarray, split: str, where: str, workers: int = 0
) -> np.ndarray:
    """Concatenated JPEG files -> uint8 (N, C, H, W); every image the size and mode of the first."""
    from PIL import Image, UnidentifiedImageError

    if data.ndim != 1 or data.dtype != np.uint8:
        raise DataError(f"{where} 'x_{split}_jpeg' is {data.dtype} {data.shape}; expected 1-D uint8; {FIX}")
    n = len(offsets) - 1
    raw = data.tobytes()
    follow_pixel_limit()

    def open_one(i: int) -> np.ndarray:
        try:
            with Image.open(io.BytesIO(raw[offsets[i] : offsets[i + 1]]), formats=["JPEG"]) as im:
                check_pixels(im, f"{where} {split} image {i}")
                im.load()
                if im.mode not in MODES:
                    raise DataError(
                        f"{where} {split} image {i} is a {im.mode} JPEG; expected greyscale (L) or RGB; {FIX}"
                    )
                return np.asarray(im)
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as e:
            if isinstance(e, DataError):
                raise
            if isinstance(e, Image.DecompressionBombError):
                raise bomb_refusal(f"{where} {split} image {i}", e) from None
            raise DataError(
                f"{where} {split} image {i} is not a readable JPEG ({e}); the file is damaged, {FIX}"
            ) from None

    if n == 0:
        raise DataError(f"{where} has no {split} images; {FIX}")
    first = open_one(0)
    shape = first.shape
    decoded = n * first.size
    if exceeds("ICARL_MAX_BYTES", decoded):
        raise DataError(
            refusal(f"{where} {split}", f"{n} images of {decoded} bytes decoded", "ICARL_MAX_BYTES")
        )
    try:
        out = np.empty((n, *shape), dtype=np.uint8)
    except MemoryError:
        raise DataError(
            f"{where} {split}: {n} decoded images ({decoded} bytes) do not fit in memory; stream them "
            "(data.storage = 'stream') or use a machine with more memory"
        ) from None

    def decode(r: range) -> None:
        for i in r:
            img = first if i == 0 else open_one(i)
            if img.shape != shape:
                raise DataError(
                    f"{where} {split} image {i} decodes to {_describe(img.shape)} but image 0 to "
                    f"{_describe(shape)}; all images must share one size and mode; {FIX}"
                )
            out[i] = img

    _parallel(decode, n, workers)
    return out[:, None] if out.ndim == 3 else out.transpose(0, 3, 1, 2)


def _describe(shape: tuple[int, ...]) -> str:
    mode = "greyscale" if len(shape) == 2 else "RGB"
    return f"{shape[1]}x{shape[0]} {mode}"


def read_packed(arrays: dict[str, np.ndarray], where: str, workers: int = 0) -> dict[str, np.ndarray]:
    """The packed arrays -> ``{"x_train", "y_train", "x_test", "y_test"}`` (images NCHW uint8)."""
    if "x" in arrays or "x_test" in arrays:
        raise DataError(f"{where} holds both plain (x, x_test) and JPEG-packed arrays; keep one kind")
    out: dict[str, np.ndarray] = {}
    for split in SPLITS:
        keys = packed_keys(split)
        missing = [k for k in keys if k not in arrays]
        if missing:
            raise DataError(
                f"{where} is JPEG-packed but has no {', '.join(missing)} (found {sorted(arrays)}); "
                f"a packed file needs {', '.join(k for s in SPLITS for k in packed_keys(s))}; {FIX}"
            )
        jpeg, offsets, y = (arrays[k] for k in keys)
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise DataError(
                f"{where} 'y_{split}' is {y.dtype} {y.shape}; expected one integer label per image"
            )
        off = check_offsets(offsets, int(jpeg.size), len(y), split, where)
        out[f"x_{split}"] = decode_jpegs(jpeg, off, split, where, workers)
        out[f"y_{split}"] = y
    if out["x_train"].shape[1:] != out["x_test"].shape[1:]:
        raise DataError(
            f"{where} train images are {out['x_train'].shape[1:]} but test images "
            f"{out['x_test'].shape[1:]} (C, H, W); pack both splits at one size and mode; {FIX}"
        )
    return out
