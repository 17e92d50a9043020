"""The streaming path's reading: each rank decodes only its slice of each global batch
(through a DataLoader with decoding workers), and its shard of a feature pass."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from .. import distributed
from ..data.augment import mean_image
from ..data.streaming import ImageSource, TensorSource
from ..data.streamload import load_batches, pixel_total, rank_slices
from ..data.streamset import ConcatSource
from ..distributed import shard_bounds


class SourceReader:
    """A :class:`~icarl.train.loop.BatchReader` over an image source; labels go through
    ``lut`` (original label -> output index)."""

    def __init__(self, source: ImageSource, lut: Tensor, device: torch.device, workers: int) -> None:
        self.source, self.lut, self.device, self.workers = source, lut, device, workers

    def __len__(self) -> int:
        return len(self.source)

    def read(self, index_batches: list[Tensor]) -> Iterator[tuple[Tensor, Tensor]]:
        local = list(rank_slices(index_batches, distributed.rank(), distributed.world()))
        pin = self.device.type == "cuda"
        for xb, yb in load_batches(self.source, local, workers=self.workers, pin_memory=pin):
            yield xb.to(self.device, non_blocking=pin), self.lut[yb].to(self.device, non_blocking=pin)


def shard_batches(n: int, batch_size: int) -> list[Tensor]:
    """This rank's contiguous share of ``range(n)``, in batches (a feature pass)."""
    start, stop = shard_bounds(n, distributed.rank(), distributed.world())
    idx = torch.arange(start, stop)
    return list(idx.split(batch_size)) if stop > start else []


def read_shard(source: ImageSource, batch_size: int, workers: int) -> Iterator[Tensor]:
    """uint8 batches of this rank's share of ``source``, in order."""
    for xb, _ in load_batches(source, shard_batches(len(source), batch_size), workers=workers):
        yield xb


def pixel_mean_of(source: ImageSource, batch_size: int, workers: int) -> Tensor:
    """The per-pixel mean image in [0, 1] by running float64 sums, each rank over its share."""
    total = pixel_total(source, shard_batches(len(source), batch_size), workers)
    return mean_image(distributed.all_reduce_sum(total), len(source))  # DDP: every rank's share


def label_lut(classes: list[int]) -> Tensor:
    """original label -> output index (position in ``classes``); -1 elsewhere."""
    lut = torch.full((max(classes, default=0) + 1,), -1, dtype=torch.long)
    lut[torch.tensor(classes, dtype=torch.long)] = torch.arange(len(classes))
    return lut


def training_reader(
    source: ImageSource,
    exemplars: tuple[Tensor, Tensor],
    classes: list[int],
    device: torch.device,
    workers: int,
) -> SourceReader:
    """New data streamed from ``source`` followed by the exemplars held in RAM (internal labels),
    in that order (as the in-memory path concatenates them)."""
    ex_x, ex_y = exemplars
    parts: list[ImageSource] = [source]
    if len(ex_y):
        original = torch.tensor(classes, dtype=torch.long)[ex_y]
        parts.append(TensorSource(ex_x, original, tuple(source.class_names), "exemplars"))
    combined = parts[0] if len(parts) == 1 else ConcatSource(parts)
    return SourceReader(combined, label_lut(classes), device, workers)


def take(source: ImageSource, order: Tensor, batch_size: int = 256) -> Tensor:
    """The uint8 images ``source[order]`` (exemplars), read in batches, in that order."""
    if len(order) == 0:
        c, h, w = source.image_shape
        return torch.empty(0, c, h, w, dtype=torch.uint8)
    return torch.cat([xb for xb, _ in load_batches(source, list(order.cpu().split(batch_size)))])
