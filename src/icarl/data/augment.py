"""Batched augmentation on uint8 tensors, on whatever device they live on.

No per-sample Python: a batch of ``B`` images gets ``B`` random crop offsets and
``B`` flip coins drawn from one ``torch.Generator`` and applied with gather-free
indexing. Normalisation turns uint8 into float and subtracts the mean image.
"""

from __future__ import annotations

import torch
from torch import Tensor


def to_float(x: Tensor, mean: Tensor | None, std: Tensor | None = None) -> Tensor:
    """uint8 (B, C, H, W) -> float in [0, 1], minus ``mean`` (per pixel or per channel)."""
    out = x.float().div_(255.0)
    if mean is not None:
        out = out.sub_(mean)
    if std is not None:
        out = out.div_(std)
    return out


def random_crop_flip(x: Tensor, pad: int, flip: bool, generator: torch.Generator | None) -> Tensor:
    """Zero-pad by ``pad`` then crop back to size at a random offset; flip half horizontally.

    Works on any dtype; random numbers are drawn on the CPU generator so that
    results do not depend on the device.
    """
    b, _, h, w = x.shape
    if pad > 0:
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        offs = torch.randint(0, 2 * pad + 1, (2, b), generator=generator).to(x.device)
        rows = offs[0][:, None] + torch.arange(h, device=x.device)[None]  # (B, H)
        cols = offs[1][:, None] + torch.arange(w, device=x.device)[None]  # (B, W)
        bi = torch.arange(b, device=x.device)[:, None, None]
        # (B, H, W, C) by advanced indexing, then back to (B, C, H, W)
        x = padded.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if flip:
        coin = (torch.rand(b, generator=generator) < 0.5).to(x.device)
        x = torch.where(coin[:, None, None, None], x.flip(3), x)
    return x
