"""Command line: ``icarl COMMAND``. Errors a user can fix exit with status 2, on one line.

Each command lives in its own module here and registers itself with :func:`command`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from ..errors import IcarlError

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Command, str]] = {}


def command(
    name: str, help: str, build: Callable[[argparse.ArgumentParser], None]
) -> Callable[[Command], Command]:
    """Register a subcommand: ``build`` adds its arguments; the decorated function runs it."""

    def add(fn: Command) -> Command:
        COMMANDS[name] = (build, fn, help)
        return fn

    return add


# ------------------------------------------------------------------------ main
def build_parser() -> argparse.ArgumentParser:
    from . import compare, info, learn, predict, report, run  # noqa: F401  (each module registers its commands)

    parser = argparse.ArgumentParser(
        prog="icarl", description="Class-incremental learning with iCaRL (CVPR 2017)."
    )
    parser.add_argument("--version", action="version", version=f"icarl {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (build, _, help) in COMMANDS.items():
        build(sub.add_parser(name, help=help, description=help))
    return parser


def _version() -> str:
    from .. import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    _, run_command, _ = COMMANDS[args.command]
    from ..distributed import session

    try:
        with session():  # torchrun: process group up, stdout on rank 0 only
            return run_command(args)
    except IcarlError as e:
        print(f"icarl: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("icarl: interrupted", file=sys.stderr)
        return 130


__all__ = ["command", "main"]

if __name__ == "__main__":
    sys.exit(main())
