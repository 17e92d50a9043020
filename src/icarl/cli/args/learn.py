"""``icarl learn``'s options (parsed before anything heavy is imported; the command itself:
:mod:`icarl.cli.learn`)."""

from __future__ import annotations

import argparse

from .. import catalogue
from .helptext import add_trust_backbone

HELP = "add the classes of new data to a saved model (one iCaRL step)"


def build(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="model file written by icarl run --save or learn")
    p.add_argument(
        "--data", help="new data: a folder of class folders, or the dataset's path (embedded ones need none)"
    )
    p.add_argument(
        "--dataset",
        default="imagefolder",
        help=f"source of --data, one of: {', '.join(catalogue.datasets())} (default: %(default)s)",
    )
    p.add_argument("--out", help="where to write the new model (default: MODEL's stem + .stepN)")
    p.add_argument("--allow-known", action="store_true", help="skip classes the model already knows")
    p.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help="held-out share of each class for the accuracy, when NEW_DATA has no test split "
        "(default 0.2; 0 trains on everything)",
    )
    p.add_argument("--epochs", type=int, help="training epochs for this step (default: the model's)")
    p.add_argument("--lr", type=float, help="learning rate for this step (default: the model's)")
    p.add_argument("--batch-size", type=int, help="batch size for this step (default: the model's)")
    p.add_argument("--device", help="cpu, cuda, ... (default: the model's setting)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--no-exemplars",
        action="store_true",
        help="write the new model without its exemplar images (inference only: it cannot learn again)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing --out file (other than MODEL)")
    p.add_argument(
        "--in-place", action="store_true", help="replace MODEL itself by the new model (once it is learned)"
    )
    add_trust_backbone(p)
