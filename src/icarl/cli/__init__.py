"""Command line: ``icarl COMMAND``. Errors a user can fix exit with status 2, on one line.

Each command is a module here with ``HELP``, ``build(parser)`` and ``main(args)``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from .. import threads
from ..distributed import session
from ..tools.funnel import guarded
from ..version import __version__
from . import (
    compare,
    export,
    export_images,
    info,
    learn,
    listing,
    pack,
    paper,
    predict,
    report,
    rerun,
    run,
    serve,
)

COMMANDS: dict[str, ModuleType] = {
    "run": run,
    "compare": compare,
    "paper": paper,
    "report": report,
    "rerun": rerun,
    "learn": learn,
    "predict": predict,
    "info": info,
    "export": export,
    "serve": serve,
    "list": listing,
    "pack": pack,
    "export-images": export_images,
}


COMPUTES = ("run", "compare", "paper", "learn", "predict", "rerun")  # the commands that take --threads


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="icarl", description="Class-incremental learning with iCaRL (CVPR 2017)."
    )
    parser.add_argument("--version", action="version", version=f"icarl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.build(command)
        if name in COMPUTES:
            command.add_argument(
                "--threads",
                type=_threads,
                metavar="N|auto",
                help="torch CPU threads, kept for the whole run (default: OMP_NUM_THREADS, else one "
                "per CPU this process may use); 'auto' gives up CPUs other processes keep busy, "
                "between epochs, and records each epoch's count (icarl.threads)",
            )
    return parser


def _threads(text: str) -> int | str:
    try:
        return threads.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what grids and compare record
    if args.command is None:
        parser.print_help()
        return 2

    def command() -> int:
        with (
            threads.for_command(getattr(args, "threads", None)),
            session(getattr(args, "dist_timeout", None)),
        ):
            code: int = COMMANDS[args.command].main(args)
            return code

    return guarded(command)  # user errors: one line, exit 2 (tools/funnel.py)


__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
