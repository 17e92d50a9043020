"""Experiment loggers: each epoch's mean training loss and learning rate, and each step's metrics.

A logger is a callback (:mod:`icarl.train.callbacks`): an object with some of the hooks
``on_run_start``, ``on_epoch_end``, ``on_step_end``, ``on_run_end``. Pass one to
``icarl.run(cfg, callbacks=[MyLogger()])``, or register a factory under a name for ``--log``::

    register_logger("jsonl", JsonLinesLogger)   # --log jsonl

Built in: ``csv`` (``epochs.csv`` beside ``results.json``: step, epoch, loss, lr, threads;
always written in a run folder), ``tensorboard`` (event files under ``RUN_DIR/tensorboard``;
the optional extra ``pip install icarl[tensorboard]``), ``wandb`` and ``mlflow`` (offline by
default; the extras ``icarl[wandb]``, ``icarl[mlflow]``; :mod:`.trackers`). ``--verbose``
adds one printed line per epoch (:class:`EpochPrinter`).

:class:`EpochRecord` is the runner's own: it keeps the epochs of the step in progress
(``results.json`` ``steps[i].epochs`` and the mid-step checkpoints hold them, so the epochs
trained before a kill survive a resume).
"""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .. import distributed
from ..config import ConfigError
from ..files.atomic import open_replacing
from ..registry import Registry
from ..train.callbacks import Callback, EpochEnd, RunInfo
from ..train.console import on_terminal
from .trackers import (
    MLflowLogger,
    WandbLogger,
    epoch_metrics,
    figures,
    hyperparameters,
    param_value,
    step_metrics,
    summary_metrics,
)

EPOCHS_NAME = "epochs.csv"
TENSORBOARD_DIR = "tensorboard"
EPOCH_FIELDS = ("step", "epoch", "loss", "lr", "threads")
NO_TENSORBOARD = "--log tensorboard needs the tensorboard package; pip install 'icarl[tensorboard]'"


@dataclass(frozen=True)
class LoggerSpec:
    """A logger by name: ``factory()`` makes the callback; ``needs``: the package it imports
    (checked when ``--log`` names it), ``install``: what to pip install for it."""

    name: str
    factory: Callable[[], Any]
    needs: str | None = None
    install: str = ""
    description: str = ""


LOGGERS: Registry[LoggerSpec] = Registry("logger", ConfigError)


def register_logger(
    name: str,
    factory: Callable[[], Any],
    *,
    needs: str | None = None,
    install: str = "",
    description: str = "",
    replace: bool = False,
) -> LoggerSpec:
    """Make ``--log NAME`` create ``factory()`` (a callback) for each run."""
    spec = LoggerSpec(name, factory, needs, install or (needs or ""), description)
    return LOGGERS.register(name, spec, replace=replace)


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
            f"unknown logger(s) {', '.join(unknown)} in --log; choose from: {', '.join(LOGGERS.names())}"
        )
    for n in names:
        spec_ = LOGGERS.get(n)
        if spec_.needs and importlib.util.find_spec(spec_.needs) is None:
            if n == "tensorboard":
                raise ConfigError(NO_TENSORBOARD)
            raise ConfigError(f"--log {n} needs the {spec_.needs} package; pip install {spec_.install}")
    return names


def run_loggers(options: LogOptions) -> list[Any]:
    """The callbacks of a run's loggers: CSV always (it writes only with a run folder), the
    named ones, the printer with ``verbose``."""
    names = ["csv", *(n for n in options.names if n != "csv")]
    out = [LOGGERS.get(n).factory() for n in names]
    if options.verbose:
        out.append(EpochPrinter())
    return out


def prior_epochs(run: RunInfo) -> list[dict[str, Any]]:
    """The epoch rows a resumed run trained before: its finished steps', then the interrupted one's."""
    rows = [{"step": s["step"], **e} for s in run.results["steps"] for e in s.get("epochs", [])]
    if run.training is not None:
        rows += [{"step": run.training["step"], **e} for e in run.training.get("epochs", [])]
    return rows


class CSVLogger(Callback):
    """``epochs.csv``: one row per epoch (step 0-based as in metrics.csv, epoch 1-based),
    flushed as it comes; a resumed run's earlier rows are written first. Only with a run
    folder (under DDP: rank 0's)."""

    def __init__(self) -> None:
        self._file: Any = None
        self._writer: Any = None

    def on_run_start(self, run: RunInfo) -> None:
        if run.out_dir is None:
            return
        self._file = open_replacing(run.out_dir / EPOCHS_NAME, newline="")  # a link is replaced
        self._writer = csv.DictWriter(self._file, fieldnames=EPOCH_FIELDS)
        self._writer.writeheader()
        for row in prior_epochs(run):
            self._writer.writerow({k: row.get(k, "") for k in EPOCH_FIELDS})
        self._file.flush()

    def on_epoch_end(self, epoch: EpochEnd) -> None:
        if self._writer is None:
            return
        row = {"step": epoch.step, "epoch": epoch.epoch, "loss": epoch.loss, "lr": epoch.lr}
        self._writer.writerow({**row, "threads": epoch.threads})  # icarl.threads: each epoch's count
        self._file.flush()

    def on_run_end(self, run: RunInfo) -> None:
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None


