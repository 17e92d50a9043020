"""The aggregate of a grid of repetitions (:mod:`.grid`): ``aggregate.json``,
``aggregate.html`` and ``accuracy_repeats.png`` in the grid's folder.

Per configuration (``group``: the A or B of an A/B, or the one configuration), method and
classifier: the mean, the sample standard deviation (``sd``, ddof=1) and the standard error
(``se``) over the repetitions of the average incremental accuracy, of the final accuracy
and of the accuracy after each step (:mod:`.stats`). A classifier is aggregated only where
every repetition has it at every step. For an A/B, each method and classifier also gets the
paired difference B - A over the (order, seed) pairs both finished, with its se and 95%
interval. Cells that have not finished are left out and named.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..algorithm.classifiers import names as classifier_names
from ..files.atomic import atomic_write
from . import aggregate_page, stats
from .aggregate_page import BAND_CAPTION, sweep_caption
from .grid import REPLICATES, SAFE, Cell
from .plots import band_figure, sweep_figure
from .report import ReportError, load_runs
from .report_page import Figure
from .results import label as label_of
from .results import write_json

AGGREGATE_VERSION = 2
AGGREGATE_NAME = "aggregate.json"
FIGURE_NAME = "accuracy_repeats.png"


def seed_folder(seed: int) -> str:
    return f"seed-{seed}"


def aggregate(runs: Sequence[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """``[{method: results}]`` (one per repetition) -> ``{method: {"classifier": own,
    classifier: {average_incremental_accuracy, final_accuracy, accuracy, seen}}}``."""
    out: dict[str, Any] = {}
    for method in runs[0] if runs else {}:
        if any(method not in r for r in runs):
            continue
        results = [r[method] for r in runs]
        entry: dict[str, Any] = {"classifier": results[0].get("classifier") or "cnn"}
        for k in classifier_names():
            curves = [[s["accuracy"].get(k) for s in res["steps"]] for res in results]
            if any(v is None for c in curves for v in c) or len({len(c) for c in curves}) != 1:
                continue
            entry[k] = {
                "average_incremental_accuracy": stats.summary([sum(c) / len(c) for c in curves]),
                "final_accuracy": stats.summary([c[-1] for c in curves]),
                "accuracy": stats.per_step(curves),
                "seen": [s["seen_classes"] for s in results[0]["steps"]],
            }
        out[method] = entry
    return out


def paired_ab(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Per method and classifier both have: the paired B - A statistics (aligned values)."""
    out: dict[str, Any] = {}
    for method in a:
        if method not in b:
            continue
        out[method] = {}
        for k in classifier_names():
            if k in a[method] and k in b[method]:
                out[method][k] = {
                    m: stats.paired(a[method][k][m]["values"], b[method][k][m]["values"])
                    for m in ("average_incremental_accuracy", "final_accuracy")
                }
    return out


def rows(methods: dict[str, Any], group: str = "") -> list[dict[str, Any]]:
    """Table and figure rows: each method's own classifier first, then its others."""
    out = []
    for name, entry in methods.items():
        own = entry["classifier"]
        for k in [own] + [c for c in classifier_names() if c != own]:
            if k not in entry:
                continue
            e, label = entry[k], name if k == own else f"{name} [{label_of(k)}]"
            avg, fin = e["average_incremental_accuracy"], e["final_accuracy"]
            out.append(
                {
                    "label": f"{group}: {label}" if group else label,
                    "own": k == own,
                    "seen": e["seen"],
                    **{key: e["accuracy"][key] for key in ("mean", "sd", "se")},
                    **{f"average_{key}": avg[key] for key in ("mean", "sd", "se", "n")},
                    **{f"final_{key}": fin[key] for key in ("mean", "sd", "se")},
                }
            )
    return out


def format_table(table: Sequence[dict[str, Any]]) -> str:
    width = max(12, *(len(r["label"]) for r in table)) if table else 12
    counts = {r["average_n"] for r in table}
    n = f"over {counts.pop()} repetitions" if len(counts) == 1 else "over n repetitions (n per row)"
    lines = [
        f"{'':<{width}}  {n}: mean ± sd (se), %",
        f"{'method':<{width}}  {'average incremental':>24}  {'final':>24}" + ("" if not counts else "   n"),
    ]
    for r in table:
        avg = f"{100 * r['average_mean']:.2f} ± {100 * r['average_sd']:.2f} ({100 * r['average_se']:.2f})"
        fin = f"{100 * r['final_mean']:.2f} ± {100 * r['final_sd']:.2f} ({100 * r['final_se']:.2f})"
        lines.append(
            f"{r['label']:<{width}}  {avg:>24}  {fin:>24}" + (f"  {r['average_n']:>2}" if counts else "")
        )
    return "\n".join(lines)


def format_ab(ab: dict[str, Any]) -> str:
    lines = ["A/B: B - A, paired over the repetitions both finished"]
    for method, by_k in ab.items():
        for k, m in by_k.items():
            for metric, p in m.items():
                name = "average incremental" if metric.startswith("average") else "final"
                lines.append(f"  {method} {label_of(k)} {name}: {stats.verdict(p)}")
    return "\n".join(lines)


