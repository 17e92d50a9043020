"""The one place where an entry point's errors become ``icarl: error: MESSAGE`` and exit 2.

Only errors a user causes are turned into that line: :class:`~icarl.errors.IcarlError`
and the operating system's refusals (read-only file system, full disk, a file where a
folder should be, no permission, ...). Anything else is a bug and keeps its traceback.
A closed pipe (``icarl info --json | head``) ends the command quietly with status 141
(128 + SIGPIPE, what a shell reports for a command killed by a closed pipe).
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable

from ..errors import IcarlError

USAGE_ERROR = 2
BROKEN_PIPE = 141
INTERRUPTED = 130

# errno -> the fix the message suggests
OS_FIXES: dict[int, str] = {
    errno.EROFS: "the file system is read-only; choose a writable place",
    errno.ENOSPC: "free some space or write elsewhere; files written before are kept",
    errno.EDQUOT: "free some space or write elsewhere; files written before are kept",
    errno.EFBIG: "the file is too large for this file system; write elsewhere",
    errno.ENOTDIR: "a part of the path is a file, not a folder; check the path",
    errno.EISDIR: "it is a folder; give a file name",
    errno.EACCES: "no permission; choose a place you may write to or read from",
    errno.EPERM: "not permitted; choose a place you may write to or read from",
    errno.ENOENT: "it does not exist; check the path",
    errno.EEXIST: "it exists already; choose another name",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter path",
    errno.ELOOP: "too many symbolic links; check the path",
    errno.ENOTEMPTY: "the folder is not empty; choose another",
}


def user_message(e: BaseException) -> str | None:
    """The one-line message for an error the user caused; None for anything else (a bug)."""
    if isinstance(e, IcarlError):
        text = " ".join(line.strip() for line in str(e).strip().splitlines())  # one line
        return text or type(e).__name__
    if isinstance(e, OSError) and e.errno in OS_FIXES:
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror or os.strerror(e.errno)} ({OS_FIXES[e.errno]})"
    # torchrun: a rank stalled or died. icarl.distributed is looked up, not imported: it loads
    # torch, and a process that never loaded it is in no process group (icarl list, --help)
    dist = sys.modules.get("icarl.distributed")
    if isinstance(e, RuntimeError) and dist is not None and dist.is_dist():
        message: str = dist.failure_message(e)
        return message
    return None


def _quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so that Python's final flush is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def guarded(command: Callable[[], int]) -> int:
    """Run ``command``; its exit status, or 2 with one line on stderr for a user's error."""
    try:
        code = command()
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return BROKEN_PIPE
    except KeyboardInterrupt:
        print("icarl: interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as e:
        message = user_message(e)
        if message is None:
            raise
        print(f"icarl: error: {message}", file=sys.stderr)
        return USAGE_ERROR
