"""Opening streamed datasets, a user's own ``Dataset``, reading batches and the storage choice."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, Sized
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from ..distributed import shard_bounds
from .augment import mean_image, pixel_sum
from .dataset import DataError, check_class_count, names_from_labels, stratified_split
from .files import open_tree
from .guards import class_folders, has_split, refuse_link
from .images import list_image_files
from .streaming import FileSource, ImageSource, PackedSource
from .tinyimagenet import list_files

STREAMABLE = ("imagefolder", "tinyimagenet", "npz")


# ------------------------------------------------------------------ opening
def open_stream(
    dataset: str,
    path: str | Path | None,
    *,
    image_size: int | None = None,
    channels: int = 3,
    test_fraction: float = 0.2,
    split_seed: int = 0,
) -> tuple[ImageSource, ImageSource]:
    """(train, test) sources of ``dataset`` (one of :data:`STREAMABLE`), listed without decoding
    (with ``image_size`` none is decoded; without it, the first image of each split gives the
    shape): the same items, order, labels and class names as the in-memory loader gives.
    ``channels``, ``test_fraction`` and ``split_seed`` are imagefolder's (a folder without
    train/ and test/ is split as :func:`~icarl.data.images.load_imagefolder` splits it)."""
    if dataset not in STREAMABLE:
        raise DataError(f"dataset {dataset!r} cannot be streamed; streamable: {', '.join(STREAMABLE)}")
    if path is None:
        raise DataError(f"streaming {dataset} needs --data PATH")
    p = Path(path)
    if dataset == "imagefolder":
        train, test = _imagefolder(p, image_size, channels, test_fraction, split_seed)
    elif dataset == "tinyimagenet":
        train, test = _tinyimagenet(p, image_size)
    else:
        if not p.is_file():
            raise DataError(f"npz file {p} does not exist; check the path")
        train, test = PackedSource(p, "train", image_size), PackedSource(p, "test", image_size)
    if train.image_shape != test.image_shape:
        raise DataError(
            f"{train.name} train images are {train.image_shape} but test images are "
            f"{test.image_shape}; pass image_size (--image-size) to resize both to one shape"
        )
    return train, test


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


def _imagefolder(
    root: Path, size: int | None, channels: int, test_fraction: float, seed: int
) -> tuple[ImageSource, ImageSource]:
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
        return train, FileSource(root / "test", test_files, yt, tuple(names), root.name, **opts)
    test = stratified_split(y, len(names), test_fraction, seed)
    keep = torch.nonzero(~test).flatten().tolist()
    held = torch.nonzero(test).flatten().tolist()
    train = FileSource(base, [files[i] for i in keep], y[~test], tuple(names), root.name, **opts)
    held_files = [files[i] for i in held]
    return train, FileSource(
        base, held_files, y[test], tuple(names), root.name, shape=train.image_shape, **opts
    )


def _tinyimagenet(path: Path, size: int | None) -> tuple[ImageSource, ImageSource]:
    tree = open_tree(path, "tinyimagenet")
    try:
        found = list_files(tree)
    finally:
        tree.close()
    train_files, train_labels, names = found.train_files, found.train_labels, found.class_names
    val_files, val_labels = found.val_files, found.val_labels
    opts = {"channels": 3, "size": size}
    y, yt = torch.tensor(train_labels, dtype=torch.long), torch.tensor(val_labels, dtype=torch.long)
    return (
        FileSource(path, train_files, y, names, "tinyimagenet", **opts),
        FileSource(path, val_files, yt, names, "tinyimagenet", **opts),
    )


# ------------------------------------------------------------------ a user's dataset
class UserSource(ImageSource):
    """A user's ``torch.utils.data.Dataset`` of ``(image, label)``: the image a tensor, a numpy
    array or a PIL image, uint8 (0-255) or float in [0, 1] (stored as ``round(255 x)``), CHW or
    HWC (told apart by the axis of size 1 or 3). Labels come from ``dataset.targets`` when it
    has them, else from one pass over the dataset (which reads, so decodes, every item once).
    The first item's shape is ``image_shape``; every item must have it."""

    def __init__(self, dataset: Any, class_names: tuple[str, ...] | None = None) -> None:
        self.dataset = dataset
        targets = getattr(dataset, "targets", None)
        if targets is None:
            targets = [int(dataset[i][1]) for i in range(len(dataset))]
        self.labels = torch.as_tensor(np.asarray(targets), dtype=torch.long)
        self.name = type(dataset).__name__
        named = class_names or tuple(getattr(dataset, "classes", None) or ())
        check_class_count(len(named), self.name)
        self.class_names = named or names_from_labels([self.labels.numpy()], self.name)
        if not len(self.labels):
            raise DataError(f"the dataset {self.name} is empty; give it (image, label) items")
        first = self[0][0]
        self.image_shape = (int(first.shape[0]), int(first.shape[1]), int(first.shape[2]))

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        image, label = self.dataset[i]
        where = f"item {i} of {self.name}"
        img = image_to_chw(image, where)
        if hasattr(self, "image_shape") and tuple(img.shape) != self.image_shape:
            raise DataError(f"{where} is {tuple(img.shape)} but item 0 is {self.image_shape}; give one size")
        return img, int(label)


