"""Atomic file writes: a temporary file in the same folder, flushed and fsynced, then
``os.replace`` and an fsync of the folder. The target is always either the old or the
new content; on failure the temporary file is removed and a one-line error says so.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path

from ..errors import IcarlError

# Testing hook (documented, off unless set): sleep this many seconds halfway through
# every atomic write, so that a test can kill the process while a write is in flight.
PAUSE_ENV = "ICARL_TEST_WRITE_PAUSE"


class WriteError(IcarlError):
    """A file could not be written (disk full, permissions); the previous file is kept."""


def temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def atomic_write(path: str | Path, data: bytes, then: str | None = None) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either the old or the new content.

    On any OSError (ENOSPC, EDQUOT, EACCES, ...) the temporary file is removed, the
    previous ``path`` is untouched, and :class:`WriteError` says so on one line.
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            half = len(data) // 2
            f.write(data[:half])
            f.flush()
            _test_pause()
            f.write(data[half:])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise WriteError(_write_error_message(path, e, then)) from None
    fsync_dir(path.parent)


def _write_error_message(path: Path, e: OSError, then: str | None) -> str:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        why, fix = "the disk is full", "free some space"
    else:
        why, fix = (e.strerror or str(e)).lower(), "check the folder's permissions and space"
    kept = f"the previous {path.name} is kept" if path.exists() else f"no {path.name} was written"
    then = f"resume with icarl run --resume {path.parent}" if then is None else then
    return f"cannot write {path}: {why}; {kept}; {fix}, then {then}"


def fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _test_pause() -> None:
    seconds = os.environ.get(PAUSE_ENV)
    if seconds:
        time.sleep(float(seconds))
