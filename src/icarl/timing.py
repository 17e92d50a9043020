"""Wall time per phase of a run (training, the previous network, herding, class means,
evaluation, checkpoints), summed over the process: ``results.json`` records each step's
share and ``benchmarks/e2e.py`` prints the breakdown.

Phases may nest (``previous`` runs inside ``train``); each total is its own wall time.
On a GPU the times are those the host saw (kernels run asynchronously), so they say how
the host's time divides, not the device's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

_totals: dict[str, float] = {}


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Add the wall time of the ``with`` body to phase ``name``."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        _totals[name] = _totals.get(name, 0.0) + time.perf_counter() - t0


def totals() -> dict[str, float]:
    """Seconds per phase so far in this process."""
    return dict(_totals)


def since(before: dict[str, float]) -> dict[str, float]:
    """Seconds per phase spent since ``before`` (an earlier :func:`totals`), rounded to ms."""
    now = totals()
    return {k: round(v - before.get(k, 0.0), 3) for k, v in sorted(now.items()) if v - before.get(k, 0.0)}


def reset() -> None:
    _totals.clear()
