"""Several seeds of one run or compare (``--seeds``): ``aggregate.json``, ``aggregate.html``
and ``accuracy_seeds.png`` in the folder above the seed folders (``OUT/seed-S``).

Per method and classifier: the mean and the sample standard deviation (ddof=1; 0 with
one seed) over seeds of the average incremental accuracy, of the final accuracy and of
the accuracy after each step. A classifier is aggregated only if every seed has it.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..files.atomic import atomic_write
from .plots import LABELS, errorbar_figure
from .report import ReportError, load_runs
from .results import CLASSIFIERS, write_json

AGGREGATE_VERSION = 1
AGGREGATE_NAME = "aggregate.json"


def seed_folder(seed: int) -> str:
    return f"seed-{seed}"


def _stats(values: Sequence[float]) -> dict[str, Any]:
    a = np.asarray(values, dtype=float)
    std = float(a.std(ddof=1)) if len(a) > 1 else 0.0
    return {"mean": float(a.mean()), "std": std, "values": [float(v) for v in a]}


def _per_step(curves: Sequence[Sequence[float]]) -> dict[str, Any]:
    a = np.asarray(curves, dtype=float)
    std = a.std(axis=0, ddof=1) if len(a) > 1 else np.zeros(a.shape[1])
    return {"mean": a.mean(axis=0).tolist(), "std": std.tolist()}


def aggregate(per_seed: dict[int, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """``{seed: {method: results}}`` -> ``{method: {"classifier": own, classifier: stats}}``."""
    out: dict[str, Any] = {}
    runs = list(per_seed.values())
    for method in runs[0]:
        if any(method not in r for r in runs):
            continue
        results = [r[method] for r in runs]
        entry: dict[str, Any] = {"classifier": results[0].get("classifier") or "cnn"}
        for k in CLASSIFIERS:
            curves = [[s["accuracy"].get(k) for s in res["steps"]] for res in results]
            if any(v is None for c in curves for v in c) or len({len(c) for c in curves}) != 1:
                continue
            entry[k] = {
                "average_incremental_accuracy": _stats([float(np.mean(c)) for c in curves]),
                "final_accuracy": _stats([c[-1] for c in curves]),
                "accuracy": _per_step(curves),
                "seen": [s["seen_classes"] for s in results[0]["steps"]],
            }
        out[method] = entry
    return out


def rows(methods: dict[str, Any]) -> list[dict[str, Any]]:
    """Table and figure rows: each method's own classifier first, then its others."""
    out = []
    for name, entry in methods.items():
        own = entry["classifier"]
        for k in [own] + [c for c in CLASSIFIERS if c != own]:
            if k not in entry:
                continue
            e = entry[k]
            out.append(
                {
                    "label": name if k == own else f"{name} [{LABELS[k]}]",
                    "own": k == own,
                    "seen": e["seen"],
                    "mean": e["accuracy"]["mean"],
                    "std": e["accuracy"]["std"],
                    "average_mean": e["average_incremental_accuracy"]["mean"],
                    "average_std": e["average_incremental_accuracy"]["std"],
                    "final_mean": e["final_accuracy"]["mean"],
                    "final_std": e["final_accuracy"]["std"],
                }
            )
    return out


def format_table(table: Sequence[dict[str, Any]], n: int) -> str:
    width = max(12, *(len(r["label"]) for r in table)) if table else 12
    lines = [
        f"{'':<{width}}  over {n} seeds: mean ± std (sample, %)",
        f"{'method':<{width}}  {'average incremental':>20}  {'final':>14}",
    ]
    for r in table:
        avg = f"{100 * r['average_mean']:.2f} ± {100 * r['average_std']:.2f}"
        fin = f"{100 * r['final_mean']:.2f} ± {100 * r['final_std']:.2f}"
        lines.append(f"{r['label']:<{width}}  {avg:>20}  {fin:>14}")
    return "\n".join(lines)


def build(out: Path, seeds: Sequence[int], formats: Sequence[str] = ("png",)) -> dict[str, Any]:
    """Read each ``out/seed-S`` (a run or compare folder), write the aggregate files."""
    per_seed = {s: load_runs(out / seed_folder(s))[0] for s in seeds}
    if not all(per_seed.values()):
        raise ReportError(f"a seed folder under {out} holds no finished run; run the missing seeds again")
    methods = aggregate(per_seed)
    first = next(iter(next(iter(per_seed.values())).values()))
    record = {
        "aggregate_version": AGGREGATE_VERSION,
        "dataset": first["dataset"],
        "seeds": list(seeds),
        "folders": {str(s): seed_folder(s) for s in seeds},
        "std": "sample standard deviation over seeds (ddof=1; 0 for one seed)",
        "methods": methods,
    }
    write_json(out / AGGREGATE_NAME, record)
    table = rows(methods)
    shown = table if len(methods) == 1 else [r for r in table if r["own"]]
    title = f"{first['dataset']}: mean ± std over seeds {', '.join(map(str, seeds))}"
    figure = errorbar_figure(shown, out / "accuracy_seeds.png", title, formats)
    page = _html(title, table, figure).encode()
    atomic_write(out / "aggregate.html", page, then="free some space and run icarl report again")
    return record


def _html(title: str, table: Sequence[dict[str, Any]], figure: Path) -> str:
    body = "".join(
        f"<tr><td>{html.escape(r['label'])}</td>"
        f"<td>{100 * r['average_mean']:.2f} ± {100 * r['average_std']:.2f}</td>"
        f"<td>{100 * r['final_mean']:.2f} ± {100 * r['final_std']:.2f}</td></tr>"
        for r in table
    )
    img = base64.b64encode(figure.read_bytes()).decode()
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px}img{max-width:100%}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>Accuracy (%), mean ± sample standard deviation over seeds; "
        "each seed's own report is in its folder.</p>"
        f"<table><tr><th>method</th><th>average incremental</th><th>final</th></tr>{body}</table>"
        f"<figure><img alt='accuracy over seeds' src='data:image/png;base64,{img}'></figure></body></html>\n"
    )
