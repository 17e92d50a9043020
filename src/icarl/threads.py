"""CPU threads: one count per run, chosen once, kept and recorded.

Why one count. A convolution or matrix product split over N threads adds its partial sums
in an order that depends on N, so the same seed trained with 1 and with 2 threads gives
results that differ in the last bits after the first batch. Training is chaotic: at the
learning rates iCaRL uses (2.0) such a 1e-7 difference (1e-3 under bf16) grows into
unrelated runs within a few epochs. So a run's thread count is part of what makes it
repeatable, like its seed: the command line picks it once at the start (one thread per CPU
this process may use, or ``--threads N`` / ``OMP_NUM_THREADS``), keeps it for the whole
run, records it in ``results.json`` and each epoch's record, and ``--resume`` and
``icarl rerun`` use the recorded count. Results are repeatable on the same machine type,
torch version and thread count; across thread counts, CPU models or GPUs they are not, and
only a mean over seeds or class orders can be compared (docs/experiments.md).

The price: two runs side by side on the same cores slow each other down many times over,
because torch's OpenMP threads spin while they wait (benchmarks/RESULTS.md, "Threads under
load"). Give side-by-side runs ``--threads 1`` each. ``--threads auto`` is the opt-in
alternative: between epochs it gives up the CPUs other processes keep busy (``/proc/stat``
against this process's CPU time) and takes them back when they are free; the count of
every epoch is recorded, and ``icarl rerun`` replays that schedule.

Every policy records the load: the CPUs other processes kept busy, on average, while the
command ran (``environment.load_others``), so a wall time can be read with its load.

Nothing here imports torch at module level (``import icarl`` does not load torch).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

MIN_INTERVAL = 0.5  # seconds between two looks at the machine's load
AUTO = "auto"
Sample = tuple[float, float, float]


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


def env_threads() -> int | None:
    """``OMP_NUM_THREADS`` as a positive count, None when unset or not a number."""
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def parse(text: str) -> int | str:
    """``--threads`` value: a positive count or ``auto`` (ValueError otherwise)."""
    if text.strip().lower() == AUTO:
        return AUTO
    value = int(text) if text.strip().isdigit() else 0
    if value < 1:
        raise ValueError(f"{text!r} is not a positive whole number of threads or 'auto'")
    return value


def _sample(stat: Path = Path("/proc/stat")) -> Sample | None:
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


def others_busy(before: Sample, now: Sample) -> float:
    """CPUs that other processes kept busy between two samples."""
    wall = now[0] - before[0]
    if wall <= 0:
        return 0.0
    return max(0.0, ((now[1] - before[1]) - (now[2] - before[2])) / wall)


class Governor:
    """``--threads auto``: threads between 1 and ``most``, all the CPUs the other processes
    leave free. ``spare``: the machine's CPUs this process may not use (``/proc/stat``
    counts them all); others' work up to that many CPUs is taken to run there, not on ours."""

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


@dataclass
class Policy:
    """The policy of one command: ``fixed`` (one count), ``auto`` (a :class:`Governor`) or
    ``replay`` (the per-epoch counts of a recorded auto run, in order)."""

    kind: str
    threads: int
    governor: Governor | None = None
    schedule: list[int] = field(default_factory=list)
    start: Sample | None = None

    def __post_init__(self) -> None:
        self.start = _sample()  # the load is measured from the command's start

    def adjust(self) -> None:
        import torch  # here: see the module docstring

        if self.governor is not None:
            self.governor.adjust()
        elif self.schedule:
            n = self.schedule.pop(0)
            if n != torch.get_num_threads():
                torch.set_num_threads(n)

    def record(self) -> dict[str, object]:
        out: dict[str, object] = {"threads_policy": self.kind, "threads": self.threads}
        if self.governor is not None:
            out["threads_used"] = sorted(self.governor.used)
        now = _sample()
        if self.start is not None and now is not None:
            out["load_others"] = round(others_busy(self.start, now), 2)
        return out


_policy: Policy | None = None


def apply(threads: int | str | None = None, schedule: Sequence[int] | None = None) -> int:
    """Start a command's policy and return the count in effect.

    ``threads``: a count (fixed), ``"auto"`` (follow the load), or None: ``OMP_NUM_THREADS``
    where set, else :func:`default_threads`, fixed. ``schedule``: replay these per-epoch
    counts (a recorded ``auto`` run; the first is also the starting count)."""
    import torch  # here: see the module docstring

    global _policy
    if schedule:
        counts = [int(n) for n in schedule]
        _policy = Policy("replay", counts[0], schedule=counts)
    elif threads == AUTO:
        n = default_threads()
        _policy = Policy(AUTO, n, governor=Governor(n))
    else:
        n = int(threads) if threads else (env_threads() or default_threads())
        _policy = Policy("fixed", n)
    torch.set_num_threads(_policy.threads)
    return _policy.threads


@contextmanager
def for_command(threads: int | str | None) -> Iterator[int]:
    """:func:`apply` for one command; afterwards the policy ends and torch's count is restored
    (a Python process that calls ``icarl.cli.main`` keeps its own settings)."""
    import torch  # here: see the module docstring

    global _policy
    before = torch.get_num_threads()
    try:
        yield apply(threads)
    finally:
        _policy = None
        torch.set_num_threads(before)


def adjust() -> None:
    """Before each epoch: ``auto`` follows the load, ``replay`` takes the next recorded count;
    ``fixed`` (and no policy: a library caller's own setting) changes nothing."""
    if _policy is not None:
        _policy.adjust()


def policy() -> dict[str, object]:
    """What ``results.json`` records: the policy, the starting count, the counts an ``auto``
    run used, and the load of other processes so far. Without a policy (a library caller):
    torch's current count, ``fixed``."""
    if _policy is None:
        import torch  # here: see the module docstring

        return {"threads_policy": "fixed", "threads": int(torch.get_num_threads())}
    return _policy.record()


def current() -> str | None:
    """The kind of the policy in effect (``fixed``, ``auto``, ``replay``), None without one."""
    return None if _policy is None else _policy.kind
