"""A sweep: the exemplar memory K at two sizes, each over two seeds, as one resumable grid of
runs (``icarl run --sweep ... --seeds ...``); then the table read back from ``aggregate.json``.

A killed sweep continues with ``icarl run --resume OUT``; ``OUT/aggregate.html`` shows the
figures, the accuracy after each step and a link to every run's report.

    python examples/sweep.py [--epochs 30] [--out sweep-memory]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--out", default="sweep-memory")
    args = p.parse_args()
    command = [
        sys.executable,
        "-m",
        "icarl",
        "run",
        "--sweep",
        "learner.memory_size=40,200",
        "--seeds",
        "1,2",
    ]
    command += ["--epochs", str(args.epochs), "--threads", "1", "--quiet", "--out", args.out]
    if Path(args.out).exists():  # continue (or just re-read) an earlier sweep
        command = [sys.executable, "-m", "icarl", "run", "--resume", args.out, "--quiet"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    record = json.loads((Path(args.out) / "aggregate.json").read_text())
    print(f"{'K':<6} {'method':<12} {'average incremental (%)':<24} {'final (%)':<16} repetitions")
    for group, entry in record["groups"].items():
        k = record["sweep"]["labels"][group]["learner.memory_size"]
        for method, by_classifier in entry["methods"].items():
            own = by_classifier["classifier"]
            avg, fin = (by_classifier[own][m] for m in ("average_incremental_accuracy", "final_accuracy"))
            pm = [f"{100 * s['mean']:.2f} ± {100 * s['sd']:.2f}" for s in (avg, fin)]
            print(f"{k:<6} {method + ' ' + own.upper():<12} {pm[0]:<24} {pm[1]:<16} {avg['n']}")
    print(f"report: {Path(args.out) / 'aggregate.html'}")


if __name__ == "__main__":
    main()
