"""``icarl report RUN_DIR``: rebuild the figures and report.html from results.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import command


def _build(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (results.json) or compare folder")


@command("report", "rebuild figures and report.html of a run or compare folder", _build)
def cmd_report(args: argparse.Namespace) -> int:
    from .. import report

    page = report.build(Path(args.run_dir))
    print(f"report: {page}")
    for name in ("accuracy.png", "confusion.png"):
        print(f"figure: {page.parent / name}")
    return 0
