"""Where a command that imports torch runs: after the plugins its command line names are
imported (:func:`load_plugins`), under the run's thread policy
(:func:`icarl.threads.for_command`) and, when launched by torchrun, in a process-group session
(:func:`icarl.distributed.session`). Imported only once a command line has parsed."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .. import threads
from ..distributed import session
from ..methods import plugins


def within_session(main: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    load_plugins(args)
    with (
        threads.for_command(getattr(args, "threads", None)),
        session(getattr(args, "dist_timeout", None)),
    ):
        return main(args)


def load_plugins(args: argparse.Namespace) -> None:
    """``--plugin`` modules, then the methods named on the command line (``--method``,
    ``--methods``) that an installed entry point provides: the user's choice, so imported."""
    for module in getattr(args, "plugin", None) or []:
        plugins.use_plugin(module)
    named = [getattr(args, "method", None), *str(getattr(args, "methods", None) or "").split(",")]
    for name in filter(None, (str(n).strip() for n in named if n)):
        if name in plugins.installed():
            plugins.for_user(name)
