"""Command line: ``icarl COMMAND``. Errors a user can fix exit with status 2, on one line.

Each command is a module here with ``HELP``, ``build(parser)`` and ``main(args)``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from ..train.distributed import session
from ..version import __version__
from . import compare, info, learn, predict, report, run
from .funnel import guarded

COMMANDS: dict[str, ModuleType] = {
    "run": run,
    "compare": compare,
    "report": report,
    "learn": learn,
    "predict": predict,
    "info": info,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="icarl", description="Class-incremental learning with iCaRL (CVPR 2017)."
    )
    parser.add_argument("--version", action="version", version=f"icarl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.build(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2

    def command() -> int:
        with session(getattr(args, "dist_timeout", None)):  # torchrun: group up, stdout on rank 0
            code: int = COMMANDS[args.command].main(args)
            return code

    return guarded(command)  # user errors: one line, exit 2 (cli/funnel.py)


__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
