"""Run one method over a class-incremental stream and write ``results.json``.

The configuration is resolved once, here, once the first step's size is known
(:func:`icarl.methods.resolve`: the run's seed, the method's settings, the automatic batch
size); the learner is built from that one object, and it is what ``results.json`` and the
checkpoints record. Nothing here writes the learner's configuration.

Everything that happens during a run is told to one list of callbacks
(:mod:`icarl.train.callbacks`): the runner's own record of the epochs, its checkpoints, its
progress, the loggers, then the user's ``callbacks``. Keys of ``results.json``: see
:mod:`icarl.experiment.results` and :mod:`icarl.experiment.evaluation`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from .. import distributed, methods, threads, timing
from ..algorithm import ICaRL
from ..config import ConfigError, EvaluationConfig, RunConfig, checked, resolve_learner, to_dict
from ..data import ClassIncrementalStream, Dataset, ImageSource, Step
from ..data.loading import run_data
from ..files.checkpoint import (
    CHECKPOINT_NAME,
    RESULTS_NAME,
    Checkpoint,
    CheckpointError,
    clear_run_files,
    clone_state,
    save_checkpoint,
)
from ..timing import phase
from ..train import TrainHooks, TrainingDiverged, TrainState
from ..train.callbacks import Callback, CallbackList, EpochEnd, RunInfo
from ..train.determinism import set_deterministic
from ..version import versions
from . import evaluation
from .environment import environment
from .loggers import NO_LOGGERS, EpochRecord, LogOptions, run_loggers
from .preflight import check_backbone, check_learner
from .progress import Reporter, StepProgress
from .report import build as build_report
from .results import RESULTS_VERSION, summarize, write_json


def load_run_data(cfg: RunConfig) -> Dataset[ImageSource]:
    """The run's data in memory or read from files (``data.storage``); download, cache, image_size."""
    return run_data(cfg.data)[0]


def make_stream(cfg: RunConfig, data: Dataset[ImageSource]) -> ClassIncrementalStream:
    return ClassIncrementalStream(
        data,
        classes_per_step=cfg.data.classes_per_step,
        first_step=cfg.data.first_step,
        order=cfg.data.class_order,
        seed=cfg.seed,
        classes=cfg.data.classes,
    )


