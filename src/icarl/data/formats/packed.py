"""JPEG-packed ``.npz``: every image of a split as one JPEG file, the files concatenated.

Keys, per split ``train`` and ``test``: ``x_<split>_jpeg`` (1-D uint8, the JPEG files one
after another), ``x_<split>_offsets`` (integers, N + 1: image ``i`` is
``jpeg[offsets[i]:offsets[i + 1]]``; starts at 0, never decreases, ends at the byte count)
and ``y_<split>`` (N integer labels); optional ``class_names``. ``--dataset npz`` reads it
(see :mod:`icarl.data.formats.npz`); ``python -m icarl.tools.pack`` writes it. Images decode to
greyscale (1 channel) or RGB (3 channels), all of one size and mode.

Why: 55,000 Tiny-ImageNet images at 32x32 are 169 MB as raw pixels and 47 MiB here (JPEG
quality 90, 4:4:4), small enough to carry to a machine that receives 64 MiB.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from ...errors import DataError
from ...files.limits import exceeds, refusal
from ..source import ImageSource, check_class_count, names_from_labels
from .guards import bomb_refusal, check_pixels, follow_pixel_limit
from .images import decode_image, resize_images
from .npzfile import read_npz

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


# ------------------------------------------------------------------ read on demand
class PackedSource(ImageSource):
    """One split of a JPEG-packed npz (this module's layout, as ``python -m icarl.tools.pack``
    writes it with ``np.savez``): labels and offsets are read at once (small); the JPEG bytes
    array, a stored zip member, is memory-mapped by its data offset in each process, so an
    item reads only its own bytes. A compressed member (``np.savez_compressed``) is refused.
    ``size`` resizes as the in-memory npz loader does (antialiased bilinear)."""

    def __init__(self, path: Path, split: str, size: int | None = None) -> None:
        path = Path(path)
        jpeg, off_key, y_key = packed_keys(split)
        small = _small_arrays(path, (off_key, y_key, *[packed_keys(s)[2] for s in SPLITS]))
        where = str(path)
        if jpeg not in small["__files__"] or y_key not in small:
            raise DataError(f"{path} is not a JPEG-packed npz (no {jpeg}); pack it with icarl.tools.pack")
        y = small[y_key]
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise DataError(f"{path} '{y_key}' is {y.dtype} {y.shape}; expected one integer label per image")
        self.labels = torch.from_numpy(y.astype(np.int64))
        self.path, self.split, self.size, self.name = path, split, size, path.stem
        self._start, self._nbytes = _stored_member(path, f"{jpeg}.npy")
        self._map: tuple[int, np.ndarray] | None = None
        if off_key not in small:
            raise DataError(f"{path} has no {off_key}; {FIX}")
        self.offsets = check_offsets(small[off_key], self._nbytes, len(self), split, where)
        self.class_names = _packed_names(small)
        if not len(self) or self._nbytes == 0:
            raise DataError(f"{path} has no {split} images; {FIX}")
        self.channels = _mode_channels(self._bytes(0), f"0 of {path} {split}")
        first = self._image(0)
        self.image_shape = (int(first.shape[0]), int(first.shape[1]), int(first.shape[2]))

    @property
    def data(self) -> np.ndarray:
        """The concatenated JPEG bytes, memory-mapped in this process."""
        if self._map is None or self._map[0] != os.getpid():
            mapped = np.memmap(self.path, np.uint8, "r", self._start, (self._nbytes,))
            self._map = (os.getpid(), mapped)
        return self._map[1]

    def _bytes(self, i: int) -> bytes:
        return bytes(self.data[self.offsets[i] : self.offsets[i + 1]])

    def _image(self, i: int) -> Tensor:
        img = decode_image(self._bytes(i), self.channels, None, f"{i} of {self.path} {self.split}")
        return resize_images(img[None], self.size)[0] if self.size else img

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self._checked(self._image(i), f"{i} of {self.path} {self.split}"), int(self.labels[i])

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_map": None}  # each process maps the file itself


def _mode_channels(data: bytes, where: str) -> int:
    """1 for a greyscale image, else 3, read from the header of ``data`` (nothing decoded)."""
    follow_pixel_limit()
    try:
        with Image.open(io.BytesIO(data)) as im:
            return 1 if im.mode == "L" else 3
    except Image.DecompressionBombError as e:
        raise bomb_refusal(f"image {where}", e) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"image {where} is not a readable image ({e}); {FIX}") from None


def _small_arrays(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """The arrays ``keys`` (those present) and ``class_names`` of the npz, plus its member names."""
    arrays, names = read_npz(path, (*keys, "class_names"))
    out: dict[str, Any] = dict(arrays)
    out["__files__"] = names
    return out


def _packed_names(small: dict[str, Any]) -> tuple[str, ...]:
    """``class_names``, else "0".."top" over both splits' labels (as the in-memory loader names them)."""
    if "class_names" in small:
        check_class_count(small["class_names"].size, "the npz 'class_names'")
        return tuple(str(n) for n in small["class_names"].reshape(-1).tolist())
    ys = [small[packed_keys(s)[2]] for s in SPLITS if packed_keys(s)[2] in small]
    return names_from_labels(ys, "the npz labels")


def _stored_member(path: Path, member: str) -> tuple[int, int]:
    """(file offset of the data, element count) of a 1-D uint8 array stored uncompressed in the npz."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
        if info.compress_type != zipfile.ZIP_STORED:
            raise DataError(
                f"{path} holds {member} compressed (np.savez_compressed); reading it in batches needs "
                "it stored: write it with np.savez or python -m icarl.tools.pack"
            )
        with z.open(member) as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else None
            shape, _, dtype = (read_header or np.lib.format.read_array_header_2_0)(f)
            header = f.tell()
    if dtype != np.uint8 or len(shape) != 1:
        raise DataError(f"{path} '{member[:-4]}' is {dtype} {shape}; expected 1-D uint8; {FIX}")
    if header + int(shape[0]) != info.file_size:
        raise DataError(
            f"{path} '{member[:-4]}' declares {int(shape[0])} bytes but its member holds "
            f"{info.file_size - header}; the file is damaged, {FIX}"
        )
    with open(path, "rb") as raw:
        raw.seek(info.header_offset)
        local = raw.read(30)
        end = raw.seek(0, os.SEEK_END)
    if local[:4] != b"PK\x03\x04":
        raise DataError(f"{path} is damaged at {member} (no zip local header); {FIX}")
    name_len, extra_len = np.frombuffer(local[26:30], dtype="<u2")
    start = info.header_offset + 30 + int(name_len) + int(extra_len) + header
    if start + int(shape[0]) > end:
        raise DataError(f"{path} ends inside {member} (truncated): {FIX}")
    return start, int(shape[0])
