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
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset as TorchDataset

from .dataset import DataError
from .files import FileTree, open_tree
from .images import decode_image
from .packed import check_offsets, packed_keys


class ImageSource(TorchDataset[tuple[Tensor, int]]):
    """Indexable images with ``labels`` (int64), ``class_names``, ``image_shape`` and ``name``."""

    labels: Tensor
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    name: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        raise NotImplementedError

    def subset(self, indices: Tensor) -> ImageSource:
        return SubsetSource(self, torch.as_tensor(indices, dtype=torch.long))

    def of_classes(self, classes: Sequence[int]) -> ImageSource:
        """The items whose label is in ``classes``, in their original order."""
        wanted = torch.as_tensor(list(classes), dtype=torch.long)
        return self.subset(torch.nonzero(torch.isin(self.labels, wanted)).flatten())

    @property
    def decoded_nbytes(self) -> int:
        c, h, w = self.image_shape
        return len(self) * c * h * w


class SubsetSource(ImageSource):
    def __init__(self, parent: ImageSource, indices: Tensor) -> None:
        self.parent, self.indices = parent, indices
        self.labels = parent.labels[indices]
        self.class_names, self.image_shape, self.name = parent.class_names, parent.image_shape, parent.name

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.parent[int(self.indices[i])]


class TensorSource(ImageSource):
    def __init__(self, x: Tensor, y: Tensor, class_names: tuple[str, ...], name: str) -> None:
        self.x, self.labels, self.class_names, self.name = x, y.long(), class_names, name
        self.image_shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.x[i], int(self.labels[i])


class FileSource(ImageSource):
    """Image files of a folder or an archive, decoded on demand. Each process opens its own
    handle on the archive (DataLoader workers are separate processes)."""

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
            root,
            files,
            labels,
            class_names,
            name,
        )
        self.channels, self.size = int(decode.get("channels", 3)), decode.get("size")
        self._tree: tuple[int, FileTree] | None = None
        if not files and decode.get("shape") is None:
            raise DataError(f"{root} holds no images for {name}; check the folder layout")
        first = self._decode(0) if files else torch.empty(decode["shape"])
        self.image_shape = (int(first.shape[0]), int(first.shape[1]), int(first.shape[2]))

    def _read(self, name: str) -> bytes:
        if self._tree is None or self._tree[0] != os.getpid():
            self._tree = (os.getpid(), open_tree(self.root, self.name))
        return self._tree[1].read(name)

    def _decode(self, i: int) -> Tensor:
        return decode_image(self._read(self.files[i]), self.channels, self.size)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        img = self._decode(i)
        if tuple(img.shape) != self.image_shape:
            raise DataError(
                f"image {self.files[i]} is {tuple(img.shape)} but the others are {self.image_shape}; "
                "pass image_size (--image-size) to resize them all"
            )
        return img, int(self.labels[i])

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_tree": None}  # handles stay in the process that opened them


class PackedSource(ImageSource):
    """One split of a JPEG-packed npz: each image's bytes read by its offsets; a stored
    (uncompressed) member is memory-mapped, so nothing is read before it is asked for."""

    def __init__(self, path: Path, split: str) -> None:
        jpeg, off_key, y_key = packed_keys(split)
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in (off_key, y_key) if k not in f.files]
            if missing or jpeg not in f.files:
                raise DataError(f"{path} is not a JPEG-packed npz (no {jpeg}); pack it with icarl.tools.pack")
            self.labels = torch.from_numpy(f[y_key].astype(np.int64))
            names = f["class_names"].reshape(-1).tolist() if "class_names" in f.files else None
        self.path, self.split, self.name = path, split, path.stem
        self.data = _member_array(path, f"{jpeg}.npy")
        self.offsets = check_offsets(
            _member_array(path, f"{off_key}.npy"), len(self.data), len(self), split, str(path)
        )
        top = int(self.labels.max()) + 1 if len(self) else 0
        self.class_names = tuple(str(n) for n in names) if names else tuple(str(i) for i in range(top))
        if not len(self):
            raise DataError(f"{path} has no {split} images; pack it again with python -m icarl.tools.pack")
        self.channels = 3
        with Image.open(io.BytesIO(self._bytes(0))) as im:
            self.channels = 1 if im.mode == "L" else 3
        first = self[0][0]
        self.image_shape = (int(first.shape[0]), int(first.shape[1]), int(first.shape[2]))

    def _bytes(self, i: int) -> bytes:
        return bytes(self.data[self.offsets[i] : self.offsets[i + 1]])

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return decode_image(self._bytes(i), self.channels), int(self.labels[i])


def _member_array(path: Path, member: str) -> np.ndarray:
    """An array of the npz, memory-mapped when its member is stored uncompressed."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
        if info.compress_type != zipfile.ZIP_STORED:
            with z.open(member) as f:
                return np.lib.format.read_array(f, allow_pickle=False)
        with z.open(member) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            header = f.tell()
    with open(path, "rb") as raw:
        raw.seek(info.header_offset + 26)
        name_len, extra_len = np.frombuffer(raw.read(4), dtype="<u2")
    start = info.header_offset + 30 + int(name_len) + int(extra_len) + header
    if fortran or not shape or not int(np.prod(shape)):
        with zipfile.ZipFile(path) as z, z.open(member) as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    return np.memmap(path, dtype=dtype, mode="r", offset=start, shape=shape)
