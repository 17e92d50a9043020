"""The options of ``run`` and ``compare`` that say what a run reports and logs:
``--log`` (loggers besides epochs.csv), ``--verbose`` (one line per epoch),
``--figure-format`` (png, svg, pdf), ``--seeds``, ``--sweep`` and ``--orders``."""

from __future__ import annotations

import argparse

from .. import catalogue


def add_log_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log",
        metavar="NAMES",
        help=f"comma-separated loggers: {', '.join(catalogue.loggers())} (epochs.csv is always written; "
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
