"""Command line: ``icarl COMMAND``. Errors a user can fix exit with status 2, on one line.

Each command is a module here with ``HELP``, ``build(parser)`` and ``main(args)``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from ..errors import IcarlError
from ..train.distributed import session
from ..version import __version__
from . import compare, export, export_images, info, learn, listing, pack, predict, report, run

COMMANDS: dict[str, ModuleType] = {
    "run": run,
    "compare": compare,
    "report": report,
    "learn": learn,
    "predict": predict,
    "info": info,
    "export": export,
    "list": listing,
    "pack": pack,
    "export-images": export_images,
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
    try:
        with session():  # torchrun: process group up, stdout on rank 0 only
            code: int = COMMANDS[args.command].main(args)
            return code
    except IcarlError as e:
        print(f"icarl: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("icarl: interrupted", file=sys.stderr)
        return 130


__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
