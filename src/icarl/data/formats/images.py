"""Image files: decoding with Pillow to uint8 tensors, and the ``imagefolder`` source."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .dataset import DataError, Dataset, Split, stratified_split
from .guards import (
    bomb_refusal,
    check_pixels,
    class_folders,
    follow_pixel_limit,
    has_split,
    refuse_link,
    regular_files,
)
from .sources import register

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


@register("imagefolder", cache=True)
def load_imagefolder(
    path: str | Path | None,
    image_size: int | None = None,
    channels: int = 3,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    **_options: Any,
) -> Dataset:
    """One folder per class. With ``train/`` and ``test/`` subfolders those are the splits;
    otherwise a seeded, per-class split puts ``test_fraction`` of each class in test."""
    if path is None:
        raise DataError("the imagefolder dataset needs --data PATH (a folder of class folders)")
    root = Path(path)
    if has_split(root):
        x, y, names = read_class_folders(root / "train", channels, image_size)
        xt, yt, _ = read_class_folders(root / "test", channels, image_size, names)
        return Dataset(root.name, Split(x, y), Split(xt, yt), tuple(names))
    x, y, names = read_class_folders(root, channels, image_size)
    test = stratified_split(y, len(names), test_fraction, split_seed)
    return Dataset(root.name, Split(x[~test], y[~test]), Split(x[test], y[test]), tuple(names))