def image_to_chw(image: Any, where: str) -> Tensor:
    """One image as uint8 (C, H, W): from a PIL image, array or tensor, uint8 or [0, 1] floats."""
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image
        image = np.asarray(image.convert("RGB" if image.mode not in ("L", "RGB") else image.mode))
    if not isinstance(image, Tensor):
        arr = np.asarray(image)
        if arr.dtype.kind not in "biuf":
            raise DataError(f"{where} has dtype {arr.dtype}; give uint8 (0-255) or float (0-1) pixels")
        if arr.dtype.kind == "u" and arr.dtype != np.uint8:
            arr = arr.astype(np.int64)  # torch has few operations on wider unsigned types
        image = torch.from_numpy(arr if arr.flags.writeable else arr.copy())  # PIL's are read-only
    t = image
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3:
        raise DataError(f"{where} is shaped {tuple(t.shape)}; give (C, H, W) or (H, W, C) images")
    first, last = t.shape[0] in (1, 3), t.shape[2] in (1, 3)
    if first and last:
        raise DataError(
            f"{where} is shaped {tuple(t.shape)}: the channel axis could be 0 or 2; give (C, H, W)"
        )
    if last and not first:
        t = t.permute(2, 0, 1)
    elif not first:
        raise DataError(f"{where} is shaped {tuple(t.shape)}: no channel axis of size 1 or 3")
    if t.dtype == torch.bool or t.is_complex():
        raise DataError(f"{where} has dtype {t.dtype}; give uint8 (0-255) or float (0-1) pixels")
    if t.is_floating_point():
        if not bool(torch.isfinite(t).all()) or float(t.min()) < 0 or float(t.max()) > 1:
            raise DataError(f"{where} has values outside [0, 1] or NaN; give floats in [0, 1] or uint8")
        t = t.float().mul(255.0).round_()  # as the in-memory path converts floats
    elif t.dtype != torch.uint8 and t.numel() and (int(t.min()) < 0 or int(t.max()) > 255):
        raise DataError(f"{where} has integers in {int(t.min())}..{int(t.max())}; give pixels in 0..255")
    return t.to(torch.uint8).contiguous()


# ------------------------------------------------------------------ reading
def rank_slices(batches: Iterable[Tensor], rank: int, world: int) -> Iterator[Tensor]:
    """This rank's contiguous slice of each global index batch."""
    for idx in batches:
        start, stop = shard_bounds(len(idx), rank, world)
        yield idx[start:stop]


def _collate(shape: tuple[int, int, int], items: list[tuple[Tensor, int]]) -> tuple[Tensor, Tensor]:
    """uint8 (B, C, H, W) and int64 labels; an empty batch (a rank's empty slice) stays empty."""
    if not items:
        return torch.empty((0, *shape), dtype=torch.uint8), torch.empty(0, dtype=torch.long)
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items], dtype=torch.long)


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)


class _IndexLists:
    """The index batches as lists of ints, converted as the DataLoader asks for them."""

    def __init__(self, batches: Iterable[Tensor]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[list[int]]:
        for b in self.batches:
            yield torch.as_tensor(b, dtype=torch.long).flatten().tolist()

    def __len__(self) -> int:
        if not isinstance(self.batches, Sized):
            raise TypeError("these index batches have no length")
        return len(self.batches)


def load_batches(
    source: ImageSource, index_batches: Iterable[Tensor], *, workers: int = 0, pin_memory: bool = False
) -> Iterator[tuple[Tensor, Tensor]]:
    """uint8 (B, C, H, W) images and int64 labels of the given index batches, one per batch, in
    order; only those items are decoded, by ``workers`` processes (0: in this one), each with
    one torch thread and its own file handles."""
    if isinstance(index_batches, Sized) and not len(index_batches):
        return iter(())  # no worker processes for nothing
    loader: DataLoader[tuple[Tensor, int]] = DataLoader(
        source,
        batch_sampler=_IndexLists(index_batches),
        num_workers=workers,
        collate_fn=functools.partial(_collate, source.image_shape),
        pin_memory=pin_memory,
        worker_init_fn=_one_thread if workers else None,
        persistent_workers=False,
    )
    return iter(loader)


def pixel_total(source: ImageSource, batches: list[Tensor], workers: int = 0) -> Tensor:
    """The float64 sum (C, H, W) of the uint8 pixels of the items in ``batches`` (exact), read one
    batch at a time."""
    total = torch.zeros(source.image_shape, dtype=torch.float64)
    for xb, _ in load_batches(source, batches, workers=workers):
        total += pixel_sum(xb)
    return total


def pixel_mean(source: ImageSource, *, batch_size: int = 256, workers: int = 0) -> Tensor:
    """The per-pixel mean image of ``source`` in [0, 1], float32 (C, H, W), from
    :func:`pixel_total`, so one batch at a time is held decoded."""
    batches = list(torch.arange(len(source)).split(batch_size))
    return mean_image(pixel_total(source, batches, workers), len(source))


# ------------------------------------------------------------------ storage
def memory_budget_default() -> int:
    """Bytes a decoded training set may take by default: half the available memory, from
    ``MemAvailable`` in /proc/meminfo (Linux; it counts reclaimable page cache), else from
    ``os.sysconf`` (free pages x page size), else 4 GiB."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 // 2
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


def choose_storage(storage: str, decoded_nbytes: int, budget: int) -> tuple[str, str]:
    """("memory" | "stream", a sentence saying why, with the sizes in GiB) for ``data.storage``
    in memory, stream or auto (auto streams when ``decoded_nbytes`` exceeds ``budget``)."""
    gib = f"{decoded_nbytes / 2**30:.2f} GiB decoded, budget {budget / 2**30:.2f} GiB"
    if storage == "memory":
        return "memory", f"data.storage = 'memory'; {gib}"
    if storage == "stream":
        return "stream", f"data.storage = 'stream'; {gib}"
    if storage != "auto":
        raise DataError(f"data.storage is {storage!r}; choose one of memory, stream, auto")
    if decoded_nbytes > budget:
        return "stream", f"auto: the data would take {gib} (data.memory_budget)"
    return "memory", f"auto: the data fit, {gib}"