def load_cells(out: Path, cells: Sequence[Cell]) -> tuple[dict[str, list[tuple[Cell, Any]]], list[str]]:
    """Finished cells by group, with their ``{method: results}``; the unfinished folders."""
    groups: dict[str, list[tuple[Cell, Any]]] = {}
    missing = []
    for cell in cells:
        folder = out / cell.folder
        try:
            runs = load_runs(folder)[0]
        except ReportError:
            runs = {}
        if not runs:
            missing.append(cell.folder)
            continue
        groups.setdefault(cell.group, []).append((cell, runs))
    return groups, missing


def build(out: Path, cells: Sequence[Cell], formats: Sequence[str] = ("png",)) -> dict[str, Any]:
    """Aggregate the finished cells of the grid in ``out``; write the files; return the record."""
    groups, missing = load_cells(out, cells)
    if not groups:
        raise ReportError(f"no repetition under {out} has finished; run or resume the grid first")
    first_runs = next(iter(groups.values()))[0][1]  # {method: results} of one finished cell
    record: dict[str, Any] = {
        "aggregate_version": AGGREGATE_VERSION,
        "dataset": next(iter(first_runs.values()))["dataset"],
        "statistics": "mean, sample standard deviation (sd, ddof=1) and standard error (se) over repetitions",
        "missing": missing,
        "groups": {},
    }
    for name, members in groups.items():
        record["groups"][name] = {
            "folders": [c.folder for c, _ in members],
            "replicates": [list(c.replicate) for c, _ in members],
            "methods": aggregate([runs for _, runs in members]),
        }
    if set(groups) == {"A", "B"}:  # an A/B: pair by (order, seed), both finished
        both = {c.replicate for c, _ in groups["A"]} & {c.replicate for c, _ in groups["B"]}
        paired = {
            g: aggregate(
                [runs for c, runs in sorted(groups[g], key=lambda m: m[0].replicate) if c.replicate in both]
            )
            for g in ("A", "B")
        }
        record["ab"] = {"pairs": sorted(both, key=str), "methods": paired_ab(paired["A"], paired["B"])}
    if len(groups) == 1:  # one configuration: its methods at the top, as before
        record["methods"] = next(iter(record["groups"].values()))["methods"]
    swept = [k for k in {k: 0 for c in cells for k in c.labels} if k not in (*REPLICATES, "variant")]
    if swept:
        record["sweep"] = {
            "keys": swept,
            "labels": {g: members[0][0].labels for g, members in groups.items()},
        }
    write_json(out / AGGREGATE_NAME, record)
    sweeps = [
        Figure(
            f"Sweep over {key}",
            sweep_figure(_sweep_points(record, key), key, out / f"sweep_{SAFE.sub('_', key)}.png", formats),
            sweep_caption(key),
        )
        for key in swept
    ]
    _write_pages(
        out, record, formats, sweeps, [_cell_row(c, runs) for ms in groups.values() for c, runs in ms]
    )
    return record


def _cell_row(cell: Cell, runs: dict[str, Any]) -> dict[str, Any]:
    """One repetition on the page: its folder, labels and each method's own-classifier
    (average incremental, final) accuracy."""
    scores = {}
    for method, res in runs.items():
        own = res.get("classifier") or "cnn"
        curve = [s["accuracy"].get(own) for s in res["steps"]]
        if curve and all(isinstance(v, float | int) for v in curve):
            scores[method] = (sum(curve) / len(curve), curve[-1])
    return {"folder": cell.folder, "labels": cell.labels, "scores": scores}


def _sweep_points(record: dict[str, Any], key: str) -> dict[str, list[tuple[Any, float, float]]]:
    """For the figure of one swept key: per line (method, classifier and the other keys'
    values), the points (value, mean, sd) of the average incremental accuracy."""
    lines: dict[str, list[tuple[Any, float, float]]] = {}
    for group, g in record["groups"].items():
        labels = record["sweep"]["labels"][group]
        others = ", ".join(f"{k}={v}" for k, v in labels.items() if k not in (key, *REPLICATES))
        for method, entry in g["methods"].items():
            own = entry["classifier"]
            if own not in entry:
                continue
            avg = entry[own]["average_incremental_accuracy"]
            name = f"{method} [{label_of(own)}]" + (f" ({others})" if others else "")
            lines.setdefault(name, []).append((labels.get(key), avg["mean"], avg["sd"]))
    return lines


def table_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    groups = record["groups"]
    return [r for name, g in groups.items() for r in rows(g["methods"], name if len(groups) > 1 else "")]


def _write_pages(
    out: Path, record: dict[str, Any], formats: Sequence[str], sweeps: Sequence[Figure], cells: Sequence[Any]
) -> None:
    table = table_of(record)
    shown = table if len(table) <= 4 else [r for r in table if r["own"]]
    n = table[0]["average_n"] if table else 0
    title = f"{record['dataset']}: mean ± sd over {n} repetitions"
    band = Figure(
        "Accuracy over the repetitions", band_figure(shown, out / FIGURE_NAME, title, formats), BAND_CAPTION
    )
    ab = format_ab(record["ab"]["methods"]) if "ab" in record else ""
    text = aggregate_page.page(title, table, record, [band, *sweeps], out, cells, ab)
    atomic_write(out / "aggregate.html", text.encode())
