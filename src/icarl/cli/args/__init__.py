"""The command line's parser, built without importing torch: every command's options live in
a module here (``HELP`` and ``build(parser)``), the command itself in :mod:`icarl.cli` (its
``main(args)``), imported only once the arguments parsed. So ``icarl --help``, ``--version``,
``icarl list``, any ``icarl COMMAND --help`` and every argument error answer in well under a
second, where importing torch takes seconds (``tests/test_cli_startup.py``)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from types import ModuleType

from ... import threads
from ...version import __version__
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
from .helptext import PLUGIN_HELP


@dataclass(frozen=True)
class Command:
    """A command: its options (``args``: ``HELP``, ``build``), the module whose ``main(args)``
    runs it, whether it takes ``--threads``, whether it takes ``--plugin`` (``pluggable``), and
    whether it runs without torch (``light``: no thread policy, no torchrun session, unless
    ``--plugin`` names a module to import)."""

    args: ModuleType
    module: str
    computes: bool = False
    pluggable: bool = False
    light: bool = False


COMMANDS: dict[str, Command] = {
    "run": Command(run, "icarl.cli.run", computes=True, pluggable=True),
    "compare": Command(compare, "icarl.cli.compare", computes=True, pluggable=True),
    "paper": Command(paper, "icarl.cli.paper", computes=True),
    "report": Command(report, "icarl.cli.report"),
    "rerun": Command(rerun, "icarl.cli.rerun", computes=True, pluggable=True),
    "learn": Command(learn, "icarl.cli.learn", computes=True, pluggable=True),
    "predict": Command(predict, "icarl.cli.predict", computes=True, pluggable=True),
    "info": Command(info, "icarl.cli.info"),
    "export": Command(export, "icarl.cli.export", pluggable=True),
    "serve": Command(serve, "icarl.cli.serve"),
    "list": Command(listing, "icarl.cli.listing", pluggable=True, light=True),
    "pack": Command(pack, "icarl.cli.pack"),
    "export-images": Command(export_images, "icarl.cli.export_images"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="icarl", description="Class-incremental learning with iCaRL (CVPR 2017)."
    )
    parser.add_argument("--version", action="version", version=f"icarl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.args.HELP, description=command.args.HELP)
        command.args.build(p)
        if command.computes:
            p.add_argument(
                "--threads",
                type=_threads,
                metavar="N|auto",
                help="torch CPU threads, kept for the whole run (default: OMP_NUM_THREADS, else one "
                "per CPU this process may use); 'auto' gives up CPUs other processes keep busy, "
                "between epochs, and records each epoch's count (icarl.threads)",
            )
        if command.pluggable:
            p.add_argument("--plugin", action="append", default=[], metavar="MODULE", help=PLUGIN_HELP)
    return parser


def _threads(text: str) -> int | str:
    try:
        return threads.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
