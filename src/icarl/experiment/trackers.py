"""Experiment trackers as loggers: Weights & Biases (``--log wandb``) and MLflow (``--log mlflow``),
and what they, and TensorBoard, log at the end of a run.

Each is a callback (:mod:`icarl.train.callbacks`) that writes only with a run folder (under
DDP: rank 0's), and imports its library only when a run starts with it (the extras
``pip install 'icarl[wandb]'`` / ``'icarl[mlflow]'``). Both work without a network by default:

- W&B runs in offline mode (``RUN_DIR/wandb/offline-run-*``; upload later with
  ``wandb sync``) unless ``WANDB_MODE`` is set (``online``, ``disabled``); ``WANDB_DIR`` and
  ``WANDB_PROJECT`` (default ``icarl``) are honoured.
- MLflow logs to a file store in the run folder (``RUN_DIR/mlruns``) unless
  ``MLFLOW_TRACKING_URI`` is set; experiment ``MLFLOW_EXPERIMENT_NAME`` (default ``icarl``).

What each logs (the same names everywhere): the resolved configuration flattened
(``learner.lr``) as hyperparameters; ``train/loss`` and ``train/lr`` per epoch against the
epoch counted over the run (``step * epochs + epoch``); ``accuracy/<classifier>`` after each
step against the classes seen; at the end ``average_incremental_accuracy/<classifier>``,
``final_accuracy/...``, ``forgetting/...`` and ``backward_transfer/...`` (the values of
``results.json``, from :mod:`.metrics`), the environment (``environment.threads``,
``versions.torch``, ...) and the figures of the report.

A resumed run continues the tracker's run: its id is kept in ``RUN_DIR/trackers.json``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..algorithm import classifiers
from ..config import ConfigError
from ..files.atomic import atomic_write
from ..files.checkpoint import RESULTS_NAME
from ..train.callbacks import Callback, EpochEnd, RunInfo

IDS_NAME = "trackers.json"
FIGURES = ("accuracy", "accuracy_matrix", "confusion", "loss")  # the report's PNGs, logged as images
SUMMARY_KEYS = ("average_incremental_accuracy", "final_accuracy", "forgetting", "backward_transfer")
NO_WANDB = "--log wandb needs the wandb package; pip install 'icarl[wandb]'"
NO_MLFLOW = "--log mlflow needs the mlflow package; pip install 'icarl[mlflow]'"


# ------------------------------------------------------------ what is logged
def flatten(d: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``{"learner": {"lr": 2}}`` -> ``("learner.lr", 2)``."""
    for k, v in d.items():
        if isinstance(v, dict):
            yield from flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def param_value(v: Any) -> bool | int | float | str:
    """A hyperparameter as a scalar: numbers, strings and booleans as they are, anything else
    (lists, None) as its JSON text (``[0, 1, 2]``, ``null``)."""
    return v if isinstance(v, bool | int | float | str) else json.dumps(v)


def hyperparameters(results: dict[str, Any]) -> dict[str, Any]:
    """The run's resolved configuration (``results.json`` ``config``), flattened."""
    return dict(flatten(results.get("config", {})))


def environment(results: dict[str, Any]) -> dict[str, Any]:
    """``environment.*`` and ``versions.*`` of ``results.json``, flattened (the command joined)."""
    env = dict(results.get("environment", {}))
    if isinstance(env.get("command"), list):
        env["command"] = " ".join(str(a) for a in env["command"])
    return dict(flatten({"environment": env, "versions": results.get("versions", {})}))


def environment_tags(results: dict[str, Any]) -> dict[str, str]:
    """:func:`environment` as strings (MLflow's tags)."""
    return {k: str(v) for k, v in environment(results).items()}


def epoch_metrics(epoch: EpochEnd) -> tuple[int, dict[str, float]]:
    """The epoch counted over the run (TensorBoard's step too) and its loss and lr."""
    return epoch.step * epoch.epochs + epoch.epoch, {"train/loss": epoch.loss, "train/lr": epoch.lr}


def replayed(run: RunInfo) -> Iterator[tuple[str, int, dict[str, float]]]:
    """What a resumed run's record holds, as it was logged: ``("epoch", at, values)`` and
    ``("step", seen, accuracies)``. A kill can fall between a checkpoint and the loggers (the
    checkpoint is written first), so a tracker that continues its run logs the record again
    (the same values at the same x: the curves do not change) and misses nothing."""
    epochs = run.config.learner.epochs

    def rows(step: int, record: dict[str, Any]) -> Iterator[tuple[str, int, dict[str, float]]]:
        for e in record.get("epochs", []):
            yield "epoch", step * epochs + int(e["epoch"]), {"train/loss": e["loss"], "train/lr": e["lr"]}

    for s in run.results["steps"]:
        yield from rows(int(s["step"]), s)
        yield ("step", *step_metrics(s))
    if run.training is not None:
        yield from rows(int(run.training["step"]), run.training)


