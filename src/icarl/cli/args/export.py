"""``icarl export``'s options (parsed before anything heavy is imported; the command itself:
:mod:`icarl.cli.export`)."""

from __future__ import annotations

import argparse

from .. import catalogue
from ..catalogue import EXPORT_FORMATS
from .helptext import add_trust_backbone

HELP = "write a saved model as a self-contained program (.pt2, ONNX) that classifies uint8 images"


def build(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="model file written by icarl run --save or learn")
    p.add_argument("out", metavar="OUT", help="base name of the files to write (OUT.pt2, OUT.labels.json)")
    p.add_argument(
        "--format",
        default="pt2",
        help=f"comma-separated formats, of {', '.join(EXPORT_FORMATS)} (default: %(default)s)",
    )
    p.add_argument(
        "--classifier",
        choices=catalogue.predicting(),
        help="what the program computes (default: the model's own)",
    )
    p.add_argument(
        "--no-exemplars",
        action="store_true",
        help="also write OUT.icarl, an inference-only model file without the exemplar images",
    )
    p.add_argument("--force", action="store_true", help="replace files already at OUT")
    add_trust_backbone(p)
