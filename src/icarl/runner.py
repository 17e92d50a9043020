"""Run one method over a class-incremental stream and write ``results.json``.

``results.json`` is a contract other tools read (see README, "results.json"):
accuracies are fractions in [0, 1]; ``nme`` is the nearest-mean-of-exemplars
classifier (iCaRL, Alg. 1), ``cnn`` the network's own outputs (hybrid1 for iCaRL),
``incm`` nearest class mean over all training data of the seen classes (iNCM).
More keys: see icarl.evaluation and the README.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__, distributed, evaluation, methods
from .checkpoint import (
    CHECKPOINT_NAME,
    RESULTS_NAME,
    Checkpoint,
    CheckpointError,
    atomic_write,
    clear_run_files,
    clone_state,
    data_fingerprint,
    save_checkpoint,
    set_deterministic,
)
from .config import ConfigError, RunConfig, to_dict
from .data import ClassIncrementalStream, Dataset, Split, Step
from .engine import TrainingDiverged, TrainState
from .icarl import ICaRL, learner_state, restore_learner
from .progress import with_step_bar

Reporter = Callable[[dict[str, Any]], None]
RESULTS_VERSION = 1


def versions() -> dict[str, str]:
    return {
        "icarl": __version__,
        "torch": str(torch.__version__),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def load_run_data(cfg: RunConfig) -> Dataset:
    from .data.loading import dataset_from_config  # download, cache, image_size

    return dataset_from_config(cfg.data)


def make_stream(cfg: RunConfig, data: Dataset) -> ClassIncrementalStream:
    return ClassIncrementalStream(
        data,
        classes_per_step=cfg.data.classes_per_step,
        first_step=cfg.data.first_step,
        order=cfg.data.class_order,
        seed=cfg.seed,
        classes=cfg.data.classes,
    )


def evaluate(
    learner: ICaRL, x: torch.Tensor, y: torch.Tensor, train: Split | None = None
) -> dict[str, float | None]:
    """Accuracy of each classifier from one pass: ``nme`` (None without exemplars), ``cnn``,
    ``incm`` (means of all of ``train``, the seen classes' training data; None without it)."""
    return evaluation.evaluate(learner, Split(x, y), train, [learner.classes_])["accuracy"]


def summarize(steps: list[dict[str, Any]]) -> tuple[dict[str, float | None], ...]:
    """Average incremental accuracy (mean over steps) and final accuracy, per classifier."""
    avg: dict[str, float | None] = {}
    final: dict[str, float | None] = {}
    for key in steps[0]["accuracy"] if steps else ():
        vals = [s["accuracy"][key] for s in steps]
        ok = all(v is not None for v in vals)
        avg[key] = float(np.mean(vals)) if ok and vals else None
        final[key] = vals[-1] if vals else None
    return avg, final


def run(
    cfg: RunConfig,
    out_dir: Path | None = None,
    report: Reporter | None = None,
    data: Dataset | None = None,
    *,
    resume: Checkpoint | None = None,
    deterministic: bool = False,
    learner: ICaRL | None = None,
) -> dict[str, Any]:
    """Train ``cfg.method`` step by step, evaluate after each step, write results.

    With ``out_dir``, ``checkpoint.pt`` there is replaced atomically before the first
    step, every ``cfg.checkpoint_every`` epochs and after every step; ``resume`` (from
    :func:`icarl.checkpoint.load_checkpoint`) continues such a run where it stopped.
    Everything that can be checked is checked before anything is written.
    ``learner``: the learner to train (default: a fresh ``cfg.method``); pass one to
    keep it afterwards (``icarl run --save``).
    """
    if cfg.checkpoint_every < 0:
        raise ConfigError(f"checkpoint_every is {cfg.checkpoint_every}; use 0 (after each step only) or more")
    out_dir = out_dir if distributed.is_main() else None  # DDP: rank 0 writes checkpoints and results
    deterministic = deterministic or (resume is not None and resume.deterministic)
    if deterministic:
        set_deterministic(cfg.seed)
    data = data if data is not None else load_run_data(cfg)
    stream = make_stream(cfg, data)
    if learner is None:
        learner = methods.create(cfg.method, cfg.resolved_learner())
    check_memory(learner, len(stream.class_order))
    saver = None
    if out_dir is not None:
        fingerprint = data_fingerprint(data.train.x, data.train.y, data.test.x, data.test.y)
        if resume is not None and resume.data_fingerprint != fingerprint:
            raise CheckpointError(
                f"the {data.name} data differ from those the checkpoint in {out_dir} was trained on; "
                "resume with the same data, or start over with --force"
            )
        saver = _Saver(out_dir, cfg, fingerprint, len(stream), deterministic)
    if resume is not None:
        results, training = resume.results, resume.training
        restore_run_learner(learner, resume.learner, cfg.method)
        if saver is not None:
            saver.last = resume.describe()  # still the last good checkpoint
    else:
        results, training = new_results(cfg, data, stream), None
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            clear_run_files(out_dir)
    bar = learner.config.progress and distributed.is_main()  # DDP: progress on rank 0 only
    report = with_step_bar(report, len(stream) - len(results["steps"]), bar, cfg.method)
    for index in range(len(results["steps"]), len(stream)):
        base = _step_start(saver, learner, results)
        hooks = _hooks(saver, base, results, index, training)
        try:
            record = train_step(learner, stream[index], hooks, data, stream.groups[: index + 1])
        except TrainingDiverged as e:
            raise TrainingDiverged(f"{e}; {saver.kept() if saver else 'nothing was saved'}") from None
        except RuntimeError as e:
            if deterministic and "deterministic" in str(e):
                raise ConfigError(_nondeterministic(e)) from None
            raise
        training = None
        results["steps"].append(record)
        if saver is not None:
            saver.save(capture_learner(learner), results)
        if report is not None:
            report(record)
    return finish(results, out_dir, learner)


def check_memory(learner: ICaRL, total: int) -> None:
    K = learner.config.memory_size
    if 0 < K < total:
        raise ConfigError(
            f"memory size K={K} is smaller than the {total} classes of the stream, so m = K // t "
            f"would reach 0; set --memory to at least {total}"
        )


def new_results(cfg: RunConfig, data: Dataset, stream: ClassIncrementalStream) -> dict[str, Any]:
    return {
        "results_version": RESULTS_VERSION,
        "method": cfg.method,
        "dataset": data.name,
        "class_order": stream.class_order,
        "class_names": [data.class_names[c] for c in stream.class_order],
        "config": to_dict(cfg),
        "versions": versions(),
        "steps": [],
    }


def train_step(
    learner: ICaRL,
    step: Step,
    hooks: dict[str, Any],
    data: Dataset,
    groups: list[tuple[int, ...]],
) -> dict[str, Any]:
    """Algorithm 2 on one step, then one evaluation pass on every class seen so far
    (NME, network outputs and iNCM, with the metrics of :mod:`icarl.evaluation`)."""
    t0 = time.perf_counter()
    learner.partial_fit(step.train.x, step.train.y, **hooks)
    train_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    seen_train = data.train.of_classes(list(step.seen_classes))
    ev = evaluation.evaluate(learner, step.test_seen, seen_train, groups)
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


def finish(results: dict[str, Any], out_dir: Path | None, learner: ICaRL | None = None) -> dict[str, Any]:
    """Add the summaries and run-level metrics, write ``results.json`` (atomically),
    ``metrics.csv``, the figures and ``report.html``."""
    avg, final = summarize(results["steps"])
    results["average_incremental_accuracy"] = avg
    results["final_accuracy"] = final
    out_dir = out_dir if distributed.is_main() else None  # DDP: rank 0 writes
    if learner is not None:
        evaluation.finish_run(results, learner, out_dir)
    if out_dir is not None:
        write_json(out_dir / RESULTS_NAME, results)
        from .report import build as build_report

        build_report(out_dir)  # accuracy.png, confusion.png, report.html
    return results


class _Saver:
    """Writes the run's checkpoints; remembers which one is the last good one."""

    def __init__(self, out_dir: Path, cfg: RunConfig, fingerprint: str, total: int, det: bool) -> None:
        self.out_dir, self.cfg, self.fingerprint, self.total, self.det = out_dir, cfg, fingerprint, total, det
        self.last = ""

    def save(
        self, learner: dict[str, Any], results: dict[str, Any], training: dict[str, Any] | None = None
    ) -> None:
        ck = Checkpoint(to_dict(self.cfg), self.det, self.fingerprint, self.total, results, learner, training)
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
    base = clone_state(capture_learner(learner))
    if not saver.last:
        saver.save(base, results)
    return base


def _hooks(
    saver: _Saver | None,
    base: dict[str, Any] | None,
    results: dict[str, Any],
    index: int,
    training: dict[str, Any] | None,
) -> dict[str, Any]:
    """``partial_fit`` keywords: the interrupted state to continue, the mid-step checkpoint hook."""
    hooks: dict[str, Any] = {}
    if training is not None and int(training["step"]) == index:
        hooks["resume"] = TrainState.from_dict(training)
    if saver is not None and base is not None and saver.cfg.checkpoint_every > 0:
        every = saver.cfg.checkpoint_every

        def on_state(state: TrainState) -> None:
            if state.epoch % every == 0 and _finite(state.net):  # only good states are kept
                saver.save(base, results, {"step": index, **state.as_dict()})

        hooks["on_train_state"] = on_state
    return hooks


# What learner_state holds; a method keeping more learned state ("..._" attributes) must
# offer get_extra_state() -> tensors/containers and set_extra_state(state) to be resumable.
LEARNER_STATE_ATTRS = frozenset(
    {
        "classes_",
        "net_",
        "memory_",
        "means_",
        "pixel_mean_",
        "image_shape_",
        "rng_",
        "history_",
        "class_names_",
    }
)


def capture_learner(learner: ICaRL) -> dict[str, Any]:
    """:func:`learner_state` plus the method's extra state, or the names of what it lacks."""
    state = learner_state(learner)
    get_extra = getattr(learner, "get_extra_state", None)
    if get_extra is not None:
        state["extra_state"] = get_extra()
    else:
        state["unsaved"] = sorted(
            k for k in vars(learner) if k.endswith("_") and k not in LEARNER_STATE_ATTRS
        )
    return state


def restore_run_learner(learner: ICaRL, state: dict[str, Any], method: str) -> None:
    if state.get("unsaved"):
        raise CheckpointError(
            f"method {method} keeps state that its checkpoints do not hold ({', '.join(state['unsaved'])}), "
            "so its run cannot be resumed; start it again with --force"
        )
    restore_learner(learner, state)
    if "extra_state" in state:
        learner.set_extra_state(state["extra_state"])  # type: ignore[attr-defined]


def _nondeterministic(e: RuntimeError) -> str:
    first = str(e).strip().splitlines()[0][:160]
    return f"--deterministic: {first}; run on the CPU (--device cpu) or without --deterministic"


def _finite(tensors: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in tensors.values() if v.is_floating_point())


def default_run_dir(cfg: RunConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(cfg.out) / f"{cfg.data.dataset}-{cfg.method}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def write_json(path: Path, obj: Any) -> None:
    """Atomic write (see :func:`icarl.checkpoint.atomic_write`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(obj, indent=2) + "\n").encode())


def print_row(record: dict[str, Any]) -> None:
    acc = record["accuracy"]

    def pct(v: float | None) -> str:
        return "     -" if v is None else f"{100 * v:6.2f}"

    print(
        f"{record['step'] + 1:>4}  {record['seen_classes']:>7}  {pct(acc['nme'])}  {pct(acc['cnn'])}"
        f"  {record['memory_size']:>9}  {record['train_seconds']:>8.1f}",
        flush=True,
    )


TABLE_HEADER = "step  classes  NME %  CNN %  exemplars  train s"


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)
