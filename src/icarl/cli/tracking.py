"""The options of ``run`` and ``compare`` that say what a run reports and logs:
``--log`` (loggers besides epochs.csv), ``--verbose`` (one line per epoch),
``--figure-format`` (png, svg, pdf) and ``--seeds``."""

from __future__ import annotations

import argparse

from ..config import ConfigError
from ..experiment.loggers import LOGGERS, LogOptions, parse_log
from ..experiment.plots import parse_formats


def add_log_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log",
        metavar="NAMES",
        help=f"comma-separated loggers: {', '.join(LOGGERS.names())} (epochs.csv is always written; "
        "the others need their extra, pip install 'icarl[tensorboard]' etc.; wandb runs offline "
        "unless WANDB_MODE is set, mlflow writes RUN_DIR/mlruns unless MLFLOW_TRACKING_URI is)",
    )
    p.add_argument("--verbose", action="store_true", help="print one line per epoch (loss, learning rate)")
    p.add_argument(
        "--figure-format",
        metavar="FORMATS",
        default="png",
        help="figure files to write, comma-separated from png, svg, pdf (default: png)",
    )
    p.add_argument(
        "--seeds",
        metavar="S1,S2,...",
        help="repeat once per seed into OUT/seed-S, then aggregate.json (mean, sd, se) and a report",
    )
    p.add_argument(
        "--sweep",
        action="append",
        metavar="KEY=V1,V2",
        help="a grid over these values of KEY (repeat for several keys: every combination), each "
        "in OUT/KEY=V, with --seeds/--orders as repetitions; a summary table and one figure per key",
    )
    p.add_argument(
        "--orders",
        type=int,
        metavar="N",
        help="repeat over N class orders drawn from data.class_order's generator (OUT/order-K; "
        "with --seeds, OUT/order-K-seed-S), then the aggregate; --resume OUT continues",
    )


def log_options(args: argparse.Namespace) -> LogOptions:
    """The checked ``--log`` / ``--verbose`` / ``--figure-format`` (one-line errors)."""
    formats = parse_formats(getattr(args, "figure_format", None))
    return LogOptions(parse_log(getattr(args, "log", None)), bool(getattr(args, "verbose", False)), formats)


def parse_seeds(spec: str | None) -> list[int]:
    """``--seeds 1993,1,2`` -> [1993, 1, 2]; distinct integers."""
    if spec is None:
        return []
    items = [s.strip() for s in spec.split(",") if s.strip()]
    try:
        seeds = [int(s) for s in items]
    except ValueError:
        raise ConfigError(
            f"--seeds {spec!r} is not a comma-separated list of integers, like 1993,1,2"
        ) from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {spec!r}: give distinct integers, like 1993,1,2")
    return seeds
