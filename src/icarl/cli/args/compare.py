"""``icarl compare``'s options (parsed before anything heavy is imported; the command itself:
:mod:`icarl.cli.compare`)."""

from __future__ import annotations

import argparse

from .. import catalogue
from .run import add_run_options

HELP = "run several methods on one class-incremental stream, side by side"
DEFAULT_METHODS = "icarl,lwf,finetune,fixed,joint"


def build(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--methods",
        default=DEFAULT_METHODS,
        help=f"comma-separated methods, of: {', '.join(catalogue.methods())} (default: {DEFAULT_METHODS}); "
        "see `icarl list methods`",
    )
    p.add_argument("--list", action="store_true", help="list the methods and exit")
    p.add_argument(
        "--ab",
        metavar="'KEY=VALUE ...'",
        help="an A/B: the configuration as given (A) against it with these settings (B), one method, "
        "over the same --orders and --seeds; prints the paired difference B - A with its standard "
        "error and 95%% interval",
    )
    p.add_argument("--resume", metavar="OUT", help="continue a killed compare (or grid) in OUT")
    p.add_argument("--force", action="store_true", help="replace the results of a compare already in --out")
    p.add_argument(
        "--dry-run", action="store_true", help="print each method's settings and work; train nothing"
    )
    add_run_options(p)
