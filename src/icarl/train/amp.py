"""The training device, mixed precision (where bf16 autocast is used) and ``torch.compile``."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import cast

import torch
from torch import nn

from ..config import LearnerConfig


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@functools.cache
def _cpu_has_fast_bf16() -> bool:
    """AMX or AVX512-BF16 (Linux /proc/cpuinfo); elsewhere assume not."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags for f in (" amx_bf16", " avx512_bf16"))


def use_bf16(amp: str, device: torch.device) -> bool:
    """``amp``: "bf16" always, "off" never, "auto" where bf16 is fast (measured on AMX CPUs:
    2-2.5x for small CNNs and ResNet-32 with equal accuracy; CUDA devices with bf16)."""
    if amp != "auto":
        return amp == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and _cpu_has_fast_bf16()


def autocast(cfg: LearnerConfig, device: torch.device) -> contextlib.AbstractContextManager[None]:
    if use_bf16(cfg.amp, device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def compiled(net: nn.Module, cfg: LearnerConfig) -> nn.Module:
    """``torch.compile(net)`` when ``cfg.compile`` is set (it shares ``net``'s parameters), else ``net``.

    The head grows between steps; the first recompilation marks that size dynamic,
    so a run compiles about twice, not once per step.
    """
    if not cfg.compile:
        return net
    return cast(nn.Module, torch.compile(net))
