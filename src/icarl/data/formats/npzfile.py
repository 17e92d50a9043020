"""Reading a user's ``.npz`` with every declared size checked before anything is allocated.

A ``.npz`` is a zip of ``.npy`` members. Before an array is read: the zip's member count,
each member's compressed size against the file, its compression ratio and the total
uncompressed bytes against :mod:`icarl.files.limits`, and the ``.npy`` header's shape x
itemsize against the member's size (a header may declare any shape). Object arrays
(which need pickle) are refused.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Collection
from pathlib import Path
from typing import IO, Any, cast

import numpy as np

from ...errors import DataError
from ...files.limits import exceeds, limit, ratio_exceeded, refusal


def _header(f: IO[bytes], where: str) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
    """(shape, fortran order, dtype, header length) of the ``.npy`` stream ``f``."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f, max_header_size=1 << 16)
        else:
            shape, fortran, dtype = fmt.read_array_header_2_0(f, max_header_size=1 << 16)
    except (ValueError, TypeError, SyntaxError) as e:
        raise DataError(f"{where} has a damaged .npy header ({e}); save the arrays again") from None
    return tuple(int(d) for d in shape), bool(fortran), dtype, f.tell()


def _check_member(info: zipfile.ZipInfo, file_size: int, where: str) -> None:
    if info.compress_size > file_size or info.file_size < 0:
        raise DataError(
            f"{where} declares {info.compress_size} compressed bytes but the file holds "
            f"{file_size}; the file is damaged or truncated, save it again"
        )
    if ratio_exceeded(info.file_size, info.compress_size):
        what = f"expands {info.compress_size} bytes to {info.file_size} (a zip bomb?)"
        raise DataError(refusal(where, what, "ICARL_MAX_RATIO"))


def _read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    with z.open(info) as f:
        shape, fortran, dtype, header = _header(f, where)
        if dtype.hasobject:
            raise DataError(
                f"{where} holds an object array ({dtype}) numpy cannot read without pickle; "
                "refused: save plain numeric or string arrays"
            )
        declared = math.prod(shape) * dtype.itemsize
        held = info.file_size - header
        if declared != held:
            raise DataError(
                f"{where} declares shape {shape} of {dtype} ({declared} bytes) but holds {held} "
                "bytes of data; the file is damaged, save it again"
            )
        buf = np.empty(declared, dtype=np.uint8)
        got, view, stream = 0, buf.data, cast(io.BufferedIOBase, f)
        while got < declared:
            n = stream.readinto(view[got:])
            if not n:
                raise DataError(f"{where} ends after {got} of {declared} bytes; the file is truncated")
            got += n
    arr = buf.view(dtype) if dtype.itemsize else np.empty(0, dtype=dtype)
    return arr.reshape(shape[::-1]).transpose() if fortran else arr.reshape(shape)


def read_npz(path: Path, keys: Collection[str] | None = None) -> tuple[dict[str, np.ndarray], list[str]]:
    """(the arrays ``keys`` that are present, or all when None; every array name in the file)."""
    try:
        file_size = path.stat().st_size
        with zipfile.ZipFile(path) as z:
            infos = [i for i in z.infolist() if i.filename.endswith(".npy")]
            if exceeds("ICARL_MAX_MEMBERS", len(z.infolist())):
                raise DataError(refusal(str(path), f"{len(z.infolist())} members", "ICARL_MAX_MEMBERS"))
            names = [i.filename[:-4] for i in infos]
            wanted = [i for i in infos if keys is None or i.filename[:-4] in keys]
            for info in wanted:
                _check_member(info, file_size, f"{path} '{info.filename[:-4]}'")
            total = sum(i.file_size for i in wanted)
            if total > limit("ICARL_MAX_BYTES"):
                raise DataError(refusal(str(path), f"arrays of {total} bytes", "ICARL_MAX_BYTES"))
            if ratio_exceeded(total, file_size):
                what = f"arrays of {total} bytes from {file_size} (a zip bomb?)"
                raise DataError(refusal(str(path), what, "ICARL_MAX_RATIO"))
            arrays = {i.filename[:-4]: _read_member(z, i, f"{path} '{i.filename[:-4]}'") for i in wanted}
    except (OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as e:
        raise DataError(f"cannot read {path} ({type(e).__name__}: {e}); is it a .npz file?") from None
    except MemoryError:
        raise DataError(f"{path} does not fit in memory; use a smaller file or more memory") from None
    return arrays, names
