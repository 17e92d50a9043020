"""Tiny-ImageNet in its official layout, from the zip or the extracted folder.

``wnids.txt`` lists the classes (a class's label is its line number);
``train/<wnid>/images/*.JPEG`` are the training images; ``val/val_annotations.txt``
labels ``val/images/*`` and serves as the test set (the official test split has no
labels). Class names come from ``words.txt`` (its first synonym). Greyscale JPEGs
are converted to RGB; ``image_size`` resizes at load time (e.g. 32 for the CIFAR protocol).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ...errors import DataError
from ..dataset import Dataset, of_sources
from ..registry import register
from ..source import ImageSource, TensorSource, check_class_count
from .files import FileTree, find_root, open_tree
from .guards import relative_name
from .images import IMAGE_SUFFIXES, FileSource, decode_image


def _lines(tree: FileTree, name: str) -> list[str]:
    try:
        text = tree.read(name).decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{name} is not UTF-8 text; the archive is damaged") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _class_names(tree: FileTree, root: str, wnids: list[str]) -> tuple[str, ...]:
    words: dict[str, str] = {}
    if root + "words.txt" in set(tree.names()):
        for line in _lines(tree, root + "words.txt"):
            wnid, _, text = line.partition("\t")
            words[wnid] = text.split(",")[0].strip() or wnid
    return tuple(words.get(w, w) for w in wnids)


def _train_files(names: list[str], root: str, wnids: list[str]) -> tuple[list[str], list[int]]:
    label = {w: i for i, w in enumerate(wnids)}
    found: list[tuple[int, str]] = []
    prefix = root + "train/"
    for n in names:
        if not n.startswith(prefix) or not n.lower().endswith(IMAGE_SUFFIXES):
            continue
        parts = n[len(prefix) :].split("/")
        if len(parts) == 3 and parts[1] == "images" and parts[0] in label:
            found.append((label[parts[0]], n))
    found.sort()
    counts = {lab for lab, _ in found}
    missing = [wnids[i] for i in range(len(wnids)) if i not in counts]
    if missing:
        raise DataError(
            f"classes {missing[:3]} of wnids.txt have no train/<wnid>/images/ files; "
            "the archive is incomplete, download it again"
        )
    return [n for _, n in found], [lab for lab, _ in found]


def _val_files(tree: FileTree, root: str, wnids: list[str]) -> tuple[list[str], list[int]]:
    ann = root + "val/val_annotations.txt"
    if ann not in set(tree.names()):
        raise DataError(
            f"{getattr(tree, 'path', '')} has no val/val_annotations.txt; the test set is missing"
        )
    label = {w: i for i, w in enumerate(wnids)}
    files: list[str] = []
    labels: list[int] = []
    for k, line in enumerate(_lines(tree, ann)):
        parts = line.split("\t")
        if len(parts) < 2:
            raise DataError(f"val_annotations.txt line {k + 1} is {line!r}; expected 'file<TAB>wnid ...'")
        if parts[1] not in label:
            raise DataError(
                f"val_annotations.txt line {k + 1} names class {parts[1]!r}, which is not in wnids.txt"
            )
        name = relative_name(parts[0], f"val_annotations.txt line {k + 1}")
        files.append(f"{root}val/images/{name}")
        labels.append(label[parts[1]])
    return files, labels


@dataclass(frozen=True)
class Listing:
    """The files and labels of both splits, and the class names, found without decoding."""

    train_files: list[str]
    train_labels: list[int]
    val_files: list[str]
    val_labels: list[int]
    class_names: tuple[str, ...]


def list_files(tree: FileTree) -> Listing:
    root = find_root(tree, "wnids.txt", "Tiny-ImageNet")
    wnids = _lines(tree, root + "wnids.txt")
    check_class_count(len(wnids), f"{getattr(tree, 'path', '')} wnids.txt")
    if len(set(wnids)) != len(wnids):
        raise DataError("wnids.txt lists a class twice; the archive is damaged")
    train_files, train_labels = _train_files(tree.names(), root, wnids)
    val_files, val_labels = _val_files(tree, root, wnids)
    return Listing(train_files, train_labels, val_files, val_labels, _class_names(tree, root, wnids))


def decode_all(tree: FileTree, files: Sequence[str], size: int | None, workers: int) -> Tensor:
    """Decode ``files`` to one uint8 (N, 3, H, W) tensor; Pillow releases the GIL, so threads help."""

    def one(name: str) -> Tensor:
        return decode_image(tree.read(name), 3, size, name=f"{getattr(tree, 'path', '')}/{name}")

    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            images = list(pool.map(one, files, chunksize=256))
    else:
        images = [one(f) for f in files]
    shapes = {tuple(t.shape) for t in images}
    if len(shapes) > 1:
        raise DataError(f"images have different sizes {sorted(shapes)[:3]}; pass image_size to resize")
    return torch.stack(images)


def load_tinyimagenet(
    path: str | Path | None,
    image_size: int | None = None,
    workers: int = 0,
    **_: Any,
) -> Dataset[TensorSource]:
    """Tiny-ImageNet (200 classes, or any subset archive in the same layout), 64×64 RGB."""
    if path is None:
        raise DataError("the tinyimagenet dataset needs --data PATH (the zip or its extracted folder)")
    tree = open_tree(path, "tinyimagenet")
    try:
        listing = list_files(tree)
        # zip reads hold the archive's lock; a folder can feed several threads
        nworkers = workers or min(4, os.cpu_count() or 1)
        x = decode_all(tree, listing.train_files, image_size, nworkers)
        xt = decode_all(tree, listing.val_files, image_size, nworkers)
    finally:
        tree.close()
    train_labels, val_labels, class_names = listing.train_labels, listing.val_labels, listing.class_names
    return Dataset(
        "tinyimagenet",
        TensorSource(x, torch.tensor(train_labels, dtype=torch.long)),
        TensorSource(xt, torch.tensor(val_labels, dtype=torch.long)),
        class_names,
    )


def open_tinyimagenet(
    path: str | Path | None, image_size: int | None = None, **_: Any
) -> Dataset[ImageSource]:
    """Tiny-ImageNet's files as sources read on demand: the items, order and labels of
    :func:`load_tinyimagenet`."""
    tree = open_tree(path or "", "tinyimagenet")
    try:
        found = list_files(tree)
    finally:
        tree.close()
    opts = {"channels": 3, "size": image_size}
    y, yt = (
        torch.tensor(found.train_labels, dtype=torch.long),
        torch.tensor(found.val_labels, dtype=torch.long),
    )
    return of_sources(
        FileSource(Path(path or ""), found.train_files, y, found.class_names, "tinyimagenet", **opts),
        FileSource(Path(path or ""), found.val_files, yt, found.class_names, "tinyimagenet", **opts),
    )


register("tinyimagenet", load=load_tinyimagenet, open=open_tinyimagenet, cache=True)
