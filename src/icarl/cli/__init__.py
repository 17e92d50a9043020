"""Command line: ``icarl COMMAND``. Errors a user can fix exit with status 2, on one line.

Each command has its options in :mod:`icarl.cli.args` (``HELP``, ``build(parser)``: no torch)
and its work in a module here (``main(args)``), imported once the command line parsed: only
the command that runs loads torch (``icarl --help`` and ``icarl list`` do not).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..tools.funnel import guarded
from .args import COMMANDS, Command, build_parser

COMPUTES = tuple(name for name, c in COMMANDS.items() if c.computes)  # the commands that take --threads


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what grids and compare record
    if args.command is None:
        parser.print_help()
        return 2
    command = COMMANDS[args.command]
    return guarded(lambda: run_command(command, args))  # user errors: one line, exit 2 (tools/funnel.py)


def run_command(command: Command, args: argparse.Namespace) -> int:
    """Import the command's module and run its ``main``; all but the light ones (``list``)
    under the thread policy and torchrun's session (:mod:`icarl.cli.launch`)."""
    module = importlib.import_module(command.module)
    if command.light:
        code: int = module.main(args)
        return code
    launch = importlib.import_module("icarl.cli.launch")
    code = launch.within_session(module.main, args)
    return code


__all__ = ["COMMANDS", "build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
