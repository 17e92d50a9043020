"""CPU threads: how many torch uses, and how that follows a busy machine.

torch's OpenMP threads spin while they wait for work. Alone on a machine that saves time;
with two processes on the same cores each spins on the cores the other needs, and both
slow down many times over (measured: benchmarks/RESULTS.md, "Threads under load"). The
command line therefore starts with one thread per CPU this process may use (its affinity
mask and cgroup quota, divided among the processes torchrun starts on this node) and,
between epochs, gives up the CPUs that other processes keep busy (``/proc/stat`` against
this process's own CPU time), taking them back when they are free again. ``--threads N``
or ``OMP_NUM_THREADS`` fix the count instead. ``OMP_WAIT_POLICY=PASSIVE`` was measured too
and made things worse, alone (2x) and under load.

Nothing here imports torch at module level (``import icarl`` does not load torch).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MIN_INTERVAL = 0.5  # seconds between two looks at the machine's load


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


def _sample(stat: Path = Path("/proc/stat")) -> tuple[float, float, float] | None:
    """(wall, CPU-seconds busy on the whole machine, CPU-seconds of this process) now."""
    try:
        values = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    if len(values) < 5:
        return None
    idle = values[3] + values[4]  # idle + iowait
    own = os.times()
    return time.monotonic(), (sum(values) - idle) / os.sysconf("SC_CLK_TCK"), own.user + own.system


def others_busy(before: tuple[float, float, float], now: tuple[float, float, float]) -> float:
    """CPUs that other processes kept busy between two samples."""
    wall = now[0] - before[0]
    if wall <= 0:
        return 0.0
    return max(0.0, ((now[1] - before[1]) - (now[2] - before[2])) / wall)


class Governor:
    """Threads between 1 and ``most``: all the CPUs the other processes leave free.
    ``spare``: the machine's CPUs this process may not use (``/proc/stat`` counts them all);
    others' work up to that many CPUs is taken to run there, not on ours."""

    def __init__(self, most: int, spare: int | None = None) -> None:
        self.most, self.current = most, most
        self.spare = max(0, (os.cpu_count() or most) - cpus_available()) if spare is None else spare
        self.used: set[int] = {most}
        self.last = _sample()

    def target(self, others: float) -> int:
        contested = max(0.0, others - self.spare)
        return min(self.most, max(1, self.most - math.floor(contested + 0.5)))

    def adjust(self) -> int:
        import torch  # here: see the module docstring

        if self.last is None or torch.get_num_threads() != self.current:
            return int(torch.get_num_threads())  # no /proc/stat, or someone else set threads
        now = _sample()
        if now is None or now[0] - self.last[0] < MIN_INTERVAL:
            return self.current
        n = self.target(others_busy(self.last, now))
        self.last = now
        if n != self.current:
            torch.set_num_threads(n)
            self.current = n
            self.used.add(n)
        return n


_governor: Governor | None = None


def apply(threads: int | None = None) -> int:
    """Use ``threads`` torch threads; None or 0: the user's ``OMP_NUM_THREADS`` where set,
    else :func:`default_threads`, following the machine's load (:func:`adjust`). Returns
    the count in effect."""
    import torch  # here: see the module docstring

    global _governor
    _governor = None
    if not threads and os.environ.get("OMP_NUM_THREADS", "").strip():
        return int(torch.get_num_threads())
    n = threads or default_threads()
    torch.set_num_threads(n)
    if not threads:
        _governor = Governor(n)
    return n


@contextmanager
def for_command(threads: int | None) -> Iterator[int]:
    """:func:`apply` for one command; afterwards the policy ends and torch's count is restored
    (a Python process that calls ``icarl.cli.main`` keeps its own settings)."""
    import torch  # here: see the module docstring

    global _governor
    before = torch.get_num_threads()
    try:
        yield apply(threads)
    finally:
        _governor = None
        torch.set_num_threads(before)


def adjust() -> None:
    """Between epochs: follow the load when :func:`apply` chose the count (else nothing)."""
    if _governor is not None:
        _governor.adjust()


def policy() -> dict[str, object]:
    """What ``results.json`` records: ``auto`` (and the counts used so far) or ``fixed``."""
    if _governor is None:
        return {"threads_policy": "fixed"}
    return {"threads_policy": "auto", "threads_used": sorted(_governor.used)}
