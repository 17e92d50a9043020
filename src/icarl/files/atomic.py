"""Every file icarl writes goes through here: atomic, and never through a link.

:func:`atomic_write` writes a temporary file in the same folder, flushes and fsyncs it,
then ``os.replace`` and an fsync of the folder: the target is always either the old or the
new content; on failure the temporary file is removed and a one-line error says so.

No write follows a link. The temporary file is created with ``O_CREAT | O_EXCL | O_NOFOLLOW``:
a link (or any file) planted at its name is removed (the link itself, never its target) and
the file created anew, exclusively. The final name is replaced by ``rename``, which replaces
a link found there by the new file and leaves the link's target alone. :func:`open_replacing`
is the same for a file written as it goes (a log): the new, empty file is renamed into place
at once and then written. :func:`scratch_dir` gives writers that insist on a file name
(``torch.onnx.export``) a private folder made with ``mkdtemp``, whose file is then renamed
into place. Locks open their file with ``O_NOFOLLOW`` too (:mod:`icarl.files.lock`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ..errors import IcarlError

# Testing hook (documented, off unless set): sleep this many seconds halfway through
# every atomic write, so that a test can kill the process while a write is in flight.
PAUSE_ENV = "ICARL_TEST_WRITE_PAUSE"
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class WriteError(IcarlError):
    """A file could not be written (disk full, permissions); the previous file is kept."""


class LinkError(IcarlError):
    """A file icarl would write or lock is a link or a special file; refused, nothing followed."""


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` are one existing file (links, hard links and ``..`` resolved:
    ``samefile``); what a command writes must never be what it reads."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def create_new(path: Path) -> int:
    """A descriptor of a new, empty file at ``path``, created exclusively without following
    links; whatever was at that name (a leftover temporary file of a killed write, a planted
    link) is unlinked first, which removes the link itself, never what it points to."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC
    try:
        return os.open(path, flags, 0o644)
    except FileExistsError:
        pass
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            raise IsADirectoryError(errno.EISDIR, "a folder is in the way of a temporary file", str(path))
        os.unlink(path)
    return os.open(path, flags, 0o644)  # a second one planted meanwhile: FileExistsError, one line


def write_new(path: Path, data: bytes) -> None:
    """``data`` as the file ``path``, created as in :func:`create_new` (whatever was at that name,
    a link included, is replaced, never followed); not atomic, not fsynced: for many small
    files whose caller checked beforehand that it may replace them (``export-images``)."""
    with os.fdopen(create_new(path), "wb") as f:
        f.write(data)


def atomic_write(path: str | Path, data: bytes, then: str | None = None) -> None:
    """Write ``data`` to ``path`` so that ``path`` is either the old or the new content.

    On any OSError (ENOSPC, EDQUOT, EACCES, ...) the temporary file is removed, the
    previous ``path`` is untouched, and :class:`WriteError` says so on one line.
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        with os.fdopen(create_new(tmp), "wb") as f:
            half = len(data) // 2
            f.write(data[:half])
            f.flush()
            _test_pause()
            f.write(data[half:])
            f.flush()
            os.fsync(f.fileno())
        _commit(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise WriteError(_write_error_message(path, e, then)) from None
    fsync_dir(path.parent)


def _commit(tmp: Path, path: Path) -> None:
    """The rename that makes a write visible (a link at ``path`` is replaced, not followed).
    One function, so that a test can stop a run at any write (the kill-at-every-write test)."""
    os.replace(tmp, path)


def open_replacing(path: str | Path, encoding: str = "utf-8", newline: str | None = None) -> IO[str]:
    """A text file written as it goes (a log), replacing ``path``: a new, empty file made as in
    :func:`create_new` and renamed over ``path`` at once; a link at ``path`` is replaced by the
    file, its target left unchanged (``open(path, "w")`` would truncate the target)."""
    path = Path(path)
    tmp = temp_path(path)
    fd = create_new(tmp)
    try:
        _commit(tmp, path)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return os.fdopen(fd, "w", encoding=encoding, newline=newline)


@contextlib.contextmanager
def scratch_dir(parent: Path) -> Iterator[Path]:
    """A private new folder in ``parent`` (``mkdtemp``: nobody else's files or links in it),
    removed afterwards, for writers that take a file name; move results out with :func:`place`."""
    folder = Path(tempfile.mkdtemp(prefix=".icarl-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def place(src: Path, path: Path) -> None:
    """``src`` (a finished file in a :func:`scratch_dir`) renamed to ``path``, durably."""
    os.replace(src, path)
    fsync_dir(path.parent)


def _write_error_message(path: Path, e: OSError, then: str | None) -> str:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        why, fix = "the disk is full", "free some space"
    elif e.errno in (errno.EEXIST, errno.ELOOP):
        why, fix = "another file or link appeared at its temporary name", "check who writes there"
    else:
        why, fix = (e.strerror or str(e)).lower(), "check the folder's permissions and space"
    kept = f"the previous {path.name} is kept" if os.path.lexists(path) else f"no {path.name} was written"
    then = f"resume with icarl run --resume {path.parent}" if then is None else then
    return f"cannot write {path}: {why}; {kept}; {fix}, then {then}"


def fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
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