def step_metrics(record: dict[str, Any]) -> tuple[int, dict[str, float]]:
    """The classes seen after a step and each classifier's accuracy on them."""
    accs = record.get("accuracy", {})
    out = {f"accuracy/{k}": float(accs[k]) for k in classifiers.names() if accs.get(k) is not None}
    return int(record["seen_classes"]), out


def summary_metrics(results: dict[str, Any]) -> dict[str, float]:
    """Average incremental and final accuracy, forgetting and backward transfer per
    classifier, as ``results.json`` holds them (those that apply)."""
    out = {}
    for key in SUMMARY_KEYS:
        for name, v in (results.get(key) or {}).items():
            if v is not None and not math.isnan(v):
                out[f"{key}/{name}"] = float(v)
    return out


def figures(out_dir: Path) -> dict[str, Path]:
    """The report's figures the run folder holds (``figures/accuracy`` -> accuracy.png)."""
    return {f"figures/{n}": out_dir / f"{n}.png" for n in FIGURES if (out_dir / f"{n}.png").is_file()}


# ------------------------------------------------------------ run ids
def read_ids(out_dir: Path) -> dict[str, Any]:
    """``RUN_DIR/trackers.json``: each tracker's run, so that a resumed run continues it
    (empty when missing or unreadable: the tracker starts a new run)."""
    try:
        ids = json.loads((out_dir / IDS_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return ids if isinstance(ids, dict) else {}


def write_id(out_dir: Path, tracker: str, value: dict[str, Any]) -> None:
    ids = {**read_ids(out_dir), tracker: value}
    atomic_write(out_dir / IDS_NAME, (json.dumps(ids, indent=2) + "\n").encode())


def continued(run: RunInfo, tracker: str) -> dict[str, Any]:
    """The tracker's run to continue: a resumed run's recorded one, else none (a fresh run,
    and a run started over with ``--force``, gets a new one)."""
    if not run.resumed or run.out_dir is None:
        return {}
    found = read_ids(run.out_dir).get(tracker)
    return found if isinstance(found, dict) else {}


# ------------------------------------------------------------ Weights & Biases
def wandb_init_args(out_dir: Path, run_id: str | None) -> dict[str, Any]:
    """``wandb.init`` arguments: offline unless ``WANDB_MODE`` is set, files under the run
    folder unless ``WANDB_DIR`` is, the same id (and resume) for a resumed run."""
    args: dict[str, Any] = {
        "project": os.environ.get("WANDB_PROJECT") or "icarl",
        "name": out_dir.name,
        "reinit": "create_new",  # one W&B run per icarl run, beside any run of the user's
    }
    if not os.environ.get("WANDB_MODE"):
        args["mode"] = "offline"
    if not os.environ.get("WANDB_DIR"):
        args["dir"] = str(out_dir)
    if run_id:
        args["id"], args["resume"] = run_id, "allow"
    return args


class WandbLogger(Callback):
    """``--log wandb``: a Weights & Biases run per icarl run (see the module's docstring)."""

    def __init__(self) -> None:
        self._run: Any = None
        self._wandb: Any = None

    def on_run_start(self, run: RunInfo) -> None:
        if run.out_dir is None:
            return
        try:
            import wandb  # the optional extra
        except ImportError:
            raise ConfigError(NO_WANDB) from None
        self._wandb = wandb
        args = wandb_init_args(run.out_dir, continued(run, "wandb").get("id"))
        settings = wandb.Settings(console="off", silent=True)  # our output stays ours
        config = {**hyperparameters(run.results), **environment(run.results)}
        try:
            self._run = wandb.init(config=config, settings=settings, **args)
        except Exception as e:  # a bad WANDB_* setting, no login for online mode
            raise ConfigError(f"--log wandb could not start a run: {_first_line(e)}; check WANDB_*") from None
        self._run.define_metric("train/epoch")
        self._run.define_metric("train/*", step_metric="train/epoch")
        self._run.define_metric("classes_seen")
        self._run.define_metric("accuracy/*", step_metric="classes_seen")
        write_id(run.out_dir, "wandb", {"id": self._run.id, "project": args["project"]})
        if run.resumed:
            for kind, x, values in replayed(run):
                self._log(kind, x, values)

    def _log(self, kind: str, x: int, values: dict[str, float]) -> None:
        self._run.log({**values, ("train/epoch" if kind == "epoch" else "classes_seen"): x})

    def on_epoch_end(self, epoch: EpochEnd) -> None:
        if self._run is not None:
            self._log("epoch", *epoch_metrics(epoch))

    def on_step_end(self, run: RunInfo) -> None:
        if self._run is not None and run.record is not None:
            self._log("step", *step_metrics(run.record))

    def on_run_end(self, run: RunInfo) -> None:
        if self._run is None:
            return
        try:
            if run.finished and run.out_dir is not None:
                self._run.summary.update(summary_metrics(run.results))
                self._run.config.update(environment(run.results), allow_val_change=True)
                images = {k: self._wandb.Image(str(p)) for k, p in figures(run.out_dir).items()}
                if images:
                    self._run.log(images)
        finally:
            self._run.finish(exit_code=0 if run.finished else 1)
            self._run = None


# ------------------------------------------------------------ MLflow
def mlflow_uri(out_dir: Path) -> str:
    """``MLFLOW_TRACKING_URI``, else a file store in ``RUN_DIR/mlruns``. MLflow 3 keeps its
    file store in maintenance mode, refused unless ``MLFLOW_ALLOW_FILE_STORE`` is true: icarl
    sets that (for its own file store only, and only where the user did not set it)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return (out_dir / "mlruns").resolve().as_uri()


class MLflowLogger(Callback):
    """``--log mlflow``: an MLflow run per icarl run, through ``MlflowClient`` (no global
    active run; see the module's docstring)."""

    def __init__(self) -> None:
        self._client: Any = None
        self._id = ""
        self._entities: Any = None

    def on_run_start(self, run: RunInfo) -> None:
        if run.out_dir is None:
            return
        try:
            import mlflow.entities  # the optional extra
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise ConfigError(NO_MLFLOW) from None
        self._entities = mlflow.entities
        uri = mlflow_uri(run.out_dir)
        try:
            self._client = MlflowClient(tracking_uri=uri)
            new = self._start(run)
        except Exception as e:  # an unreachable server, a refused store
            self._client = None
            raise ConfigError(
                f"--log mlflow could not start a run at {uri}: {_first_line(e)}; check MLFLOW_TRACKING_URI"
            ) from None
        if new:  # parameters cannot change in MLflow: a continued run keeps its own
            flat = hyperparameters(run.results).items()
            params = [self._entities.Param(k, str(param_value(v))) for k, v in flat]
            for i in range(0, len(params), 100):  # MLflow takes at most 100 a batch
                self._client.log_batch(self._id, params=params[i : i + 100])
        self._tags(run.results)
        write_id(run.out_dir, "mlflow", {"run_id": self._id, "tracking_uri": uri})
        if run.resumed:
            now = int(time.time() * 1000)
            metrics = [self._entities.Metric(k, v, now, x) for _, x, d in replayed(run) for k, v in d.items()]
            for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 a batch
                self._client.log_batch(self._id, metrics=metrics[i : i + 1000])

    def _start(self, run: RunInfo) -> bool:
        """Continue the recorded run (a resumed icarl run) where the store has it (the run
        folder may have moved with its mlruns; a run id is a UUID), or create one; True when new."""
        old = continued(run, "mlflow")
        if old.get("run_id"):
            try:
                self._id = self._client.get_run(old["run_id"]).info.run_id
                self._client.update_run(self._id, status="RUNNING")
                return False
            except Exception:  # gone from the store: a new run
                pass
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or "icarl"
        exp = self._client.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp is not None else self._client.create_experiment(name)
        assert run.out_dir is not None  # internal: checked by on_run_start
        self._id = self._client.create_run(exp_id, run_name=run.out_dir.name).info.run_id
        return True

    def _metrics(self, values: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        metrics = [self._entities.Metric(k, v, now, step) for k, v in values.items()]
        self._client.log_batch(self._id, metrics=metrics)

    def _tags(self, results: dict[str, Any]) -> None:
        tags = [self._entities.RunTag(k, v[:5000]) for k, v in environment_tags(results).items()]
        self._client.log_batch(self._id, tags=tags)

    def on_epoch_end(self, epoch: EpochEnd) -> None:
        if self._client is not None:
            at, values = epoch_metrics(epoch)
            self._metrics(values, at)

    def on_step_end(self, run: RunInfo) -> None:
        if self._client is not None and run.record is not None:
            seen, values = step_metrics(run.record)
            self._metrics(values, seen)

    def on_run_end(self, run: RunInfo) -> None:
        if self._client is None:
            return
        try:
            if run.finished and run.out_dir is not None:
                self._metrics(summary_metrics(run.results), len(run.results["steps"]))
                self._tags(run.results)  # the thread counts the run used are known now
                for p in [*figures(run.out_dir).values(), run.out_dir / RESULTS_NAME]:
                    if p.is_file():
                        self._client.log_artifact(self._id, str(p))
        finally:
            self._client.set_terminated(self._id, "FINISHED" if run.finished else "FAILED")
            self._client = None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:200]
