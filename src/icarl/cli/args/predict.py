"""``icarl predict``'s options (parsed before anything heavy is imported; the command itself:
:mod:`icarl.cli.predict`)."""

from __future__ import annotations

import argparse

from .. import catalogue
from .helptext import add_trust_backbone

HELP = "classify images with a saved model: top-k class names and scores"


def build(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="model file written by icarl run --save or learn")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or .npz files")
    p.add_argument("--top-k", type=int, default=1, help="how many classes to show per image (default 1)")
    p.add_argument(
        "--classifier", choices=catalogue.predicting(), help="default: the model's own (nme for iCaRL)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument(
        "--labels-from-folders", action="store_true", help="true class = parent folder name; print accuracy"
    )
    p.add_argument("--device", help="cpu, cuda, ... (default: the model's setting)")
    add_trust_backbone(p)
