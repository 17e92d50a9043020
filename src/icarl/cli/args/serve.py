"""``icarl serve``'s options (parsed before anything heavy is imported; the command itself:
:mod:`icarl.cli.serve`, which needs the ``serve`` extra)."""

from __future__ import annotations

import argparse

HELP = "serve a model over HTTP: predict, and learn new classes while predicting (extra: icarl[serve])"
TOKEN_ENV = "ICARL_SERVE_TOKEN"


def build(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model", metavar="MODEL", help="a model file (icarl run --save, learn) or a serving folder"
    )
    p.add_argument("--store", help="serving folder for the versions (default: MODEL's stem + .served)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)"
    )
    p.add_argument(
        "--port", type=int, default=8000, help="port (default: %(default)s; 0: a free one, printed)"
    )
    p.add_argument(
        "--token", help=f"token that learn and cancel requests must send (better: the {TOKEN_ENV} variable)"
    )
    rule = p.add_mutually_exclusive_group()
    rule.add_argument(
        "--unknown-sd",
        type=float,
        default=6.0,
        help="answer 'unknown' below the best class's exemplar mean score minus this many standard "
        "deviations (the calibrated rule, default %(default)s)",
    )
    rule.add_argument(
        "--min-score", type=float, help="answer 'unknown' when the best score is below this instead"
    )
    rule.add_argument("--no-unknown", action="store_true", help="always answer the best class")
    p.add_argument(
        "--predict-threads", type=int, help="torch threads for predictions (default: CPUs - learn threads)"
    )
    p.add_argument("--learn-threads", type=int, help="torch threads of a learn job (default: half the CPUs)")
    p.add_argument("--no-learn", action="store_true", help="predict only: refuse learn requests")
    p.add_argument(
        "--max-body-mb", type=float, default=16.0, help="largest request body, MiB (default %(default)s)"
    )
    p.add_argument(
        "--max-images", type=int, default=64, help="images per predict request (default %(default)s)"
    )
    p.add_argument(
        "--max-learn-images", type=int, default=2000, help="images per learn request (default %(default)s)"
    )
    p.add_argument(
        "--max-pixels", type=int, default=16_000_000, help="pixels of one image (default %(default)s)"
    )
    p.add_argument(
        "--allow-host", action="append", default=[], help="another Host name clients may use (repeatable)"
    )
    p.add_argument("--device", help="cpu, cuda, ... (default: the model's setting)")
    p.add_argument("--no-access-log", action="store_true", help="do not log every request")
