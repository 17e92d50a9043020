"""The training device, mixed precision (where bf16 autocast is used) and ``torch.compile``."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import cast

import torch
from torch import nn

from ..config import ConfigError, LearnerConfig


def resolve_device(name: str) -> torch.device:
    """``learner.device`` as a torch device; a one-line ``ConfigError`` for a name torch does
    not know or a device this machine lacks (CUDA on a CPU-only torch, a GPU index too high)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(
            f"learner.device is {name!r}, which torch does not know; use auto, cpu, cuda or cuda:N"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"learner.device is {name!r} but this torch has no usable CUDA device "
                "(torch.cuda.is_available() is False); use --device cpu or auto"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"learner.device is {name!r} but this machine has {torch.cuda.device_count()} GPU(s); "
                "use cuda:0 .. cuda:N-1"
            )
    elif device.type not in ("cpu", "meta") and not _available(device):
        raise ConfigError(f"learner.device is {name!r}, which this machine lacks; use cpu or auto")
    return device


def _available(device: torch.device) -> bool:
    module = getattr(torch, device.type, None)
    is_available = getattr(module, "is_available", None)
    return bool(is_available()) if callable(is_available) else True


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
