"""Image sources read lazily, for data larger than memory (the streaming path).

An :class:`ImageSource` is a ``torch.utils.data.Dataset`` of ``(uint8 (C, H, W), label)``
whose labels, class names and image shape are known without decoding any image. Sources:
files in an image folder or an archive (:class:`FileSource`), a JPEG-packed npz read by
offsets (:class:`PackedSource`), tensors (:class:`TensorSource`) and any user dataset
(:class:`UserSource`). :func:`load_batches` reads chosen items through a DataLoader with
decoding workers; :func:`rank_slices` gives each rank its slice of each global batch.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import Dataset as TorchDataset

from .dataset import DataError, check_class_count, names_from_labels, resize_images
from .files import FileTree, open_tree
from .guards import bomb_refusal, follow_pixel_limit
from .images import decode_image
from .npzfile import read_npz
from .packed import FIX, SPLITS, check_offsets, packed_keys


class ImageSource(TorchDataset[tuple[Tensor, int]]):
    """Indexable images with ``labels`` (int64), ``class_names``, ``image_shape`` (C, H, W, after
    resizing) and ``name``, all known without decoding the items."""

    labels: Tensor
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    name: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        raise NotImplementedError

    def subset(self, indices: Tensor | Sequence[int]) -> ImageSource:
        """A view of the items ``indices`` (in that order); nothing is decoded."""
        return SubsetSource(self, torch.as_tensor(indices, dtype=torch.long).flatten())

    def of_classes(self, classes: Sequence[int] | Tensor) -> ImageSource:
        """The items whose label is in ``classes``, in their original order."""
        wanted = torch.as_tensor(classes, dtype=torch.long).flatten()
        return self.subset(torch.nonzero(torch.isin(self.labels, wanted)).flatten())

    @property
    def decoded_nbytes(self) -> int:
        """N * C * H * W: the bytes the items take decoded as uint8."""
        c, h, w = self.image_shape
        return len(self) * c * h * w

    def _checked(self, img: Tensor, what: str) -> Tensor:
        if tuple(img.shape) != self.image_shape:
            raise DataError(
                f"image {what} is {tuple(img.shape)} but the others are {self.image_shape}; "
                "pass image_size (--image-size) to resize them all"
            )
        return img


class SubsetSource(ImageSource):
    """Items ``indices`` of ``parent``, read from it on demand (a view of a view indexes the root)."""

    parent: ImageSource
    indices: Tensor

    def __init__(self, parent: ImageSource, indices: Tensor) -> None:
        n = len(parent)
        if len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= n):
            raise DataError(f"subset indices run outside 0..{n - 1} of {parent.name}")
        if isinstance(parent, SubsetSource):
            indices = parent.indices[indices]
            parent = parent.parent
        self.parent, self.indices = parent, indices
        self.labels = parent.labels[indices]
        self.class_names, self.image_shape, self.name = parent.class_names, parent.image_shape, parent.name

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.parent[int(self.indices[i])]


class TensorSource(ImageSource):
    """In-memory uint8 (N, C, H, W) images and their labels (tests, exemplars)."""

    def __init__(self, x: Tensor, y: Tensor, class_names: tuple[str, ...], name: str) -> None:
        if x.dtype != torch.uint8 or x.ndim != 4 or len(x) != len(y):
            raise DataError(
                f"{name}: images are {x.dtype} {tuple(x.shape)} with {len(y)} labels; "
                "give uint8 (N, C, H, W) and one label per image"
            )
        self.x, self.labels, self.class_names, self.name = x, y.long(), tuple(class_names), name
        self.image_shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.x[i], int(self.labels[i])


class FileSource(ImageSource):
    """Image files of a folder or members of an archive (``files``: names relative to ``root``),
    decoded on demand with :func:`~icarl.data.images.decode_image`. Options: ``channels`` (1 or
    3), ``size`` (resize to size x size; then ``image_shape`` is known without decoding), or
    ``shape`` (the shape of an empty list); without them the first image's shape is the shape.
    Each process opens its own handle on the archive (DataLoader workers are processes)."""

    def __init__(
        self,
        root: Path,
        files: list[str],
        labels: Tensor,
        class_names: tuple[str, ...],
        name: str,
        **decode: Any,
    ) -> None:
        self.root, self.files, self.labels, self.class_names, self.name = (
            Path(root),
            list(files),
            torch.as_tensor(labels, dtype=torch.long),
            tuple(class_names),
            name,
        )
        if len(self.files) != len(self.labels):
            raise DataError(f"{name}: {len(self.files)} files but {len(self.labels)} labels")
        self.channels, self.size = int(decode.get("channels", 3)), decode.get("size")
        self._tree: tuple[int, FileTree] | None = None
        if self.size:
            self.image_shape = (self.channels, int(self.size), int(self.size))
        elif decode.get("shape") is not None:
            c, h, w = (int(v) for v in decode["shape"])
            self.image_shape = (c, h, w)
        elif not self.files:
            raise DataError(f"{root} holds no images for {name}; check the folder layout")
        else:
            first = self._decode(0)
            self.image_shape = (int(first.shape[0]), int(first.shape[1]), int(first.shape[2]))

    def _read(self, name: str) -> bytes:
        if self._tree is None or self._tree[0] != os.getpid():
            self._tree = (os.getpid(), open_tree(self.root, self.name))
        return self._tree[1].read(name)

    def _decode(self, i: int) -> Tensor:
        name = f"{self.root}/{self.files[i]}"
        return decode_image(self._read(self.files[i]), self.channels, self.size, name)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self._checked(self._decode(i), self.files[i]), int(self.labels[i])

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_tree": None}  # handles stay in the process that opened them


class PackedSource(ImageSource):
    """One split of a JPEG-packed npz (:mod:`icarl.data.packed`, as ``python -m icarl.tools.pack``
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
                f"{path} holds {member} compressed (np.savez_compressed); streaming needs it stored: "
                "write it with np.savez or python -m icarl.tools.pack"
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
