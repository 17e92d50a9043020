"""Where a command that imports torch runs: under the run's thread policy
(:func:`icarl.threads.for_command`) and, when launched by torchrun, in a process-group session
(:func:`icarl.distributed.session`). Imported only once a command line has parsed."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .. import threads
from ..distributed import session


def within_session(main: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    with (
        threads.for_command(getattr(args, "threads", None)),
        session(getattr(args, "dist_timeout", None)),
    ):
        return main(args)
