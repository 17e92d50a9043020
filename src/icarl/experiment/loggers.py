"""Experiment loggers: each epoch's mean training loss and learning rate, and each step's metrics.

A logger is anything with :class:`RunLogger`'s three methods. Built in: ``csv``
(``epochs.csv`` beside ``results.json``: step, epoch, loss, lr, threads; always written in a run
folder) and ``tensorboard`` (event files under ``RUN_DIR/tensorboard``; the optional extra
``pip install icarl[tensorboard]``). ``--verbose`` adds one printed line per epoch.

:class:`RunLog` is what the runner drives: it keeps the epochs of the step in progress
(``results.json`` ``steps[i].epochs`` and the mid-step checkpoints hold them, so the epochs
trained before a kill survive a resume) and hands every record to the loggers.
"""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

from .. import distributed
from ..config import ConfigError
from ..files.atomic import open_replacing
from ..train.loop import EpochLog, on_terminal
from .results import CLASSIFIERS

LOGGERS = ("csv", "tensorboard")
EPOCHS_NAME = "epochs.csv"
TENSORBOARD_DIR = "tensorboard"
EPOCH_FIELDS = ("step", "epoch", "loss", "lr", "threads")
NO_TENSORBOARD = "--log tensorboard needs the tensorboard package; pip install 'icarl[tensorboard]'"


class RunLogger(Protocol):
    """What the runner calls: after every epoch, after every step, once at the end."""

    def log_epoch(self, step: int, epoch: int, loss: float, lr: float) -> None: ...

    def log_step(self, step: int, metrics: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class LogOptions:
    """``--log`` (the loggers besides the built-in CSV one), ``--verbose`` and the figure
    formats (``--figure-format``) of a run."""

    names: tuple[str, ...] = ()
    verbose: bool = False
    figures: tuple[str, ...] = ("png",)


NO_LOGGERS = LogOptions()


def parse_log(spec: str | None) -> tuple[str, ...]:
    """``--log csv,tensorboard`` -> the names, checked (one-line errors)."""
    names = tuple(dict.fromkeys(n.strip() for n in (spec or "").split(",") if n.strip()))
    unknown = [n for n in names if n not in LOGGERS]
    if unknown:
        raise ConfigError(
            f"unknown logger(s) {', '.join(unknown)} in --log; choose from: {', '.join(LOGGERS)}"
        )
    if "tensorboard" in names and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(NO_TENSORBOARD)
    return names


class CSVLogger:
    """``epochs.csv``: one row per epoch (step 0-based as in metrics.csv, epoch 1-based),
    flushed as it comes; ``prior`` rows (a resumed run's) are written first."""

    def __init__(self, path: Path, prior: Sequence[dict[str, Any]] = ()) -> None:
        self._file = open_replacing(path, newline="")  # a link there is replaced, never followed
        self._writer = csv.DictWriter(self._file, fieldnames=EPOCH_FIELDS)
        self._writer.writeheader()
        for row in prior:
            self._writer.writerow({k: row.get(k, "") for k in EPOCH_FIELDS})
        self._file.flush()

    def log_epoch(self, step: int, epoch: int, loss: float, lr: float) -> None:
        row = {"step": step, "epoch": epoch, "loss": loss, "lr": lr, "threads": torch.get_num_threads()}
        self._writer.writerow(row)
        self._file.flush()

    def log_step(self, step: int, metrics: dict[str, Any]) -> None:
        """Step metrics go to ``metrics.csv`` (written with ``results.json``)."""

    def close(self) -> None:
        self._file.close()


class TensorBoardLogger:
    """Scalars ``train/loss`` and ``train/lr`` against the epoch counted over the whole run
    (``step * epochs_per_step + epoch``), ``accuracy/<classifier>`` against the classes seen."""

    def __init__(self, folder: Path, epochs_per_step: int) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter  # the optional extra
        except ImportError:
            raise ConfigError(NO_TENSORBOARD) from None
        self._writer = SummaryWriter(str(folder))
        self._epochs = epochs_per_step

    def log_epoch(self, step: int, epoch: int, loss: float, lr: float) -> None:
        at = step * self._epochs + epoch
        self._writer.add_scalar("train/loss", loss, at)
        self._writer.add_scalar("train/lr", lr, at)

    def log_step(self, step: int, metrics: dict[str, Any]) -> None:
        for k in CLASSIFIERS:
            acc = metrics.get("accuracy", {}).get(k)
            if acc is not None:
                self._writer.add_scalar(f"accuracy/{k}", acc, int(metrics["seen_classes"]))
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class EpochPrinter:
    """``--verbose``: one plain line per epoch (above the bars on a terminal)."""

    def __init__(self, epochs_per_step: int) -> None:
        self._epochs = epochs_per_step

    def log_epoch(self, step: int, epoch: int, loss: float, lr: float) -> None:
        line = f"  step {step + 1} epoch {epoch:>3}/{self._epochs}  loss {loss:.4f}  lr {lr:.4g}"
        if on_terminal():
            tqdm.write(line)
        else:
            print(line, flush=True)

    def log_step(self, step: int, metrics: dict[str, Any]) -> None:
        """The step's row is printed by the command."""

    def close(self) -> None:
        """Nothing to release."""


class RunLog:
    """The epochs of the step in progress, and the loggers every record goes to."""

    def __init__(self, loggers: Sequence[RunLogger]) -> None:
        self.loggers = list(loggers)
        self.step = 0
        self.epochs: list[dict[str, Any]] = []

    def start_step(self, index: int, training: dict[str, Any] | None) -> None:
        """A new step; a resumed one continues with the epochs its checkpoint recorded."""
        self.step = index
        resumed = training is not None and int(training["step"]) == index
        self.epochs = [dict(e) for e in training.get("epochs", [])] if resumed and training else []

    def on_epoch(self, log: EpochLog) -> None:
        self.epochs.append({"epoch": log.epoch, "loss": log.loss, "lr": log.lr, "threads": log.threads})
        for logger in self.loggers:
            logger.log_epoch(self.step, log.epoch, log.loss, log.lr)

    def end_step(self, record: dict[str, Any]) -> None:
        record["epochs"] = self.epochs
        for logger in self.loggers:
            logger.log_step(self.step, record)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_run_log(
    options: LogOptions,
    out_dir: Path | None,
    results: dict[str, Any],
    training: dict[str, Any] | None,
    epochs_per_step: int,
) -> RunLog:
    """The run's loggers: CSV (with a folder: rank 0 under DDP), the named ones, the printer
    with ``verbose`` (rank 0)."""
    loggers: list[RunLogger] = []
    if out_dir is not None:
        prior = [{"step": s["step"], **e} for s in results["steps"] for e in s.get("epochs", [])]
        if training is not None:
            prior += [{"step": training["step"], **e} for e in training.get("epochs", [])]
        loggers.append(CSVLogger(out_dir / EPOCHS_NAME, prior))
        if "tensorboard" in options.names:
            loggers.append(TensorBoardLogger(out_dir / TENSORBOARD_DIR, epochs_per_step))
    if options.verbose and distributed.is_main():
        loggers.append(EpochPrinter(epochs_per_step))
    return RunLog(loggers)
