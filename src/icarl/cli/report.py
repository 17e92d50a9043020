"""``icarl report RUN_DIR``: rebuild the figures and report.html from results.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..experiment import report

HELP = "rebuild figures and report.html of a run or compare folder"


def build(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (results.json) or compare folder")


def main(args: argparse.Namespace) -> int:
    page = report.build(Path(args.run_dir))
    print(f"report: {page}")
    for name in ("accuracy.png", "confusion.png"):
        print(f"figure: {page.parent / name}")
    return 0
