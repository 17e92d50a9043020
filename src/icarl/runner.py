"""Run one method over a class-incremental stream and write ``results.json``.

``results.json`` is a contract other tools read (see README, "results.json"):
accuracies are fractions in [0, 1]; ``nme`` is the nearest-mean-of-exemplars
classifier (iCaRL, Alg. 1), ``cnn`` the network's own outputs (hybrid1 for iCaRL).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__, distributed, methods
from .config import ConfigError, RunConfig, to_dict
from .data import ClassIncrementalStream, Dataset, load_dataset
from .icarl import ICaRL

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
    options: dict[str, Any] = {}
    if cfg.data.image_size:
        options["image_size"] = cfg.data.image_size
    return load_dataset(cfg.data.dataset, cfg.data.path, **options)


def make_stream(cfg: RunConfig, data: Dataset) -> ClassIncrementalStream:
    return ClassIncrementalStream(
        data,
        classes_per_step=cfg.data.classes_per_step,
        first_step=cfg.data.first_step,
        order=cfg.data.class_order,
        seed=cfg.seed,
        classes=cfg.data.classes,
    )


def evaluate(learner: ICaRL, x: torch.Tensor, y: torch.Tensor) -> dict[str, float | None]:
    """Accuracy of each classifier the learner has: ``nme`` (None without exemplars), ``cnn``."""
    return {
        "nme": learner.score(x, y, "nme") if learner.means_ is not None else None,
        "cnn": learner.score(x, y, "cnn"),
    }


def summarize(steps: list[dict[str, Any]]) -> tuple[dict[str, float | None], ...]:
    """Average incremental accuracy (mean over steps) and final accuracy, per classifier."""
    avg: dict[str, float | None] = {}
    final: dict[str, float | None] = {}
    for key in ("nme", "cnn"):
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
) -> dict[str, Any]:
    """Train ``cfg.method`` step by step, evaluate after each step, write results."""
    data = data if data is not None else load_run_data(cfg)
    stream = make_stream(cfg, data)
    learner = methods.create(cfg.method, cfg.resolved_learner())
    total = len(stream.class_order)
    K = learner.config.memory_size
    if 0 < K < total:
        raise ConfigError(
            f"memory size K={K} is smaller than the {total} classes of the stream, so m = K // t "
            f"would reach 0; set --memory to at least {total}"
        )
    results: dict[str, Any] = {
        "results_version": RESULTS_VERSION,
        "method": cfg.method,
        "dataset": data.name,
        "class_order": stream.class_order,
        "class_names": [data.class_names[c] for c in stream.class_order],
        "config": to_dict(cfg),
        "versions": versions(),
        "steps": [],
    }
    for step in stream:
        t0 = time.perf_counter()
        learner.partial_fit(step.train.x, step.train.y)
        train_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        acc = evaluate(learner, step.test_seen.x, step.test_seen.y)
        record = {
            "step": step.index,
            "classes": list(step.classes),
            "seen_classes": len(step.seen_classes),
            "accuracy": acc,
            "memory_size": len(learner.memory_),
            "memory_bytes": learner.memory_.nbytes,
            "train_seconds": round(train_seconds, 3),
            "eval_seconds": round(time.perf_counter() - t0, 3),
        }
        results["steps"].append(record)
        if report is not None:
            report(record)
    avg, final = summarize(results["steps"])
    results["average_incremental_accuracy"] = avg
    results["final_accuracy"] = final
    if out_dir is not None and distributed.is_main():  # DDP: rank 0 writes
        write_json(out_dir / "results.json", results)
    return results


def default_run_dir(cfg: RunConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(cfg.out) / f"{cfg.data.dataset}-{cfg.method}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def write_json(path: Path, obj: Any) -> None:
    """Atomic write: a temporary file in the same folder, flushed, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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
