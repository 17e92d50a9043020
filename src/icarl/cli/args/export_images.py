"""``icarl export-images``'s options (parsed before anything heavy is imported; the command itself:
:mod:`icarl.tools.export_images`)."""

from __future__ import annotations

import argparse

HELP = "write a dataset's images as PNG files in class folders (inputs for icarl learn / predict)"


def build(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="folder to write")
    p.add_argument("--dataset", default="digits", help="dataset name, see icarl list (default: digits)")
    p.add_argument("--data", help="the dataset's path, where it needs one")
    p.add_argument("--classes", help="comma-separated labels to export (default: all)")
    p.add_argument("--splits", default="train,test", help="splits to export (default: train,test)")
    p.add_argument("--force", action="store_true", help="replace PNG files already in OUT")