class TensorBoardLogger(Callback):
    """Scalars ``train/loss`` and ``train/lr`` against the epoch counted over the whole run
    (``step * epochs_per_step + epoch``), ``accuracy/<classifier>`` against the classes seen;
    at the end the hyperparameters (the resolved configuration, flattened) with the run's
    summary metrics (HParams tab) and the report's figures as images. Only with a run folder."""

    def __init__(self) -> None:
        self._writer: Any = None

    def on_run_start(self, run: RunInfo) -> None:
        if run.out_dir is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter  # the optional extra
        except ImportError:
            raise ConfigError(NO_TENSORBOARD) from None
        self._writer = SummaryWriter(str(run.out_dir / TENSORBOARD_DIR))

    def on_epoch_end(self, epoch: EpochEnd) -> None:
        if self._writer is not None:
            at, values = epoch_metrics(epoch)
            for k, v in values.items():
                self._writer.add_scalar(k, v, at)

    def on_step_end(self, run: RunInfo) -> None:
        if self._writer is None or run.record is None:
            return
        seen, values = step_metrics(run.record)
        for k, v in values.items():
            self._writer.add_scalar(k, v, seen)
        self._writer.flush()

    def on_run_end(self, run: RunInfo) -> None:
        if self._writer is None:
            return
        try:
            if run.finished and run.out_dir is not None:
                self._summary(run.results, run.out_dir)
        finally:
            self._writer.close()
            self._writer = None

    def _summary(self, results: dict[str, Any], out_dir: Path) -> None:
        """The HParams plugin's records in this run's own event file (``add_hparams`` would
        write them to a new sub-folder) and the figures, read from the PNGs of the report."""
        import numpy as np
        from PIL import Image
        from torch.utils.tensorboard.summary import hparams

        params = {k: param_value(v) for k, v in hyperparameters(results).items()}
        final = summary_metrics(results)
        for summary in hparams(params, final):
            self._writer.file_writer.add_summary(summary)
        for k, v in final.items():  # the HParams tab shows the scalars of these tags
            self._writer.add_scalar(k, v, 0)
        for tag, path in figures(out_dir).items():
            with Image.open(path) as im:
                self._writer.add_image(tag, np.asarray(im.convert("RGB")), 0, dataformats="HWC")
        self._writer.flush()


class EpochPrinter(Callback):
    """``--verbose``: one plain line per epoch (above the bars on a terminal); rank 0 only."""

    def on_epoch_end(self, epoch: EpochEnd) -> None:
        if not distributed.is_main():
            return
        line = (
            f"  step {epoch.step + 1} epoch {epoch.epoch:>3}/{epoch.epochs}  loss {epoch.loss:.4f}"
            f"  lr {epoch.lr:.4g}"
        )
        if on_terminal():
            tqdm.write(line)
        else:
            print(line, flush=True)


class EpochRecord(Callback):
    """The runner's record of the epochs of the step in progress (a resumed step continues
    with the epochs its checkpoint recorded)."""

    def __init__(self) -> None:
        self.epochs: list[dict[str, Any]] = []

    def on_step_start(self, run: RunInfo) -> None:
        training = run.training
        resumed = training is not None and int(training["step"]) == run.step
        self.epochs = [dict(e) for e in training.get("epochs", [])] if resumed and training else []

    def on_epoch_end(self, epoch: EpochEnd) -> None:
        row = {"epoch": epoch.epoch, "loss": epoch.loss, "lr": epoch.lr, "threads": epoch.threads}
        self.epochs.append(row)


register_logger("csv", CSVLogger, description="epochs.csv beside results.json (always written)")
register_logger(
    "tensorboard",
    TensorBoardLogger,
    needs="tensorboard",
    install="'icarl[tensorboard]'",
    description="TensorBoard event files under RUN_DIR/tensorboard",
)
register_logger(
    "wandb",
    WandbLogger,
    needs="wandb",
    install="'icarl[wandb]'",
    description="Weights & Biases, offline in RUN_DIR/wandb unless WANDB_MODE is set",
)
register_logger(
    "mlflow",
    MLflowLogger,
    needs="mlflow",
    install="'icarl[mlflow]'",
    description="MLflow, a file store in RUN_DIR/mlruns unless MLFLOW_TRACKING_URI is set",
)
