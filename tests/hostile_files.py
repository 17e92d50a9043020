"""Small files that declare huge sizes: each is a few KB to 1 MB on disk and would take
gigabytes if its declarations were believed (the cases of issue 15)."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from data_writers import idx_bytes, tinyimagenet_files, write_folder, write_zip


def npy_bytes(shape: tuple[int, ...], data: bytes, descr: str = "|u1") -> bytes:
    """A .npy file whose header declares ``shape`` whatever ``data`` holds."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def write_npz_members(path: Path, members: dict[str, bytes], deflate: bool = False) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(f"{name}.npy", data)
    return path


def huge_label_npz(path: Path) -> Path:
    """8 images and one label of 10**9: 10**9 class names if believed."""
    y = np.zeros(8, dtype=np.int64)
    y[3] = 10**9
    np.savez(path, x=np.zeros((8, 4, 4), np.uint8), y=y)
    return path


def huge_header_npz(path: Path) -> Path:
    """A 64-byte member whose header declares 10**6 x 10**6 bytes."""
    return write_npz_members(
        path,
        {"x": npy_bytes((10**6, 10**6), b"\0" * 64), "y": npy_bytes((1,), b"\0", "<i8")[:-1] + b"\0" * 8},
    )


ZEROS_MIB = 32  # a bomb's member: 32 MiB of zeros, deflated to about 32 KB


def deflated_zeros(z: zipfile.ZipFile, name: str, mib: int = ZEROS_MIB, head: bytes = b"") -> None:
    with z.open(name, "w", force_zip64=True) as f:
        f.write(head)
        chunk = bytes(1 << 20)
        for _ in range(mib):
            f.write(chunk)


def npz_bomb(path: Path) -> Path:
    """An npz whose x is 32 MiB of zero pixels deflated to about 32 KB (ratio 1000)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        deflated_zeros(z, "x.npy", head=npy_bytes((ZEROS_MIB, 1024, 1024), b""))
        z.writestr("y.npy", npy_bytes((ZEROS_MIB,), bytes(8 * ZEROS_MIB), "<i8"))
    return path


def png_header(width: int, height: int) -> bytes:
    """A PNG with an IHDR declaring ``width`` x ``height`` (valid CRC) and one tiny IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def mnist_bomb(folder: Path, images: int = 6_000_000, repeats: int = 280) -> Path:
    """MNIST files whose train images are ``repeats`` concatenated gzip members of 16 MiB of
    zeros each (4.7 GB from 4.6 MB; gzip reads concatenated members as one stream), after a
    header declaring ``images`` 28x28 images; the other three files are fine."""
    folder.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", images, 28, 28)
    zeros = gzip.compress(bytes(16 << 20), compresslevel=6)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header) + zeros * repeats)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(10, np.uint8))))
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros((10, 28, 28), np.uint8)))
    )
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(10, np.uint8))))
    return folder


def tinyimagenet_bomb(path: Path) -> Path:
    """A Tiny-ImageNet zip with one extra member of 32 MiB of zeros (deflated to about 32 KB)."""
    write_zip(path, tinyimagenet_files(2, 2, 1))
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z:
        deflated_zeros(z, "tiny-imagenet-200/bomb.bin")
    return path


def tinyimagenet_big_png(root: Path, width: int = 12_000, height: int = 12_000) -> Path:
    """A Tiny-ImageNet folder whose first training image is a 144-megapixel PNG header."""
    files = tinyimagenet_files(2, 2, 1)
    first = next(n for n in files if n.startswith("train/") and n.endswith(".JPEG"))
    files[first] = png_header(width, height)
    return write_folder(root, files)
