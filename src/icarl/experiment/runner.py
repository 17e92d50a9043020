"""Run one method over a class-incremental stream and write ``results.json``.

The configuration is resolved once (:func:`icarl.methods.resolve`: the run's seed, then
the method's settings); that one object is what the learner trains with and what
``results.json``, the checkpoints and ``--dry-run`` record. Keys of ``results.json``:
see :mod:`icarl.experiment.results` and :mod:`icarl.experiment.evaluation`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from .. import distributed, methods, threads, timing
from ..algorithm import ICaRL
from ..config import ConfigError, EvaluationConfig, RunConfig, resolve_batch_size, to_dict
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
from ..train import TrainingDiverged, TrainState
from ..train.determinism import set_deterministic
from ..version import versions
from . import evaluation
from .environment import environment
from .loggers import NO_LOGGERS, LogOptions, RunLog, open_run_log
from .preflight import check_backbone, check_learner
from .progress import with_step_bar
from .report import build as build_report
from .results import RESULTS_VERSION, summarize, write_json

Reporter = Callable[[dict[str, Any]], None]


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
) -> dict[str, Any]:
    """Train ``cfg.method`` step by step, evaluate after each step, write results.

    With ``out_dir``, ``checkpoint.pt`` there is replaced atomically before the first
    step, every ``cfg.checkpoint_every`` epochs and after every step; ``resume`` (from
    :func:`icarl.files.checkpoint.load_checkpoint`) continues such a run where it stopped.
    Everything that can be checked is checked before anything is written.
    ``learner``: the learner to train (default: a fresh ``cfg.method``); pass one to
    keep it afterwards (``icarl run --save``). Its configuration is the one recorded.
    ``log``: the loggers besides ``epochs.csv`` and ``--verbose`` (:mod:`.loggers`).
    """
    if cfg.checkpoint_every < 0:
        raise ConfigError(f"checkpoint_every is {cfg.checkpoint_every}; use 0 (after each step only) or more")
    cfg = methods.resolve(cfg)
    learner = learner if learner is not None else methods.create(cfg.method, cfg.learner)
    cfg = replace(cfg, learner=learner.config)  # what trains is what is recorded
    out_dir = out_dir if distributed.is_main() else None  # DDP: rank 0 writes checkpoints and results
    deterministic = deterministic or (resume is not None and resume.deterministic)
    if deterministic:
        set_deterministic(cfg.seed)
    data = data if data is not None else load_run_data(cfg)
    stream = make_stream(cfg, data)
    check_memory(learner, len(stream.class_order))
    learner.config = resolve_batch_size(learner.config, stream.train_size(0))  # batch_size 0: auto
    cfg = replace(cfg, learner=learner.config)
    check_learner(cfg.learner)  # device and backbone, before the run folder is touched
    if resume is None and learner.net_ is None:  # a resumed learner builds it before any write
        check_backbone(cfg.learner, data.image_shape, learner.backbone_object)
    record, fingerprint = to_dict(cfg), data.fingerprint()
    saver = _saver(out_dir, record, data, fingerprint, len(stream), resume, deterministic)
    fresh = new_results(record, data, stream, fingerprint)
    results, training = _start(resume, learner, saver, out_dir, fresh)
    results["environment"] = environment(learner, deterministic)
    bar = learner.config.progress and distributed.is_main()  # DDP: progress on rank 0 only
    report = with_step_bar(report, len(stream) - len(results["steps"]), bar, cfg.method)
    with open_run_log(log, out_dir, results, training, cfg.learner.epochs) as runlog:
        for index in range(len(results["steps"]), len(stream)):
            before = timing.totals()
            base = _step_start(saver, learner, results)
            hooks = _hooks(saver, base, results, index, training, runlog)
            step_record = _checked_step(learner, stream, index, hooks, data, cfg, saver, deterministic)
            training = None
            step_record["phase_seconds"] = timing.since(before)
            runlog.end_step(step_record)
            results["steps"].append(step_record)
            if saver is not None:
                saver.save(capture(learner), results)
            if report is not None:
                report(step_record)
    return finish(results, out_dir, learner, log.figures)


def _checked_step(
    learner: ICaRL,
    stream: ClassIncrementalStream,
    index: int,
    hooks: dict[str, Any],
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


def check_memory(learner: ICaRL, total: int) -> None:
    K = learner.config.memory_size
    if 0 < K < total:
        raise ConfigError(
            f"memory size K={K} is smaller than the {total} classes of the stream, so m = K // t "
            f"would reach 0; set --memory to at least {total}"
        )


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
    hooks: dict[str, Any],
    data: Dataset[ImageSource],
    groups: list[tuple[int, ...]],
    ev_cfg: EvaluationConfig | None = None,
) -> dict[str, Any]:
    """Algorithm 2 on one step, then one evaluation pass on every class seen so far
    (NME, network outputs and, with ``evaluation.incm``, iNCM; the metrics of
    :mod:`icarl.experiment.evaluation`)."""
    t0 = time.perf_counter()
    learner.partial_fit(step.train, **hooks)
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


class _Saver:
    """Writes the run's checkpoints; remembers which one is the last good one."""

    def __init__(
        self, out_dir: Path, record: dict[str, Any], fingerprint: str, total: int, det: bool, every: int
    ) -> None:
        self.out_dir, self.record, self.fingerprint = out_dir, record, fingerprint
        self.total, self.det, self.every = total, det, every
        self.last = ""

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

    def kept(self) -> str:
        if not self.last:
            return "no checkpoint was written"
        return f"the last good checkpoint ({self.last}) is kept in {self.out_dir / CHECKPOINT_NAME}"


def _step_start(saver: _Saver | None, learner: ICaRL, results: dict[str, Any]) -> dict[str, Any] | None:
    """The learner's state at the start of a step (cloned: training changes the live one)."""
    if saver is None:
        return None
    base: dict[str, Any] = clone_state(capture(learner))
    if not saver.last:
        saver.save(base, results)
    return base


def _hooks(
    saver: _Saver | None,
    base: dict[str, Any] | None,
    results: dict[str, Any],
    index: int,
    training: dict[str, Any] | None,
    runlog: RunLog,
) -> dict[str, Any]:
    """``partial_fit`` keywords: the interrupted state to continue, the mid-step checkpoint hook
    (the checkpoint keeps the step's epochs so far), the per-epoch log (``runlog`` starts the step)."""
    runlog.start_step(index, training)
    hooks: dict[str, Any] = {"on_epoch_log": runlog.on_epoch}
    if training is not None and int(training["step"]) == index:
        hooks["resume"] = TrainState.from_dict(training)
    if saver is not None and base is not None and saver.every > 0:
        every = saver.every

        def on_state(state: TrainState) -> None:
            if state.epoch % every == 0 and _finite(state.net):  # only good states are kept
                saver.save(base, results, {"step": index, "epochs": list(runlog.epochs), **state.as_dict()})

        hooks["on_train_state"] = on_state
    return hooks


def _nondeterministic(e: RuntimeError) -> str:
    first = str(e).strip().splitlines()[0][:160]
    return f"--deterministic: {first}; run on the CPU (--device cpu) or without --deterministic"


def _finite(tensors: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in tensors.values() if v.is_floating_point())
