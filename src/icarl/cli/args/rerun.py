"""``icarl rerun``'s options (parsed before anything heavy is imported; the command itself:
:mod:`icarl.cli.rerun`)."""

from __future__ import annotations

import argparse

HELP = "repeat a finished run from its results.json and compare the accuracies step by step"


def build(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder (its results.json)")
    p.add_argument("--out", help="the new run folder (default: RUN_DIR-rerun)")
    p.add_argument("--force", action="store_true", help="replace the results of a run already in --out")
    p.add_argument("--data", help="where the data are now, if they moved (their fingerprint must match)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--trust-backbone",
        action="store_true",
        help="allow the import-path backbone (package.module:factory) that the record names",
    )
