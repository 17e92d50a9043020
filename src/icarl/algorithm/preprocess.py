"""From a uint8 batch to the network's float input: the built-in crop and flip (training),
the user's batch transform (training), the pixel mean, the memory layout; and the mean
itself, from the first step's data."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..config import LearnerConfig
from ..data.augment import channel_mean, random_crop_flip, to_float
from ..data.reading import pixel_mean
from ..data.source import ImageSource
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
        if cfg.pad_value == "mean" and mean is not None and cfg.crop_pad > 0:
            return _crop_centred(xb, cfg, mean, generator, transform, part)
        # DEVIATION: pad_value "zero" pads the uint8 image with 0 (black) and subtracts the mean
        # after the crop, so the border is minus the mean; the authors pad the mean-subtracted
        # image with 0 (pad_value "mean", the paper presets). See docs/paper.md.
        xb = random_crop_flip(xb, cfg.crop_pad, cfg.flip, generator, part)
    if not train or transform is None:
        return to_float(xb, mean, channels_last=cfg.channels_last)
    out = _transformed(transform, to_float(xb, None), xb.shape)
    out = out - mean.to(out.device) if mean is not None else out
    return _layout(out, cfg)


def _crop_centred(
    xb: Tensor,
    cfg: LearnerConfig,
    mean: Tensor,
    generator: torch.Generator | None,
    transform: BatchTransform | None,
    part: tuple[int, int, int] | None,
) -> Tensor:
    """The authors' order (``pad_value = "mean"``): subtract the mean, pad the centred image
    with 0 (the mean colour), crop, flip. The same random numbers as the uint8 path. A user
    transform sees the crop with the mean added back (its border is the mean colour)."""
    out = random_crop_flip(to_float(xb, mean), cfg.crop_pad, cfg.flip, generator, part)
    if transform is not None:
        m = mean.to(out.device)
        out = _transformed(transform, out + m, xb.shape) - m
    return _layout(out, cfg)


def _transformed(transform: BatchTransform, x: Tensor, shape: torch.Size) -> Tensor:
    out = transform(x)
    if not isinstance(out, Tensor) or out.shape != shape:
        raise IcarlError(
            f"batch_transform returned {getattr(out, 'shape', type(out).__name__)} for a batch "
            f"shaped {tuple(shape)}; it must return a float batch of the same shape"
        )
    return out.float()


def _layout(out: Tensor, cfg: LearnerConfig) -> Tensor:
    return out.contiguous(memory_format=torch.channels_last) if cfg.channels_last else out.contiguous()


def first_step_mean(source: ImageSource, cfg: LearnerConfig) -> Tensor | None:
    """The mean that :func:`prepare` subtracts, per ``cfg.normalize``: the mean image (C, H, W)
    in [0, 1], its mean colour (C, 1, 1), or None.

    float64 running sums of the uint8 pixels, one batch at a time (no float copy of the step),
    exact, so images in memory or read from files, in one process or several, give the same
    mean to the last bit.
    """
    if cfg.normalize == "none":
        return None
    # DEVIATION: the authors subtract the mean of the whole training set; an incremental
    # learner only has the first step's data, so the mean comes from there.
    mean = pixel_mean(source, batch_size=cfg.eval_batch_size, workers=cfg.workers)
    return channel_mean(mean) if cfg.normalize == "channel_mean" else mean
