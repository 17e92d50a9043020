"""What ``icarl run`` checks around a run folder: its lock (held by rank 0 under torchrun,
the outcome shared with every rank), a restart by ``torchrun --max-restarts`` (continued
from its own checkpoint) and a resume with another number of processes."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from .. import distributed
from ..files.atomic import LinkError
from ..files.checkpoint import CHECKPOINT_NAME, Checkpoint, CheckpointError
from ..files.lock import RunLockedError, locked_folder

RESTART_ENV = "TORCHELASTIC_RESTART_COUNT"


@contextlib.contextmanager
def hold(folder: Path, what: str = "run folder") -> Iterator[None]:
    """``folder``'s lock for the block (rank 0 takes it; every rank raises if it is held)."""
    with contextlib.ExitStack() as stack:
        problem = ""
        if distributed.is_main():
            try:
                stack.enter_context(locked_folder(folder, what))
            except (RunLockedError, LinkError) as e:
                problem = str(e)
        problem = distributed.broadcast_object(problem)
        if problem:
            raise RunLockedError(problem)
        yield


def restarted(args: argparse.Namespace) -> bool:
    """Under ``torchrun --max-restarts``, a restarted worker group (restart count > 0) whose
    ``--out`` holds a checkpoint continues it: the command becomes ``--resume OUT``."""
    try:
        count = int(os.environ.get(RESTART_ENV, "0"))
    except ValueError:
        count = 0
    if count <= 0 or not args.out or not (Path(args.out) / CHECKPOINT_NAME).is_file():
        return False
    print(f"torchrun restart {count}: continuing the run in {args.out} from its checkpoint")
    args.resume, args.out, args.force = args.out, None, False
    return True


def check_world_size(ck: Checkpoint, world: int, allow: bool, run_dir: Path) -> None:
    """A run resumes with the number of processes it was trained with, unless ``allow``:
    under DDP the batch splits and the BatchNorm statistics depend on that number."""
    if ck.world_size != world and not allow:
        raise CheckpointError(
            f"the checkpoint in {run_dir} was written by {ck.world_size} process(es), this resume runs "
            f"{world}; resume with {ck.world_size} (torchrun --nproc_per_node={ck.world_size}) or pass "
            "--allow-world-size-change (results then differ from an uninterrupted run)"
        )