def run(
    cfg: RunConfig,
    out_dir: Path | None = None,
    report: Reporter | None = None,
    data: Dataset[ImageSource] | None = None,
    *,
    resume: Checkpoint | None = None,
    deterministic: bool = False,
    learner: ICaRL | None = None,
    log: LogOptions = NO_LOGGERS,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """Train ``cfg.method`` step by step, evaluate after each step, write results.

    With ``out_dir``, ``checkpoint.pt`` there is replaced atomically before the first
    step, every ``cfg.checkpoint_every`` epochs and after every step; ``resume`` (from
    :func:`icarl.files.checkpoint.load_checkpoint`) continues such a run where it stopped.
    Everything that can be checked is checked before anything is written.
    ``learner``: the learner to train (default: a fresh ``cfg.method`` built from the resolved
    configuration); its configuration is the one recorded. ``report``: called with each
    step's record (the command's table row). ``log``: the loggers besides ``epochs.csv`` and
    ``--verbose`` (:mod:`.loggers`). ``callbacks``: your own observers of the run
    (:mod:`icarl.train.callbacks`; a logger object is one), told after the runner's own.
    """
    checked(cfg)  # a configuration from load_config was checked there: nothing is done again
    out_dir = out_dir if distributed.is_main() else None  # DDP: rank 0 writes checkpoints and results
    deterministic = deterministic or (resume is not None and resume.deterministic)
    if deterministic:
        set_deterministic(cfg.seed)
    data = data if data is not None else load_run_data(cfg)
    stream = make_stream(cfg, data)
    cfg, learner = _resolve(cfg, stream, learner)
    learner.check_budget(len(stream.class_order), "of the stream")
    check_learner(cfg.learner)  # device and backbone, before the run folder is touched
    if resume is None and learner.net_ is None:  # a resumed learner builds it before any write
        check_backbone(cfg.learner, data.image_shape, learner.backbone_object)
    record, fingerprint = to_dict(cfg), data.fingerprint()
    saver = _saver(out_dir, record, data, fingerprint, len(stream), resume, deterministic)
    fresh = new_results(record, data, stream, fingerprint)
    results, training = _start(resume, learner, saver, out_dir, fresh)
    results["environment"] = environment(learner, deterministic)
    info = RunInfo(cfg, out_dir, learner, len(stream), results, training, resumed=resume is not None)
    epochs = EpochRecord()
    progress = StepProgress(report, enabled=cfg.learner.progress, desc=cfg.method)
    own = [epochs, *([saver] if saver else []), progress]  # the runner's own, in this order
    calls = CallbackList([*own, *run_loggers(log), *callbacks])
    if saver is not None:
        saver.attach(info, epochs, calls)
    calls.on_run_start(info)
    try:
        for index in range(len(results["steps"]), len(stream)):
            info.step, info.record = index, None
            calls.on_step_start(info)
            before = timing.totals()
            hooks = _hooks(calls, index, info.training)
            step_record = _checked_step(learner, stream, index, hooks, data, cfg, saver, deterministic)
            info.training = None
            step_record["epochs"] = epochs.epochs
            step_record["phase_seconds"] = timing.since(before)
            results["steps"].append(step_record)
            info.record = step_record
            calls.on_step_end(info)
        finish(results, out_dir, learner, log.figures)
        info.finished = True
    finally:
        calls.on_run_end(info)
    return results


def _resolve(
    cfg: RunConfig, stream: ClassIncrementalStream, learner: ICaRL | None
) -> tuple[RunConfig, ICaRL]:
    """The run's one resolved configuration and its learner. Without a learner: the run's
    seed, the method's settings and the automatic batch size (:func:`icarl.methods.resolve`),
    and a learner built from exactly that. With one: its own configuration, with the batch
    size its first ``partial_fit`` will resolve from the same first step."""
    first = stream.train_size(0) if len(stream) else None
    if learner is None:
        cfg = methods.resolve(cfg, first)
        return cfg, methods.get(cfg.method).create(cfg.learner)
    return replace(cfg, learner=resolve_learner(learner.config, first_step_images=first)), learner


def _checked_step(
    learner: ICaRL,
    stream: ClassIncrementalStream,
    index: int,
    hooks: TrainHooks,
    data: Dataset[ImageSource],
    cfg: RunConfig,
    saver: _Saver | None,
    deterministic: bool,
) -> dict[str, Any]:
    """:func:`train_step` on step ``index``; a diverged loss or a nondeterministic kernel as
    one-line errors."""
    try:
        groups = stream.groups[: index + 1]
        return train_step(learner, stream[index], hooks, data, groups, cfg.evaluation)
    except TrainingDiverged as e:
        raise TrainingDiverged(f"{e}; {saver.kept() if saver else 'nothing was saved'}") from None
    except RuntimeError as e:
        if deterministic and "deterministic" in str(e):
            raise ConfigError(_nondeterministic(e)) from None
        raise


def _saver(
    out_dir: Path | None,
    record: dict[str, Any],
    data: Dataset[ImageSource],
    fingerprint: str,
    total: int,
    resume: Checkpoint | None,
    deterministic: bool,
) -> _Saver | None:
    """The checkpoint writer of a run with a folder (after checking a resumed run's data)."""
    if out_dir is None:
        return None
    if resume is not None and resume.data_fingerprint != fingerprint:
        raise CheckpointError(
            f"the {data.name} data differ from those the checkpoint in {out_dir} was trained on; "
            "resume with the same data, or start over with --force"
        )
    return _Saver(out_dir, record, fingerprint, total, deterministic, int(record["checkpoint_every"]))


def _start(
    resume: Checkpoint | None,
    learner: ICaRL,
    saver: _Saver | None,
    out_dir: Path | None,
    fresh: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The results so far and the interrupted training state: from ``resume``, or new."""
    if resume is not None:
        if resume.learner.get("unsaved"):
            raise CheckpointError(
                f"method {learner.method} keeps state that its checkpoints do not hold "
                f"({', '.join(resume.learner['unsaved'])}), so its run cannot be resumed; "
                "give it state_dict/load_state_dict methods, or start again with --force"
            )
        learner.load_state_dict(resume.learner)
        if saver is not None:
            saver.last = resume.describe()  # still the last good checkpoint
        return resume.results, resume.training
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        clear_run_files(out_dir)
    return fresh, None


def capture(learner: ICaRL) -> dict[str, Any]:
    """``learner.state_dict()``; for a subclass with learned attributes (``..._``) of its own
    that keeps the base state_dict, also the names of what the checkpoint then lacks."""
    state = learner.state_dict()
    if type(learner).state_dict is ICaRL.state_dict:
        known = _base_attributes()
        state["unsaved"] = sorted(k for k in vars(learner) if k.endswith("_") and k not in known)
    return state


@functools.cache
def _base_attributes() -> frozenset[str]:
    """The attributes a plain ``ICaRL`` has (built once, not at every checkpoint)."""
    return frozenset(vars(ICaRL()))


def new_results(
    record: dict[str, Any], data: Dataset[ImageSource], stream: ClassIncrementalStream, fingerprint: str
) -> dict[str, Any]:
    return {
        "results_version": RESULTS_VERSION,
        "method": record["method"],
        "dataset": data.name,
        "data_fingerprint": fingerprint,  # what `icarl rerun` checks before repeating the run
        "class_order": stream.class_order,
        "class_names": [data.class_names[c] for c in stream.class_order],
        "config": record,
        "versions": versions(),
        "steps": [],
    }


def train_step(
    learner: ICaRL,
    step: Step,
    hooks: TrainHooks,
    data: Dataset[ImageSource],
    groups: list[tuple[int, ...]],
    ev_cfg: EvaluationConfig | None = None,
) -> dict[str, Any]:
    """Algorithm 2 on one step, then one evaluation pass on every class seen so far
    (NME, network outputs and, with ``evaluation.incm``, iNCM; the metrics of
    :mod:`icarl.experiment.evaluation`)."""
    t0 = time.perf_counter()
    learner.partial_fit(step.train, resume=hooks.resume, callbacks=hooks.callbacks)
    train_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev_cfg = ev_cfg or EvaluationConfig()
    seen_train = data.train.of_classes(list(step.seen_classes)) if ev_cfg.incm else None
    with phase("eval"):
        ev = evaluation.evaluate(learner, step.test_seen, seen_train, groups, ev_cfg.score_all_outputs)
    acc = ev.pop("accuracy")
    ev.pop("eval_seconds", None)
    return {
        "step": step.index,
        "classes": list(step.classes),
        "seen_classes": len(step.seen_classes),
        "accuracy": acc,
        "memory_size": len(learner.memory_),
        "memory_bytes": learner.memory_.nbytes,
        "train_seconds": round(train_seconds, 3),
        "eval_seconds": round(time.perf_counter() - t0, 3),
        **ev,
    }


def finish(
    results: dict[str, Any],
    out_dir: Path | None,
    learner: ICaRL | None = None,
    formats: tuple[str, ...] = ("png",),
) -> dict[str, Any]:
    """Add the summaries and run-level metrics, write ``results.json`` (atomically),
    ``metrics.csv``, the figures and ``report.html``."""
    avg, final = summarize(results["steps"])
    results["average_incremental_accuracy"] = avg
    results["final_accuracy"] = final
    results["average_incremental_top5"], results["final_top5"] = summarize(results["steps"], "top5")
    out_dir = out_dir if distributed.is_main() else None  # DDP: rank 0 writes
    if "environment" in results:
        results["environment"].update(threads.policy())  # the thread counts the run used
    if learner is not None:
        evaluation.finish_run(results, learner, out_dir)
    if out_dir is not None:
        write_json(out_dir / RESULTS_NAME, results)
        build_report(out_dir, formats)  # accuracy.png, confusion.png, report.html
    return results


class _Saver(Callback):
    """The run's checkpoints, a callback: the learner's state at the start of each step (the
    first checkpoint of a run), every ``checkpoint_every`` epochs within a step (that start
    state, the loop's state and the step's epochs so far), and after every step. Remembers
    the last good one; each one written is announced to the run's callbacks
    (``on_checkpoint``, once :meth:`attach` gave it the run)."""

    def __init__(
        self, out_dir: Path, record: dict[str, Any], fingerprint: str, total: int, det: bool, every: int
    ) -> None:
        self.out_dir, self.record, self.fingerprint = out_dir, record, fingerprint
        self.total, self.det, self.every = total, det, every
        self.last = ""
        self.base: dict[str, Any] | None = None  # the learner's state at the start of the step
        self.run: tuple[RunInfo, EpochRecord, CallbackList] | None = None

    def attach(self, info: RunInfo, epochs: EpochRecord, calls: CallbackList) -> None:
        self.run = (info, epochs, calls)

    def save(
        self, learner: dict[str, Any], results: dict[str, Any], training: dict[str, Any] | None = None
    ) -> None:
        ck = Checkpoint(
            self.record,
            self.det,
            self.fingerprint,
            self.total,
            results,
            learner,
            training,
            distributed.world(),
        )
        with phase("checkpoint"):
            save_checkpoint(self.out_dir, ck)
        self.last = ck.describe()
        if self.run is not None:
            info, _, calls = self.run
            info.checkpoint = self.last
            calls.on_checkpoint(info)

    def kept(self) -> str:
        if not self.last:
            return "no checkpoint was written"
        return f"the last good checkpoint ({self.last}) is kept in {self.out_dir / CHECKPOINT_NAME}"

    def on_step_start(self, run: RunInfo) -> None:
        self.base = clone_state(capture(run.learner))  # cloned: training changes the live state
        if not self.last:
            self.save(self.base, run.results)

    def on_epoch_end(self, epoch: EpochEnd) -> None:
        if self.base is None or self.run is None or self.every <= 0 or epoch.epoch % self.every:
            return
        info, epochs, _ = self.run
        state = epoch.train_state()
        if _finite(state.net):  # only good states are kept
            training = {"step": info.step, "epochs": list(epochs.epochs), **state.as_dict()}
            self.save(self.base, info.results, training)

    def on_step_end(self, run: RunInfo) -> None:
        self.save(capture(run.learner), run.results)


def _hooks(calls: CallbackList, index: int, training: dict[str, Any] | None) -> TrainHooks:
    """What ``partial_fit`` gets for step ``index``: the run's callbacks and, for the step a
    resumed run stopped in, the interrupted training state to continue."""
    resume = None
    if training is not None and int(training["step"]) == index:
        resume = TrainState.from_dict(training)
    return TrainHooks(resume, (calls,))  # the run's list itself: it orders the events it raises


def _nondeterministic(e: RuntimeError) -> str:
    first = str(e).strip().splitlines()[0][:160]
    return f"--deterministic: {first}; run on the CPU (--device cpu) or without --deterministic"


def _finite(tensors: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in tensors.values() if v.is_floating_point())
