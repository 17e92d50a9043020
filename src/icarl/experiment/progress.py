"""Step-level progress for long runs: one bar over the steps (the engine draws the per-epoch
bar with the loss beneath it); each finished step's table row is printed above the bar and
its accuracy shown on it. Bars are drawn on a terminal only; in a log file each step is one
plain line (and each epoch one with ``--verbose``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tqdm.auto import tqdm

from ..train.loop import on_terminal

Reporter = Callable[[dict[str, Any]], None]


class StepBar:
    """Wraps a step reporter: advances a bar of ``total`` steps and prints rows above it."""

    def __init__(self, total: int, report: Reporter | None, *, enabled: bool, desc: str = "steps") -> None:
        self.report = report
        self.total = total
        self.done = 0
        self.bar: Any = None
        if enabled:
            self.bar = tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True, leave=False)

    def __call__(self, record: dict[str, Any]) -> None:
        self.done += 1
        if self.bar is None:
            if self.report is not None:
                self.report(record)
            return
        if self.report is not None:
            with tqdm.external_write_mode():
                self.report(record)
        acc = record.get("accuracy", {}).get(record.get("classifier") or "cnn")
        if acc is not None:
            self.bar.set_postfix(classes=record.get("seen_classes"), acc=f"{100 * acc:.1f}%")
        self.bar.update(1)
        if self.done >= self.total:
            self.bar.close()


def with_step_bar(report: Reporter | None, total: int, enabled: bool, desc: str = "steps") -> Reporter | None:
    """``report`` wrapped in a :class:`StepBar` when progress is on and stderr is a terminal,
    else unchanged."""
    if not enabled or not on_terminal():
        return report
    return StepBar(total, report, enabled=True, desc=desc)
