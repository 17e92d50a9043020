"""``icarl report``'s options (parsed before anything heavy is imported; the command itself:
:mod:`icarl.cli.report`)."""

from __future__ import annotations

import argparse

HELP = "print the table and rebuild figures and report.html of a run, compare or grid folder"


def build(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run folder (results.json), compare folder or --seeds folder"
    )
    p.add_argument(
        "--figure-format",
        metavar="FORMATS",
        default="png",
        help="figure files to write, comma-separated from png, svg, pdf (default: png)",
    )
