"""``results.json`` ``environment``: where and how a run was trained (the same seed can give
other numbers with another thread count, device or precision, so each run records them)."""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

import torch

from .. import distributed, threads
from ..algorithm import ICaRL
from ..train.amp import use_bf16


def environment(learner: ICaRL, deterministic: bool = False) -> dict[str, Any]:
    """torch version, device, the thread policy and count (:mod:`icarl.threads`), training and
    inference precision, determinism, world size, command line, python, platform."""
    device = learner.device
    return {
        "torch": str(torch.__version__),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name(),
        "cpus": threads.cpus_available(),
        **threads.policy(),
        "bf16_autocast": use_bf16(learner.config.amp, device),
        "inference_precision": "fp32",  # features for NME, herding, evaluation and predict
        "deterministic": deterministic,
        "world_size": distributed.world(),
        "command": list(sys.argv),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _cpu_name() -> str:
    """The CPU model (Linux /proc/cpuinfo), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
