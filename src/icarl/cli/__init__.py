"""Command line: ``icarl COMMAND``. Errors a user can fix exit with status 2, on one line.

Each command has its options in :mod:`icarl.cli.args` (``HELP``, ``build(parser)``: no torch)
and its work in a module here (``main(args)``), imported once the command line parsed: only
the command that runs loads torch (``icarl --help`` and ``icarl list`` do not). ``--plugin``
modules, which register methods and so import torch, are imported after parsing too
(:mod:`icarl.cli.launch`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..tools.funnel import guarded
from .args import COMMANDS, Command, build_parser

COMPUTES = tuple(name for name, c in COMMANDS.items() if c.computes)  # the commands that take --threads
PLUGGABLE = tuple(name for name, c in COMMANDS.items() if c.pluggable)  # ... that take --plugin


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
    """Import the command's module and run its ``main``: the light ones (``list`` without
    ``--plugin``) as they are, the others after loading the plugins the command line names,
    under the thread policy and torchrun's session (:mod:`icarl.cli.launch`)."""
    module = importlib.import_module(command.module)
    if command.light and not getattr(args, "plugin", None):
        code: int = module.main(args)
        return code
    launch = importlib.import_module("icarl.cli.launch")
    code = launch.within_session(module.main, args)
    return code


__all__ = ["COMMANDS", "COMPUTES", "PLUGGABLE", "build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
