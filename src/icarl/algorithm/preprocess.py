"""From a uint8 batch to the network's float input: the built-in crop and flip (training),
the user's batch transform (training), the pixel mean, the memory layout."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..config import LearnerConfig
from ..data.augment import random_crop_flip, to_float
from ..errors import IcarlError

BatchTransform = Callable[[Tensor], Tensor]


def prepare(
    xb: Tensor,
    cfg: LearnerConfig,
    mean: Tensor | None,
    generator: torch.Generator | None,
    transform: BatchTransform | None,
    train: bool,
    part: tuple[int, int, int] | None = None,
) -> Tensor:
    """``xb`` (uint8, on the training device) as the network's input.

    Training: crop and flip with ``generator`` when ``cfg.augment == "builtin"``, then
    ``transform`` on the float [0, 1] batch (same shape back), then the mean. Evaluation:
    the mean only. The fast path (no transform) casts, subtracts and lays out in one pass.
    ``part``: ``xb`` is this rank's slice of a global batch (see :func:`random_crop_flip`).
    """
    if train and cfg.augment == "builtin":
        xb = random_crop_flip(xb, cfg.crop_pad, cfg.flip, generator, part)
    if not train or transform is None:
        return to_float(xb, mean, channels_last=cfg.channels_last)
    out = transform(to_float(xb, None))
    if not isinstance(out, Tensor) or out.shape != xb.shape:
        raise IcarlError(
            f"batch_transform returned {getattr(out, 'shape', type(out).__name__)} for a batch "
            f"shaped {tuple(xb.shape)}; it must return a float batch of the same shape"
        )
    out = out.float() - mean.to(out.device) if mean is not None else out.float()
    return out.contiguous(memory_format=torch.channels_last) if cfg.channels_last else out.contiguous()
