"""Step-level progress for long runs, a callback (:mod:`icarl.train.callbacks`): one bar over
the steps (the learner draws the per-epoch bar with the loss beneath it,
:class:`icarl.train.console.EpochBar`); each finished step's table row is printed above the
bar and its accuracy shown on it. Bars are drawn on a terminal only; in a log file each step
is one plain line (and each epoch one with ``--verbose``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tqdm.auto import tqdm

from .. import distributed
from ..train.callbacks import Callback, RunInfo
from ..train.console import on_terminal

Reporter = Callable[[dict[str, Any]], None]


class StepProgress(Callback):
    """Hands each finished step's record to ``report`` (the command's table row) and, with
    ``enabled`` on a terminal (rank 0 under DDP), advances a bar over the steps left."""

    def __init__(self, report: Reporter | None, *, enabled: bool, desc: str = "steps") -> None:
        self.report = report
        self.enabled = enabled
        self.desc = desc
        self.bar: Any = None

    def on_run_start(self, run: RunInfo) -> None:
        if self.enabled and on_terminal() and distributed.is_main():
            left = run.steps - len(run.results["steps"])
            self.bar = tqdm(total=left, desc=self.desc, unit="step", dynamic_ncols=True, leave=False)

    def on_step_end(self, run: RunInfo) -> None:
        record = run.record or {}
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

    def on_run_end(self, run: RunInfo) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
