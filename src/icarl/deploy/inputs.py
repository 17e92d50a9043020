"""Images a deployed model is handed: image files, folders and .npz arrays, conformed to
the model's channels and size."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..data.dataset import Dataset
from ..data.formats.guards import LINK_FIX
from ..data.formats.images import IMAGE_SUFFIXES, decode_image
from ..data.formats.npzfile import read_npz
from ..data.source import TensorSource
from ..errors import IcarlError


class InputError(IcarlError):
    """Images for learn / predict that cannot be used as they are."""


# -------------------------------------------------------------------- images
def conform_images(x: Tensor, shape: tuple[int, int, int], where: str) -> Tensor:
    """uint8 (N, C, H, W) -> the model's ``shape``: 1<->3 channels, bilinear resize."""
    c, h, w = shape
    if x.ndim != 4:
        raise InputError(f"{where}: images shaped {tuple(x.shape)}; expected (N, C, H, W)")
    if x.shape[1] != c:
        if (x.shape[1], c) == (3, 1):  # ITU-R 601 luma, as Pillow's convert("L")
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            x = (x.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
        elif (x.shape[1], c) == (1, 3):
            x = x.expand(-1, 3, -1, -1).contiguous()
        else:
            raise InputError(
                f"{where}: images have {x.shape[1]} channels but the model takes {c}; "
                "give 1-channel (grey) or 3-channel (RGB) images"
            )
    if tuple(x.shape[2:]) != (h, w) and x.shape[0]:
        resized = torch.nn.functional.interpolate(
            x.float(), size=(h, w), mode="bilinear", antialias=True, align_corners=False
        )
        x = resized.round().clamp(0, 255).to(torch.uint8)
    return x


def conform_dataset(data: Dataset[TensorSource], shape: tuple[int, int, int]) -> Dataset[TensorSource]:
    train = TensorSource(conform_images(data.train.x, shape, f"{data.name} train"), data.train.y)
    test = TensorSource(conform_images(data.test.x, shape, f"{data.name} test"), data.test.y)
    return Dataset(data.name, train, test, data.class_names)


# --------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Inputs:
    x: Tensor  # uint8 (N, C, H, W) in the model's shape
    ids: list[str]  # a name per image: its path, or file.npz[i]
    folders: list[str]  # each image's parent folder name ("" for NPZ items)


def _image_files(path: Path) -> list[Path]:
    """The image files under ``path``, recursively; a symbolic link among them is refused."""
    found = []
    for p in path.rglob("*"):
        if p.is_symlink():
            raise InputError(f"{p} is a symbolic link; refused ({LINK_FIX})")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            found.append(p)
    return sorted(found)


def _read_npz(path: Path) -> Tensor:
    try:
        arrays, names = read_npz(path, ("x",))
    except IcarlError as e:
        raise InputError(str(e)) from None
    if "x" not in arrays:
        raise InputError(f"{path} has no array 'x' (found {sorted(names)}); save x=images")
    arr = arrays["x"]
    if arr.dtype != np.uint8:
        raise InputError(f"{path}: 'x' has dtype {arr.dtype}; save uint8 pixels in 0..255")
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[1] not in (1, 3, 4) and arr.shape[3] in (1, 3, 4):
        arr = arr.transpose(0, 3, 1, 2)  # NHWC; a 4th channel is refused in conform_images
    if arr.ndim != 4 or arr.shape[1] not in (1, 3, 4):
        raise InputError(
            f"{path}: 'x' has shape {arr.shape}; expected (N, H, W), (N, H, W, C) or (N, C, H, W)"
        )
    return torch.from_numpy(np.ascontiguousarray(arr))


def read_inputs(paths: list[str], shape: tuple[int, int, int]) -> Inputs:
    """Image files, folders (recursively their images) and .npz files -> the model's shape."""
    c, h, w = shape
    images: list[Tensor] = []
    ids: list[str] = []
    folders: list[str] = []
    for spec in paths:
        p = Path(spec)
        if not p.exists():
            raise InputError(f"input {spec} does not exist; pass image files, folders or .npz files")
        if p.suffix.lower() == ".npz":
            x = conform_images(_read_npz(p), shape, str(p))
            images.append(x)
            ids += [f"{p}[{i}]" for i in range(x.shape[0])]
            folders += [""] * x.shape[0]
            continue
        files = _image_files(p) if p.is_dir() else [p]
        if p.is_dir() and not files:
            raise InputError(f"folder {p} holds no image files; pass a folder of images")
        for f in files:
            img = decode_image(f, channels=c, size=h if h == w else None)
            images.append(conform_images(img[None], shape, str(f)))
            ids.append(str(f))
            folders.append(f.parent.name)
    if not images:
        raise InputError("no inputs given; pass image files, folders or .npz files")
    return Inputs(torch.cat(images), ids, folders)
