"""In-memory datasets: uint8 image tensors, integer labels, class names.

Every loader returns a :class:`Dataset`. Images are ``uint8`` tensors shaped
``(N, C, H, W)``; labels are ``int64`` tensors shaped ``(N,)`` with values in
``[0, len(class_names))``. Nothing here decodes files: sources do that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..errors import IcarlError
from ..files.checkpoint import data_fingerprint
from ..files.limits import exceeds, refusal


class DataError(IcarlError):
    """Bad or unreadable data; the message names the problem and the fix."""


@dataclass(frozen=True)
class Split:
    """One split of a dataset: images ``x`` (uint8, N×C×H×W) and labels ``y`` (int64, N)."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, mask_or_index: Tensor) -> Split:
        return Split(self.x[mask_or_index], self.y[mask_or_index])

    def of_classes(self, classes: list[int] | Tensor) -> Split:
        """The items whose label is in ``classes``, in their original order."""
        wanted = torch.as_tensor(classes, dtype=torch.long)
        return self.subset(torch.isin(self.y, wanted))


@dataclass(frozen=True)
class Dataset:
    """A labelled image dataset with a train and a test split."""

    name: str
    train: Split
    test: Split
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def decoded_nbytes(self) -> int:
        return int(self.train.x.numel() + self.test.x.numel())

    def fingerprint(self) -> str:
        """SHA-256 over the bytes, shapes and dtypes of the images and labels (its identity)."""
        return data_fingerprint(self.train.x, self.train.y, self.test.x, self.test.y)

    def validate(self) -> Dataset:
        """Check shapes, dtypes and labels; raise :class:`DataError` naming the problem."""
        check_class_count(self.num_classes, self.name)
        for split_name, split in (("train", self.train), ("test", self.test)):
            x, y = split.x, split.y
            if not isinstance(x, Tensor) or not isinstance(y, Tensor):
                raise DataError(
                    f"{self.name} {split_name} holds {type(x).__name__} images and {type(y).__name__} "
                    "labels; give torch tensors (torch.as_tensor(x), torch.as_tensor(y, dtype=torch.int64))"
                )
            if x.dtype != torch.uint8:
                raise DataError(
                    f"{self.name} {split_name} images have dtype {x.dtype}; "
                    "expected uint8 (convert pixels to 0-255 integers)"
                )
            if x.ndim != 4:
                raise DataError(
                    f"{self.name} {split_name} images have shape {tuple(x.shape)}; expected (N, C, H, W)"
                )
            if y.ndim != 1 or y.shape[0] != x.shape[0]:
                raise DataError(
                    f"{self.name} {split_name} has {x.shape[0]} images but labels of shape "
                    f"{tuple(y.shape)}; give one integer label per image"
                )
            if y.dtype != torch.long:
                raise DataError(f"{self.name} {split_name} labels have dtype {y.dtype}; expected int64")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise DataError(
                    f"{self.name} {split_name} labels range {int(y.min())}..{int(y.max())} but there "
                    f"are {self.num_classes} class names; labels must lie in 0..{self.num_classes - 1}"
                )
        if self.train.x.shape[1:] != self.test.x.shape[1:]:
            raise DataError(
                f"{self.name} train images are {tuple(self.train.x.shape[1:])} but test images are "
                f"{tuple(self.test.x.shape[1:])}; resize both to one shape"
            )
        return self


def check_class_count(count: int, where: str) -> int:
    """``count`` classes, or :class:`DataError` when above ``ICARL_MAX_CLASSES``."""
    if exceeds("ICARL_MAX_CLASSES", count):
        raise DataError(refusal(where, f"{count} classes", "ICARL_MAX_CLASSES"))
    return count


def names_from_labels(labels: list[np.ndarray], where: str) -> tuple[str, ...]:
    """Class names "0".."top" for integer labels used as class indices: refused when the top
    label exceeds ``ICARL_MAX_CLASSES`` or the labels are too sparse to be indices (more than
    twice as many classes as distinct values, plus 100), before any name is built."""
    values = [y for y in labels if y.size]
    if not values:
        return ()
    top = max(int(y.max()) for y in values)
    check_class_count(top + 1, f"{where} (labels up to {top})")
    distinct = len(np.unique(np.concatenate([y.reshape(-1) for y in values])))
    if top + 1 > 2 * distinct + 100:
        raise DataError(
            f"{where}: {distinct} distinct labels run up to {top}, too sparse to be class indices; "
            f"renumber them 0..{distinct - 1} (np.unique(y, return_inverse=True)) or save class_names"
        )
    return tuple(str(i) for i in range(top + 1))


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


def stratified_split(y: Tensor, num_classes: int, test_fraction: float, seed: int) -> Tensor:
    """A boolean test mask: ``round(test_fraction * n_c)`` random items of each class ``c``."""
    if not 0.0 <= test_fraction < 1.0:
        raise DataError(f"test_fraction is {test_fraction}; use a fraction in [0, 1)")
    g = torch.Generator().manual_seed(int(seed))
    test = torch.zeros(len(y), dtype=torch.bool)
    for c in range(num_classes):
        idx = torch.nonzero(y == c).flatten()
        n_test = round(test_fraction * len(idx))
        test[idx[torch.randperm(len(idx), generator=g)[:n_test]]] = True
    return test
