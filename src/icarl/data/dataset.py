"""A labelled image dataset: a train and a test :class:`~icarl.data.source.ImageSource` and
the class names.

:func:`~icarl.data.registry.load_dataset` decodes a dataset into memory: its splits are
:class:`~icarl.data.source.TensorSource` (``data.train.x`` uint8 (N, C, H, W), ``data.train.y``
int64 (N,) with values in ``[0, len(class_names))``). :func:`~icarl.data.registry.open_dataset`
lists the files of a dataset larger than memory without decoding them: its splits are sources
read in batches. Everything downstream (the stream of steps, the learner, the evaluation)
takes either.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch
from torch import Tensor

from ..errors import DataError
from .source import ImageSource, check_class_count

S = TypeVar("S", bound=ImageSource, covariant=True)  # the type of the splits


@dataclass(frozen=True)
class Dataset(Generic[S]):
    """A labelled image dataset with a train and a test split."""

    name: str
    train: S
    test: S
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.train.image_shape

    @property
    def decoded_nbytes(self) -> int:
        return int(self.train.decoded_nbytes + self.test.decoded_nbytes)

    def fingerprint(self) -> str:
        """SHA-256 of what identifies the data (what ``icarl rerun`` and ``--resume`` compare):
        every byte of images held in memory; for sources read from files, the names, the image
        shape and each split's size and labels (nothing is decoded)."""
        h = hashlib.sha256(self.train.identity_head(self.name, self.class_names))
        for split in (self.train, self.test):
            for part in split.identity():
                h.update(part)
        return h.hexdigest()

    def validate(self) -> Dataset[S]:
        """Check the images, labels and shapes; raise :class:`DataError` naming the problem."""
        check_class_count(self.num_classes, self.name)
        self.train.check(f"{self.name} train", self.num_classes)
        self.test.check(f"{self.name} test", self.num_classes)
        if self.train.image_shape != self.test.image_shape:
            raise DataError(
                f"{self.name} train images are {self.train.image_shape} but test images are "
                f"{self.test.image_shape}; pass image_size (--image-size) to resize both to one shape"
            )
        return self


def of_sources(train: ImageSource, test: ImageSource) -> Dataset[ImageSource]:
    """The dataset of two sources read from files (its name and class names are theirs)."""
    return Dataset(train.name, train, test, tuple(train.class_names))


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
