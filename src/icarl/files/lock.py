"""A run folder's lock: ``RUN/.lock`` holds the writing process's id while a run writes there.

The lock is ``fcntl.flock`` on that file, so the kernel releases it when the process ends,
however it ends: a lock left by a killed run (its file still names the dead process) is
simply taken over. The file is opened with ``O_NOFOLLOW`` and must be a plain file with one
name: a ``.lock`` that is a symbolic link, a hard link or a special file is refused in one
line, so that writing the process id never truncates another file. A second run into a
locked folder gets a one-line error naming the process that holds it. Where ``fcntl``
does not exist (Windows) the lock is the file alone (``O_EXCL``), taken over when the
process it names is gone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from ..errors import IcarlError
from .atomic import CLOEXEC, NOFOLLOW, LinkError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"


class RunLockedError(IcarlError):
    """Another process is writing the run folder."""


def _holder(path: Path) -> str:
    """The process id the lock file names (at most 32 bytes read, no link followed)."""
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return "another process"
    try:
        pid = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        pid = ""
    finally:
        os.close(fd)
    return f"process {pid}" if pid.isdigit() else "another process"


def _open_lock(path: Path) -> int:
    """The lock file's descriptor: a plain file with one name, opened without following a link."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | NOFOLLOW | CLOEXEC | getattr(os, "O_NONBLOCK", 0), 0o644)
    except OSError as e:
        if e.errno != errno.ELOOP:
            raise
        raise LinkError(
            f"{path} is a symbolic link, not a lock file icarl made; icarl never writes through a "
            "link; remove it and run again"
        ) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        what = "a special file" if not stat.S_ISREG(st.st_mode) else "a hard link to another file"
        raise LinkError(f"{path} is {what}, not a lock file icarl made; remove it and run again")
    return fd


def _alive(pid_text: str) -> bool:
    try:
        os.kill(int(pid_text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _take(path: Path, what: str) -> int:
    """The lock file's descriptor, locked; ``RunLockedError`` while another process holds it."""
    if fcntl is None:  # pragma: no cover - Windows
        if path.exists() and not _alive(path.read_text().strip()):
            path.unlink()
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise RunLockedError(_busy(path, what)) from None
    while True:
        fd = _open_lock(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RunLockedError(_busy(path, what)) from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the file was removed by the run that ended meanwhile: lock the new one


def _busy(path: Path, what: str) -> str:
    return (
        f"{what} {path.parent} is in use by {_holder(path)} (lock {path}); wait for it to end, "
        "stop it, or choose another folder"
    )


@contextlib.contextmanager
def locked_folder(folder: Path, what: str = "run folder") -> Iterator[bool]:
    """Hold ``folder``'s lock (creating the folder) for the ``with`` block; yields whether
    the folder was created here. Afterwards the lock file is removed, and a folder created
    here that is still empty is removed too (a failed command leaves nothing behind)."""
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    try:
        fd = _take(path, what)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield created
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty
