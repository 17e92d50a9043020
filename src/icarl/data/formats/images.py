"""Image files: decoding with Pillow to uint8 tensors, resizing, the files of a folder or an
archive as a source read on demand (:class:`FileSource`), and the ``imagefolder`` format
(loaded into memory, or opened and read in batches)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ...errors import DataError
from ..dataset import Dataset, of_sources, stratified_split
from ..registry import register
from ..source import ImageSource, TensorSource
from .files import FileTree, open_tree
from .guards import (
    bomb_refusal,
    check_pixels,
    class_folders,
    follow_pixel_limit,
    has_split,
    refuse_link,
    regular_files,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def decode_image(
    source: str | Path | bytes, channels: int = 3, size: int | None = None, name: str | None = None
) -> Tensor:
    """Decode one image to a uint8 tensor (C, H, W); ``channels`` 1 (L) or 3 (RGB);
    ``size`` resizes to size×size (bilinear) when given; ``name`` names bytes in errors.
    The pixel count is checked from the header first (``ICARL_MAX_PIXELS``)."""
    from PIL import Image, UnidentifiedImageError

    name = name or ("<bytes>" if isinstance(source, bytes) else str(source))
    follow_pixel_limit()
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as opened:
            check_pixels(opened, f"image {name}")
            im = opened.convert("L" if channels == 1 else "RGB")
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            arr = np.array(im, dtype=np.uint8)  # a writable copy (torch warns on read-only)
    except DataError:
        raise
    except Image.DecompressionBombError as e:
        raise bomb_refusal(f"image {name}", e) from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"cannot decode image {name}: {e}; replace or remove the file") from None
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(arr))


def resize_images(x: Tensor, size: int | None) -> Tensor:
    """uint8 (N, C, H, W) -> (N, C, size, size), antialiased bilinear; unchanged if ``size`` is
    None or already the size. For sources that hold raw pixels (decoded files use Pillow)."""
    if not size or tuple(x.shape[2:]) == (size, size):
        return x
    out = []
    for i in range(0, x.shape[0], 4096):
        xb = x[i : i + 4096].float()
        xb = torch.nn.functional.interpolate(
            xb, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        out.append(xb.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out) if out else x.new_empty((0, x.shape[1], size, size))


def list_image_files(folder: Path) -> list[Path]:
    """The image files of ``folder``, sorted; a symbolic link among them is refused."""
    return regular_files(folder, IMAGE_SUFFIXES)


def read_class_folders(
    root: Path, channels: int, size: int | None, class_names: list[str] | None = None
) -> tuple[Tensor, Tensor, list[str]]:
    """``root/<class>/<image>``: images, labels (index into the sorted class folder names)."""
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; pass a folder with one subfolder per class")
    names = class_names or class_folders(root)
    if not names:
        raise DataError(f"{root} has no class subfolders; put each class's images in root/<class>/")
    images: list[Tensor] = []
    labels: list[int] = []
    for label, name in enumerate(names):
        folder = root / name
        refuse_link(folder)
        files = list_image_files(folder) if folder.is_dir() else []
        for f in files:
            images.append(decode_image(f, channels, size))
            labels.append(label)
    if not images:
        raise DataError(f"{root} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    shapes = {tuple(t.shape) for t in images}
    if len(shapes) > 1:
        raise DataError(
            f"images in {root} have different sizes {sorted(shapes)[:3]}; pass image_size to resize"
        )
    return torch.stack(images), torch.tensor(labels, dtype=torch.long), names


def load_imagefolder(
    path: str | Path | None,
    image_size: int | None = None,
    channels: int = 3,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    **_options: Any,
) -> Dataset[TensorSource]:
    """One folder per class. With ``train/`` and ``test/`` subfolders those are the splits;
    otherwise a seeded, per-class split puts ``test_fraction`` of each class in test."""
    if path is None:
        raise DataError("the imagefolder dataset needs --data PATH (a folder of class folders)")
    root = Path(path)
    if has_split(root):
        x, y, names = read_class_folders(root / "train", channels, image_size)
        xt, yt, _ = read_class_folders(root / "test", channels, image_size, names)
        return Dataset(root.name, TensorSource(x, y), TensorSource(xt, yt), tuple(names))
    x, y, names = read_class_folders(root, channels, image_size)
    test = stratified_split(y, len(names), test_fraction, split_seed)
    return Dataset(root.name, TensorSource(x[~test], y[~test]), TensorSource(x[test], y[test]), tuple(names))


# ------------------------------------------------------------------ read on demand
class FileSource(ImageSource):
    """Image files of a folder or members of an archive (``files``: names relative to ``root``),
    decoded on demand with :func:`decode_image`. Options: ``channels`` (1 or
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


def _class_files(root: Path, names: list[str]) -> tuple[list[str], list[int]]:
    files: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(names):  # as images.read_class_folders lists them
        folder = root / name
        refuse_link(folder)
        found = list_image_files(folder) if folder.is_dir() else []
        files += [f"{name}/{f.name}" for f in found]
        labels += [label] * len(found)
    return files, labels


def open_imagefolder(
    path: str | Path | None,
    image_size: int | None = None,
    channels: int = 3,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    **_options: Any,
) -> Dataset[ImageSource]:
    """The image folder as file sources (nothing decoded with ``image_size``): the items, order,
    labels and seeded split of :func:`load_imagefolder`."""
    root, size = Path(path or ""), image_size
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; pass a folder with one subfolder per class")
    split = has_split(root)
    base = root / "train" if split else root
    names = class_folders(base)
    if not names:
        raise DataError(f"{base} has no class subfolders; put each class's images in root/<class>/")
    opts = {"channels": channels, "size": size}
    files, labels = _class_files(base, names)
    y = torch.tensor(labels, dtype=torch.long)
    if split:
        test_files, test_labels = _class_files(root / "test", names)
        train = FileSource(base, files, y, tuple(names), root.name, **opts)
        yt = torch.tensor(test_labels, dtype=torch.long)
        return of_sources(train, FileSource(root / "test", test_files, yt, tuple(names), root.name, **opts))
    test = stratified_split(y, len(names), test_fraction, split_seed)
    keep = torch.nonzero(~test).flatten().tolist()
    held = torch.nonzero(test).flatten().tolist()
    train = FileSource(base, [files[i] for i in keep], y[~test], tuple(names), root.name, **opts)
    held_files = [files[i] for i in held]
    # the test split's shape is the train split's (it may hold no file to read it from)
    test_source = FileSource(
        base, held_files, y[test], tuple(names), root.name, shape=train.image_shape, **opts
    )
    return of_sources(train, test_source)


register("imagefolder", load=load_imagefolder, open=open_imagefolder, cache=True)
