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
from ..methods import plugins
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
PLUGGABLE = ("run", "compare", "rerun", "learn", "predict", "export", "list")  # ... that take --plugin


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
        if name in PLUGGABLE:
            command.add_argument("--plugin", action="append", default=[], metavar="MODULE", help=PLUGIN_HELP)
    return parser


PLUGIN_HELP = (
    "import MODULE first: its methods (registered with icarl.methods.register, or its entry points "
    "in the group icarl.methods) become usable; repeatable. Also what allows a model file, "
    "checkpoint or results.json naming a plugin's method to import it"
)


def _load_plugins(args: argparse.Namespace) -> None:
    """``--plugin`` modules, then the methods named on the command line (``--method``,
    ``--methods``) that an installed entry point provides: the user's choice, so imported."""
    for module in getattr(args, "plugin", None) or []:
        plugins.use_plugin(module)
    named = [getattr(args, "method", None), *str(getattr(args, "methods", None) or "").split(",")]
    for name in filter(None, (str(n).strip() for n in named if n)):
        if name in plugins.installed():
            plugins.for_user(name)


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
        _load_plugins(args)
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
