"""``results.json`` and ``metrics.csv``: the records a run writes, and the table it prints.

``results.json`` is a contract other tools read (see README, "results.json"):
accuracies are fractions in [0, 1], one key per classifier rule
(:mod:`icarl.algorithm.classifiers`): ``nme`` is the nearest-mean-of-exemplars
classifier (iCaRL, Alg. 1), ``cnn`` the network's own outputs (hybrid1 for iCaRL),
``incm`` nearest class mean over all training data of the seen classes (iNCM).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..algorithm import classifiers
from ..config import RunConfig
from ..files.atomic import atomic_write

RESULTS_VERSION = 1


def label(name: str) -> str:
    """A classifier's name in tables and figures ("NME"); the key itself if no rule has it."""
    return classifiers.CLASSIFIERS.get(name).label if name in classifiers.CLASSIFIERS else name


def table_header() -> str:
    """The head of the table a run prints, one column per predicting rule
    (``step  classes  NME %  CNN %  exemplars  train s``)."""
    shown = "  ".join(f"{r.label} %" for r in classifiers.predicting())
    return f"step  classes  {shown}  exemplars  train s"


def summarize(steps: list[dict[str, Any]], metric: str = "accuracy") -> tuple[dict[str, float | None], ...]:
    """Average incremental accuracy (mean over steps) and final accuracy, per classifier;
    ``metric``: the step records' ``"accuracy"`` (top-1) or ``"top5"``."""
    avg: dict[str, float | None] = {}
    final: dict[str, float | None] = {}
    for key in steps[0].get(metric, {}) if steps else ():
        vals = [s.get(metric, {}).get(key) for s in steps]
        ok = all(v is not None for v in vals)
        avg[key] = float(np.mean(vals)) if ok and vals else None
        final[key] = vals[-1] if vals else None
    return avg, final


def csv_fields() -> tuple[str, ...]:
    """The columns of ``metrics.csv``: accuracy and top-5 per classifier rule, then the shares."""
    names = classifiers.names()
    return (
        "step",
        "seen_classes",
        *(f"acc_{k}" for k in names),
        *(f"top5_{k}" for k in names),
        "share_newest",
        "share_first",
        "test_share_newest",
        "memory_size",
        "train_seconds",
        "eval_seconds",
    )


def write_metrics_csv(results: dict[str, Any], path: Path) -> None:
    """One row per step (fractions; empty where a classifier does not apply); atomic."""
    f = io.StringIO(newline="")
    fields = csv_fields()
    w = csv.DictWriter(f, fieldnames=fields)
    w.writeheader()
    for s in results["steps"]:
        row = {k: s.get(k) for k in fields}
        for k in classifiers.names():
            row[f"acc_{k}"] = s["accuracy"].get(k)
            row[f"top5_{k}"] = s.get("top5", {}).get(k)
        w.writerow({k: ("" if v is None else v) for k, v in row.items()})
    atomic_write(path, f.getvalue().encode())


def write_json(path: Path, obj: Any) -> None:
    """Atomic write (see :func:`icarl.files.atomic.atomic_write`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(obj, indent=2) + "\n").encode())


def default_run_dir(cfg: RunConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(cfg.out) / f"{cfg.data.dataset}-{cfg.method}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def print_row(record: dict[str, Any]) -> None:
    acc = record["accuracy"]

    def pct(v: float | None) -> str:
        return "     -" if v is None else f"{100 * v:6.2f}"

    shown = "  ".join(pct(acc.get(r.name)) for r in classifiers.predicting())
    print(
        f"{record['step'] + 1:>4}  {record['seen_classes']:>7}  {shown}"
        f"  {record['memory_size']:>9}  {record['train_seconds']:>8.1f}",
        flush=True,
    )
