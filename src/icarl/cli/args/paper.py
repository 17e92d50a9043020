"""``icarl paper``'s options (parsed before anything heavy is imported; the command itself:
:mod:`icarl.cli.paper`)."""

from __future__ import annotations

import argparse

from ... import threads
from ..catalogue import PAPER_BUDGETS, PAPER_METHODS

HELP = "the paper's CIFAR-100 experiments (Figure 2, Table 1) over class orders, beside its values"


def build(p: argparse.ArgumentParser) -> None:
    """``icarl paper --resume OUT`` and ``icarl paper cifar100 [options] [KEY=VALUE ...]``."""
    p.add_argument("--resume", metavar="OUT", help="continue a killed icarl paper grid in OUT")
    sub = p.add_subparsers(dest="benchmark", metavar="BENCHMARK")
    c = sub.add_parser("cifar100", help="CIFAR-100 as Rebuffi et al. ran it", description=HELP)
    c.add_argument(
        "--budget",
        default="paper",
        choices=sorted(PAPER_BUDGETS),
        help="paper: 2,5,10,20,50 classes per step, 70 epochs, every method; cpu: 10 classes per "
        "step, 5 epochs, iCaRL (+hybrid1) and finetuning. Either over 3 class orders; the flags "
        "below replace its values",
    )
    c.add_argument("--orders", type=int, help="class orders icarl-theano:0..N-1 (0: the authors' order)")
    c.add_argument("--epochs", type=int, help="epochs per step (lr / 5 at 70%% and 90%% of them)")
    c.add_argument("--classes-per-step", metavar="P1,P2,...", help="step sizes, e.g. 2,5,10,20,50")
    c.add_argument("--methods", metavar="M1,M2,...", help=f"of: {', '.join(PAPER_METHODS)}")
    c.add_argument("--data", help="CIFAR-100: cifar-100-python.tar.gz or its extracted folder")
    c.add_argument("--checksum", help="the archive's md5/sha256, or off (default: the published md5)")
    c.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    c.add_argument("--out", help="the grid's folder (default: runs/paper-cifar100-<budget>)")
    c.add_argument(
        "--force",
        action="store_true",
        help="use a non-empty --out (its cells are kept or resumed, as --resume does)",
    )
    c.add_argument("--dry-run", action="store_true", help="print the grid, its work and time; train nothing")
    c.add_argument(
        "--gpu-rate",
        type=float,
        metavar="IMAGES_PER_S",
        help="--dry-run: a measured GPU training rate of ResNet-32 in place of the assumed one",
    )
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    c.add_argument("--figure-format", default="png", metavar="FORMATS", help="png, svg, pdf (png always)")
    # here as well as before the benchmark (icarl paper --threads N cifar100); not given: unset
    c.add_argument(
        "--threads", type=_threads, default=argparse.SUPPRESS, metavar="N|auto", help="torch CPU threads"
    )
    c.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="on every run, e.g. learner.amp=bf16")


def _threads(text: str) -> int | str:
    try:
        return threads.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
