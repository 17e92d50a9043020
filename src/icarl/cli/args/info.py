"""``icarl info``'s options (parsed before anything heavy is imported; the command itself:
:mod:`icarl.cli.info`)."""

from __future__ import annotations

import argparse

HELP = "show a saved model: classes, exemplars, memory, steps, config, versions"


def build(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="model file written by icarl run --save or learn")
    p.add_argument("--json", action="store_true", help="print one JSON document")
