"""Batched augmentation on uint8 tensors, on whatever device they live on.

No per-sample Python: a batch of ``B`` images gets ``B`` random crop offsets and
``B`` flip coins drawn from one ``torch.Generator`` and applied as one indexing
operation on a strided view of the padded batch. Normalisation turns uint8 into
float and subtracts the mean image in one fused pass, writing the layout the
network wants (``channels_last`` or contiguous) directly.

Random numbers are drawn on the CPU generator in a fixed order (crop offsets
``(2, B)`` first, rows then columns, then ``B`` flip coins), so results do not
depend on the device and equal :func:`random_crop_flip_reference`, the literal
one-image-at-a-time version used by the tests.
"""

from __future__ import annotations

import torch
from torch import Tensor


def to_float(
    x: Tensor,
    mean: Tensor | None,
    std: Tensor | None = None,
    *,
    channels_last: bool = False,
) -> Tensor:
    """uint8 (B, C, H, W) -> float32 in [0, 1], minus ``mean`` (per pixel or per channel).

    One pass for the cast and the mean (``x - 255 * mean`` promotes uint8 to float in
    the same kernel), one in-place pass for the scale; the output is allocated in the
    requested memory format so no layout copy follows.
    """
    fmt = torch.channels_last if channels_last and x.ndim == 4 else torch.contiguous_format
    out = torch.empty(x.shape, dtype=torch.float32, device=x.device, memory_format=fmt)
    if mean is not None:
        torch.sub(x, mean.to(device=x.device, dtype=torch.float32) * 255.0, out=out)
        out.mul_(1.0 / 255.0)
    else:
        torch.mul(x, 1.0 / 255.0, out=out)
    if std is not None:
        out.div_(std.to(device=x.device, dtype=torch.float32))
    return out


def pixel_sum(x: Tensor, chunk: int = 4096) -> Tensor:
    """The float64 sum of uint8 images over the batch, (C, H, W): exact (integer sums below
    2**53), so any chunking or order, in memory or read from files, gives the same number."""
    total = torch.zeros(x.shape[1:], dtype=torch.float64)
    for i in range(0, x.shape[0], chunk):
        total += x[i : i + chunk].to(torch.float64).sum(0).cpu()
    return total


def mean_image(total: Tensor, n: int) -> Tensor:
    """The per-pixel mean in [0, 1] (float32) from a :func:`pixel_sum` over ``n`` images."""
    return (total / max(n, 1) / 255.0).to(torch.float32)


def channel_mean(mean: Tensor) -> Tensor:
    """The mean colour (C, 1, 1) of a mean image (C, H, W): the per-channel mean over every
    pixel of every image (all images have H x W pixels), as the authors' TensorFlow code
    subtracts on ImageNet (``normalize = "channel_mean"``)."""
    return mean.to(torch.float64).mean((1, 2), keepdim=True).to(mean.dtype)


def draw_crop_flip(
    b: int, pad: int, flip: bool, generator: torch.Generator | None
) -> tuple[Tensor | None, Tensor | None]:
    """The random numbers of one batch: crop offsets ``(2, B)`` in ``[0, 2 pad]`` and flip coins ``(B,)``."""
    offs = torch.randint(0, 2 * pad + 1, (2, b), generator=generator) if pad > 0 else None
    coin = (torch.rand(b, generator=generator) < 0.5) if flip else None
    return offs, coin


def on_device(t: Tensor, device: torch.device) -> Tensor:
    """Move a small CPU tensor to ``device`` without a host sync (pinned, non-blocking on CUDA)."""
    if device.type == "cpu":
        return t
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def random_crop_flip(
    x: Tensor,
    pad: int,
    flip: bool,
    generator: torch.Generator | None,
    part: tuple[int, int, int] | None = None,
) -> Tensor:
    """Zero-pad by ``pad`` then crop back to size at a random offset; flip half horizontally.

    Works on any dtype. The crop is one advanced-indexing gather on the
    ``unfold`` view of the padded batch (all windows, no copy), so it costs one
    pass over the output whatever the batch size. ``part = (start, stop, n)``: ``x`` is
    items ``start:stop`` of a batch of ``n``; the numbers are drawn for all ``n`` (as for the
    whole batch) and that slice of them is applied.
    """
    b, _, h, w = x.shape
    start, stop, n = part if part is not None else (0, b, b)
    offs, coin = draw_crop_flip(n, pad, flip, generator)
    offs = offs[:, start:stop] if offs is not None else None
    coin = coin[start:stop] if coin is not None else None
    if offs is not None:
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        windows = padded.unfold(2, h, 1).unfold(3, w, 1)  # (B, C, 2p+1, 2p+1, H, W), a view
        offs = on_device(offs, x.device)
        x = windows[torch.arange(b, device=x.device), :, offs[0], offs[1]]  # (B, C, H, W)
    if coin is not None:
        x = torch.where(on_device(coin, x.device)[:, None, None, None], x.flip(3), x)
    return x


def random_crop_flip_reference(x: Tensor, pad: int, flip: bool, generator: torch.Generator | None) -> Tensor:
    """The same augmentation one image at a time, literally (for tests; slow)."""
    b, _, h, w = x.shape
    offs, coin = draw_crop_flip(b, pad, flip, generator)
    out = []
    for i in range(b):
        img = x[i]
        if offs is not None:
            img = torch.nn.functional.pad(img, (pad, pad, pad, pad))
            r, c = int(offs[0, i]), int(offs[1, i])
            img = img[:, r : r + h, c : c + w]
        if coin is not None and bool(coin[i]):
            img = img.flip(2)
        out.append(img)
    return torch.stack(out)


def augment_batch(
    x: Tensor,
    *,
    pad: int,
    flip: bool,
    generator: torch.Generator | None,
    mean: Tensor | None,
    channels_last: bool = False,
) -> Tensor:
    """The whole training-time input path: uint8 batch -> crop/flip -> normalised float."""
    return to_float(random_crop_flip(x, pad, flip, generator), mean, channels_last=channels_last)
