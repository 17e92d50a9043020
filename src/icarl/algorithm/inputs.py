"""What the learner accepts as images and labels, checked before anything changes."""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import IcarlError


def check_inputs(x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor]:
    if not isinstance(x, Tensor):
        x = torch.as_tensor(x)
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise IcarlError("images contain NaN or infinite values; clean them, then convert to uint8 (0-255)")
    if x.dtype != torch.uint8:
        raise IcarlError(f"images must be uint8 (0-255), got {x.dtype}; convert before fitting")
    if x.ndim != 4:
        raise IcarlError(f"images must be shaped (N, C, H, W), got {tuple(x.shape)}")
    if y is None:
        return x, torch.empty(0, dtype=torch.long)
    y = torch.as_tensor(y).long()
    if y.shape != (x.shape[0],):
        raise IcarlError(f"{x.shape[0]} images but labels shaped {tuple(y.shape)}")
    return x, y
