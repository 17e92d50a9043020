"""Reading image sources in batches, under DDP as in one process: the training reader (each
rank reads only its slice of each global batch), each rank's share of a feature pass, the
pixel mean, and labels as output indices.

Every source reads through :meth:`~icarl.data.source.ImageSource.batches`: images held in
memory are gathered on the training device (the fast path), files are decoded by worker
processes. Nothing here asks which kind a source is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from torch import Tensor

from .. import distributed
from .augment import mean_image, pixel_sum
from .source import ImageSource, TensorSource

Part = tuple[int, int, int]  # (start, stop, size of the global batch) of this rank's slice


class BatchReader:
    """A training set read in batches (the :class:`~icarl.train.loop.BatchReader` of the training
    loop): for each global index batch, this rank's slice of it as uint8 images and output
    indices (labels through ``lut``) on ``device``, and where the slice lies in the batch.

    ``source.on(device)``: images held in memory move to the training device once, here, and
    each batch is a gather there; images in files are decoded by ``workers`` processes, only
    this rank's slice, and copied to the device (pinned and asynchronous on CUDA)."""

    def __init__(self, source: ImageSource, lut: Tensor, device: torch.device, workers: int) -> None:
        self.source, self.lut = source.on(device), lut.to(device)
        self.device, self.workers = device, workers

    def __len__(self) -> int:
        return len(self.source)

    def read(self, index_batches: list[Tensor]) -> Iterator[tuple[Tensor, Tensor, Part]]:
        parts = [(*distributed.local_part(len(idx))[:2], len(idx)) for idx in index_batches]
        local = [idx[start:stop] for idx, (start, stop, _) in zip(index_batches, parts, strict=True)]
        pin = self.device.type == "cuda"
        batches = self.source.batches(local, workers=self.workers, pin_memory=pin)
        for (xb, yb), part in zip(batches, parts, strict=True):
            xb, yb = xb.to(self.device, non_blocking=pin), yb.to(self.device, non_blocking=pin)
            yield xb, self.lut[yb], part


def tensor_reader(x: Tensor, y: Tensor, device: torch.device | None = None) -> BatchReader:
    """Images ``x`` and labels ``y`` (already output indices) held in memory, as a reader on
    ``device`` (default: where ``x`` is)."""
    lut = torch.arange(int(y.max()) + 1 if len(y) else 1)
    return BatchReader(TensorSource(x, y), lut, device or x.device, workers=0)


def rank_slices(batches: Iterable[Tensor], rank: int, world: int) -> Iterator[Tensor]:
    """This rank's contiguous slice of each global index batch."""
    for idx in batches:
        start, stop = distributed.shard_bounds(len(idx), rank, world)
        yield idx[start:stop]


def shard_batches(n: int, batch_size: int) -> list[Tensor]:
    """This rank's contiguous share of ``range(n)``, in batches (a feature pass)."""
    start, stop = distributed.shard_bounds(n, distributed.rank(), distributed.world())
    idx = torch.arange(start, stop)
    return list(idx.split(batch_size)) if stop > start else []


def read_shard(source: ImageSource, batch_size: int, workers: int) -> Iterator[Tensor]:
    """uint8 batches of this rank's share of ``source``, in order."""
    for xb, _ in source.batches(shard_batches(len(source), batch_size), workers=workers):
        yield xb


def pixel_mean(source: ImageSource, *, batch_size: int = 256, workers: int = 0) -> Tensor:
    """The per-pixel mean image of ``source`` in [0, 1], float32 (C, H, W), by float64 running
    sums of the uint8 pixels, each rank over its share (then summed over ranks), one batch at a
    time. Exact (integer sums below 2**53), so any batching or number of ranks gives the same
    mean, in memory or read from files."""
    total = torch.zeros(source.image_shape, dtype=torch.float64)
    for xb in read_shard(source, batch_size, workers):
        total += pixel_sum(xb)
    return mean_image(distributed.all_reduce_sum(total), len(source))  # DDP: every rank's share


def label_lut(classes: list[int]) -> Tensor:
    """original label -> output index (position in ``classes``); -1 elsewhere."""
    lut = torch.full((max(classes, default=0) + 1,), -1, dtype=torch.long)
    lut[torch.tensor(classes, dtype=torch.long)] = torch.arange(len(classes))
    return lut
