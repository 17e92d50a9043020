"""The tables of docs/reproduction.md, printed from the runs' own results.json files (so that
every figure there is read from a record, not copied by hand).

    python benchmarks/reproduction_tables.py RUNS_DIR [RUNS_DIR ...]

Each RUNS_DIR holds repetitions of one configuration as ``RUNS_DIR/order-K`` (or a single run
with results.json in it). Printed per configuration: the accuracy after each step (NME =
iCaRL, CNN = hybrid1 for an iCaRL run) as mean +- sample sd over the finished repetitions,
average incremental and final accuracy (mean +- sd, se), and per run: wall time, training
images/s of the whole training phase, precision, threads and the other processes' load.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any


def runs_in(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    if (folder / "results.json").is_file():
        return [(folder.name, json.loads((folder / "results.json").read_text()))]
    found = sorted(p.parent for p in folder.glob("*/results.json"))
    return [(p.name, json.loads((p / "results.json").read_text())) for p in found]


def pm(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    sd = statistics.stdev(values)
    return f"{statistics.mean(values):.2f} ± {sd:.2f}"


def se(values: list[float]) -> str:
    return f"{statistics.stdev(values) / math.sqrt(len(values)):.2f}" if len(values) > 1 else "-"


def train_images(res: dict[str, Any]) -> int:
    """Training images a CIFAR-100 run's steps went through (epochs x (new + exemplars), whole
    batches)."""
    total, memory = 0, 0
    batch = res["config"]["learner"]["batch_size"]
    for s in res["steps"]:
        new = 500 * len(s["classes"])  # CIFAR-100: 500 training images per class
        total += len(s["epochs"]) * ((new + memory) // batch) * batch  # the last partial batch dropped
        memory = s["memory_size"]
    return total


def table(folder: Path) -> str:
    runs = runs_in(folder)
    if not runs:
        return f"{folder}: no finished run\n"
    first = runs[0][1]
    kinds = [k for k in ("nme", "cnn") if all(r["steps"][0]["accuracy"].get(k) is not None for _, r in runs)]
    seen = [s["seen_classes"] for s in first["steps"]]
    out = [f"### {folder.name}: {len(runs)} run(s) ({', '.join(n for n, _ in runs)})", ""]
    out.append("| classes | " + " | ".join(k.upper() for k in kinds) + " |")
    out.append("|---|" + "---|" * len(kinds))
    for i, n in enumerate(seen):
        cells = [
            pm([100 * r["steps"][i]["accuracy"][k] for _, r in runs if len(r["steps"]) > i]) for k in kinds
        ]
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    out += ["", "| classifier | average incremental (se) | final (se) |", "|---|---|---|"]
    for k in kinds:
        avg = [100 * r["average_incremental_accuracy"][k] for _, r in runs]
        fin = [100 * r["final_accuracy"][k] for _, r in runs]
        out.append(f"| {k.upper()} | {pm(avg)} ({se(avg)}) | {pm(fin)} ({se(fin)}) |")
    env = first["environment"]
    out += ["", f"machine (as recorded): {env.get('device_name')}, {env.get('cpus')} CPUs", ""]
    out.append("| run | wall s | train s | train img/s | precision | threads | others' load at start |")
    out.append("|---|---|---|---|---|---|---|")
    for name, r in runs:
        train = sum(s["phase_seconds"].get("train", 0.0) for s in r["steps"])
        wall = sum(s["train_seconds"] + s["eval_seconds"] for s in r["steps"])
        env = r["environment"]
        precision = "bf16 autocast" if env.get("bf16_autocast") else "fp32"
        rate = train_images(r) / train if train else float("nan")
        out.append(
            f"| {name} | {wall:.0f} | {train:.0f} | {rate:.0f} | {precision} | {env.get('threads')} | "
            f"{env.get('load_others', '?')} |"
        )
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    for folder in argv:
        print(table(Path(folder)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
