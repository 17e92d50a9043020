"""``icarl list``'s options (parsed before anything heavy is imported; the command itself:
:mod:`icarl.cli.listing`)."""

from __future__ import annotations

import argparse

HELP = "list the datasets, methods, backbones and presets, with one line on each"
KINDS = ("datasets", "methods", "backbones", "presets")


def build(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", nargs="?", choices=KINDS, help="list only these (default: all four)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
