"""A dataset whose splits are streamed image sources, with the interface of
:class:`~icarl.data.dataset.Dataset` that the stream of steps and the run loop use.

``split.x`` is the :class:`~icarl.data.streaming.ImageSource` itself (the learner reads it
in batches), ``split.y`` its labels (known without decoding), so
``learner.partial_fit(step.train.x, step.train.y)`` works for either storage.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from torch import Tensor

from .streaming import ImageSource


class ConcatSource(ImageSource):
    """Sources one after another (new data, then the exemplars held in RAM)."""

    def __init__(self, parts: list[ImageSource]) -> None:
        self.parts = parts
        self.labels = torch.cat([p.labels for p in parts])
        self.class_names, self.image_shape, self.name = (
            parts[0].class_names,
            parts[0].image_shape,
            parts[0].name,
        )
        self.starts = torch.tensor([0, *[len(p) for p in parts]]).cumsum(0)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        k = int(torch.searchsorted(self.starts, torch.tensor(i), right=True)) - 1
        return self.parts[k][i - int(self.starts[k])]


@dataclass(frozen=True)
class SourceSplit:
    x: ImageSource

    @property
    def y(self) -> Tensor:
        return self.x.labels

    def __len__(self) -> int:
        return len(self.x)

    def of_classes(self, classes: list[int] | Tensor) -> SourceSplit:
        return SourceSplit(self.x.of_classes(torch.as_tensor(classes, dtype=torch.long).tolist()))


@dataclass(frozen=True)
class SourceDataset:
    """A labelled image dataset streamed from files: a train and a test source."""

    name: str
    train: SourceSplit
    test: SourceSplit
    class_names: tuple[str, ...]

    @classmethod
    def of(cls, train: ImageSource, test: ImageSource) -> SourceDataset:
        return cls(train.name, SourceSplit(train), SourceSplit(test), tuple(train.class_names))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.train.x.image_shape

    @property
    def decoded_nbytes(self) -> int:
        return int(self.train.x.decoded_nbytes + self.test.x.decoded_nbytes)

    def fingerprint(self) -> str:
        """SHA-256 of what identifies the data without decoding: names, shape, labels, size."""
        h = hashlib.sha256(f"{self.name};{self.class_names};{self.image_shape};".encode())
        for split in (self.train, self.test):
            h.update(f"{len(split)};".encode())
            h.update(split.y.to(torch.int64).contiguous().numpy().tobytes())
        return h.hexdigest()
