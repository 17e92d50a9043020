"""CPU threads: how many torch uses and how its OpenMP threads wait.

torch's OpenMP threads spin while they wait for work (``OMP_WAIT_POLICY`` active). Alone on a
machine that saves microseconds; with two processes on the same cores each spins on the
cores the other needs, and both slow down many times over. The command line therefore
sets ``OMP_WAIT_POLICY=PASSIVE`` before torch is loaded (unless the user has set it) and
uses one thread per CPU this process may run on (its affinity mask and cgroup quota,
divided among the processes torchrun starts on this node), or ``--threads N``; a user's
``OMP_NUM_THREADS`` is respected.
Measured in benchmarks/RESULTS.md ("Threads under load").

Nothing here imports torch at module level: :func:`prepare_environment` must run first.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

WAIT_POLICY = "PASSIVE"


def prepare_environment() -> bool:
    """Set ``OMP_WAIT_POLICY`` for the OpenMP runtime torch loads, unless the user set it.
    Returns whether it can still take effect (torch not loaded yet)."""
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)
    return "torch" not in sys.modules


def _cgroup_cpus(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota of this process's cgroup (v2 ``cpu.max``), in CPUs; None if unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def cpus_available() -> int:
    """CPUs this process may use: its affinity mask, capped by its cgroup's quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_cpus()
    if quota is not None:
        n = min(n, max(1, math.floor(quota)))
    return max(1, n)


def default_threads() -> int:
    """One thread per available CPU, shared among torchrun's processes on this node."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, cpus_available() // max(1, local))


def apply(threads: int | None = None) -> int:
    """Use ``threads`` torch threads; None or 0: the user's ``OMP_NUM_THREADS`` where set,
    else :func:`default_threads`. Returns the count in effect."""
    import torch  # here, not at the top: prepare_environment must be able to run first

    if not threads and os.environ.get("OMP_NUM_THREADS", "").strip():
        return int(torch.get_num_threads())
    n = threads or default_threads()
    torch.set_num_threads(n)
    return n
