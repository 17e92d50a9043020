"""Callbacks: one list of observers of a run, with one name per event.

=====================  ============================================================  =========
hook                   when                                                          argument
=====================  ============================================================  =========
``on_run_start``       the runner, before the first step (a resumed run: after its   RunInfo
                       checkpoint was loaded)
``on_step_start``      before each step's training (``run.step``: its index)         RunInfo
``on_epoch_end``       the training loop, after every epoch (also under              EpochEnd
                       ``learner.partial_fit(..., callbacks=[...])`` without a run)
``on_step_end``        after the step's training and evaluation (``run.record``: its  RunInfo
                       ``results.json`` record)
``on_checkpoint``      after a checkpoint was written (``run.checkpoint`` names it)   RunInfo
``on_run_end``         once, when the run ends, finished or not (``run.finished``)   RunInfo
=====================  ============================================================  =========

A callback is any object with some of these methods; the ones it lacks are skipped, so a
logger is just a callback (:mod:`icarl.experiment.loggers`). Subclass :class:`Callback` for
do-nothing defaults. Hand them to ``icarl.run(cfg, callbacks=[...])`` or to
``learner.partial_fit(x, y, callbacks=[...])`` (epoch events only). The runner's own
progress, its loggers (``epochs.csv``, TensorBoard, ``--verbose``) and its checkpoints are
callbacks in the same list, ahead of the user's.

Callbacks observe (Fabric's rule, not fast.ai's): they read the events and write their own
files; they do not change the learner, the data, the loss or the loop, so that a run's
numbers never depend on who watches it. The CPU thread policy, which does change numbers,
therefore stays in the loop (:func:`icarl.threads.adjust`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..errors import IcarlError
from .state import TrainState

HOOKS = ("on_run_start", "on_step_start", "on_epoch_end", "on_step_end", "on_checkpoint", "on_run_end")


@dataclass(frozen=True)
class EpochEnd:
    """One finished epoch. ``step``: the learner's step (its ``partial_fit`` calls before this
    one; in a run, the step's index), ``epoch`` 1-based of ``epochs``, the mean training
    ``loss`` over every rank's items, the ``lr`` it trained with, torch's CPU ``threads``
    during it, ``desc`` ("classes 3-4"). ``train_state()``: the loop's state now, what a
    checkpoint keeps to continue exactly (live tensors: serialise or copy them)."""

    step: int
    epoch: int
    epochs: int
    loss: float
    lr: float
    threads: int
    desc: str
    train_state: Callable[[], TrainState]


@dataclass
class RunInfo:
    """The run as callbacks see it (the runner updates it as it goes; read, do not write).

    ``config``: the resolved configuration the run trains with and records; ``out_dir``: the
    run folder (None without one, and on every rank but 0 under DDP); ``learner``; ``steps``:
    how many the stream has; ``step``: the one in progress; ``results``: what
    ``results.json`` will hold, steps so far included; ``training``: the interrupted step a
    resumed run continues (its epochs so far), else None; ``record``: the last finished
    step's record; ``checkpoint``: the last checkpoint written; ``finished``; ``resumed``:
    whether the run continues from a checkpoint (a tracker then continues its own run)."""

    config: RunConfig
    out_dir: Path | None
    learner: Any
    steps: int
    results: dict[str, Any]
    training: dict[str, Any] | None = None
    step: int = 0
    record: dict[str, Any] | None = None
    checkpoint: str = ""
    finished: bool = False
    resumed: bool = False


class Callback:
    """Do-nothing defaults for every hook: subclass and override the ones you need."""

    def on_run_start(self, run: RunInfo) -> None:
        """Before the first step."""

    def on_step_start(self, run: RunInfo) -> None:
        """Before step ``run.step`` trains."""

    def on_epoch_end(self, epoch: EpochEnd) -> None:
        """After every epoch of the training loop."""

    def on_step_end(self, run: RunInfo) -> None:
        """After step ``run.step`` trained and was evaluated (``run.record``)."""

    def on_checkpoint(self, run: RunInfo) -> None:
        """After the checkpoint ``run.checkpoint`` was written."""

    def on_run_end(self, run: RunInfo) -> None:
        """Once, at the end, finished (``run.finished``) or not."""


class CallbackList:
    """Calls each hook on every callback that has it, in list order. An event raised while
    another is being delivered (the runner's checkpoints announce ``on_checkpoint`` from
    ``on_epoch_end``) waits until the first has reached every callback: each callback hears
    the events in the order they happened."""

    def __init__(self, callbacks: Iterable[Any] = ()) -> None:
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not any(callable(getattr(cb, hook, None)) for hook in HOOKS):
                raise IcarlError(
                    f"callback {cb!r} has none of the hooks {', '.join(HOOKS)}; give it one "
                    "(see icarl.train.callbacks)"
                )
        self._queue: list[tuple[str, Any]] | None = None  # events raised during a delivery

    def emit(self, hook: str, event: Any) -> None:
        if self._queue is not None:
            self._queue.append((hook, event))
            return
        self._queue = [(hook, event)]
        try:
            while self._queue:
                name, ev = self._queue.pop(0)
                for cb in self.callbacks:
                    fn = getattr(cb, name, None)
                    if fn is not None:
                        fn(ev)
        finally:
            self._queue = None

    def on_run_start(self, run: RunInfo) -> None:
        self.emit("on_run_start", run)

    def on_step_start(self, run: RunInfo) -> None:
        self.emit("on_step_start", run)

    def on_epoch_end(self, epoch: EpochEnd) -> None:
        self.emit("on_epoch_end", epoch)

    def on_step_end(self, run: RunInfo) -> None:
        self.emit("on_step_end", run)

    def on_checkpoint(self, run: RunInfo) -> None:
        self.emit("on_checkpoint", run)

    def on_run_end(self, run: RunInfo) -> None:
        self.emit("on_run_end", run)
