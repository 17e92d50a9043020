"""Bitwise-reproducible training (``icarl run --deterministic``)."""

from __future__ import annotations

import os

import torch


def set_deterministic(seed: int) -> None:
    """Bitwise-reproducible training in this process: deterministic kernels, one CPU
    thread, no cuDNN autotuning, the global generators seeded."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.manual_seed(seed)
