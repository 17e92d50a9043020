"""Reading untrusted files safely: a restricted unpickler and archive readers.

- :func:`restricted_loads` reads a pickle that may only build plain containers,
  strings, bytes, numbers and numpy arrays of non-object dtypes. Any other global
  (``os.system``, ``builtins.eval``, ...) is refused before it is looked up, so a
  crafted ``__reduce__`` cannot run code.
- :class:`SafeArchive` lists and reads the regular files of a zip or tar archive
  without extracting; :func:`safe_extract` extracts. Both refuse absolute paths,
  ``..`` components, links and device files, and bound the total bytes read.
"""

from __future__ import annotations

import importlib
import io
import pickle
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..errors import IcarlError
from .atomic import atomic_write
from .limits import DEFAULTS, exceeds, limit, ratio_exceeded, refusal

MAX_ARCHIVE_BYTES = DEFAULTS["ICARL_MAX_BYTES"]  # the default; ICARL_MAX_BYTES raises it


class UnsafeFileError(IcarlError):
    """A file or archive that could run code or write outside its folder; refused."""


# ------------------------------------------------------------------ pickles
def _safe_dtype(*args: Any) -> np.dtype[Any]:
    dt = np.dtype(*args)
    if dt.hasobject:
        raise UnsafeFileError(f"pickle holds an object-dtype array ({dt}); only plain arrays are read")
    return dt


def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:
        _reconstruct = importlib.import_module("numpy._core.multiarray")._reconstruct
    except ImportError:  # numpy < 2
        _reconstruct = importlib.import_module("numpy.core.multiarray")._reconstruct

    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _safe_dtype,
    }
    # numpy < 2 wrote ``numpy.core``; numpy >= 2 writes ``numpy._core``: the same function
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = _reconstruct
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the numpy array globals above; nothing else."""

    def __init__(self, file: io.BufferedIOBase, name: str, encoding: str = "bytes") -> None:
        super().__init__(file, encoding=encoding)
        self._name = name
        self._allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafeFileError(
                f"{self._name} asks to load {module}.{name}, which could run code; refused "
                "(only plain data and numpy arrays are read from pickles)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeFileError(f"{self._name} uses persistent ids; refused (not a plain-data pickle)")


def _check_arrays(obj: Any, name: str) -> None:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, np.ndarray) and item.dtype.hasobject:
            raise UnsafeFileError(f"{name} holds an object-dtype array; only plain arrays are read")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)


def restricted_loads(data: bytes, name: str = "pickle", encoding: str = "bytes") -> Any:
    """Unpickle ``data`` admitting only plain containers, str/bytes/numbers and numpy arrays.

    ``encoding="bytes"`` reads Python 2 strings as bytes (the CIFAR pickles' keys are ``b"data"``).
    Refused content raises :class:`UnsafeFileError`; a damaged pickle raises :class:`IcarlError`.
    """
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), name, encoding).load()
    except UnsafeFileError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError) as e:
        raise IcarlError(
            f"{name} is not a readable pickle ({type(e).__name__}: {e}); the file is damaged, "
            "download it again"
        ) from None
    except MemoryError:
        raise IcarlError(
            f"{name} declares an array larger than the memory available; the file is damaged or "
            "hostile, download it again"
        ) from None
    _check_arrays(obj, name)
    return obj


# ------------------------------------------------------------------ archives
def check_member_name(name: str, archive: str) -> str:
    """A member name as a relative POSIX path inside the archive, or :class:`UnsafeFileError`."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeFileError(f"{archive} holds member {name!r} with an absolute path; refused")
    if ".." in path.parts:
        raise UnsafeFileError(f"{archive} holds member {name!r} that climbs out with '..'; refused")
    return str(path)


class SafeArchive:
    """The regular files of a zip or tar (any compression) archive, by relative name.

    Links, devices and unsafe names are refused when the archive is opened, and so is an
    archive whose directory declares more members, more bytes or a higher compression ratio
    than :mod:`icarl.files.limits` allows; reading more than ``max_bytes`` (default
    ``ICARL_MAX_BYTES``) in total is refused.
    """

    def __init__(self, path: str | Path, max_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.max_bytes = limit("ICARL_MAX_BYTES") if max_bytes is None else max_bytes
        self._read = 0
        self._lock = threading.Lock()  # tar reads share one stream; zip reads only the counter
        self._zip: zipfile.ZipFile | None = None
        self._tar: tarfile.TarFile | None = None
        self._members: dict[str, Any] = {}
        try:
            if zipfile.is_zipfile(self.path):
                self._open_zip()
            elif tarfile.is_tarfile(self.path):
                self._open_tar()
            else:
                raise IcarlError(
                    f"{self.path} is neither a readable zip nor tar archive (damaged, truncated or "
                    "another format); download it again"
                )
            self._check_declared()
        except UnsafeFileError:
            self.close()
            raise
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
            self.close()
            raise IcarlError(
                f"cannot read archive {self.path} ({type(e).__name__}: {e}); it is damaged or "
                "truncated, download it again"
            ) from None

    def _open_zip(self) -> None:
        self._zip = zipfile.ZipFile(self.path)
        for info in self._zip.infolist():
            name = check_member_name(info.filename, str(self.path))
            mode = info.external_attr >> 16
            if (mode & 0o170000) == 0o120000:
                raise UnsafeFileError(f"{self.path} holds a symbolic link {info.filename!r}; refused")
            if not info.is_dir():
                self._members[name] = info

    def _open_tar(self) -> None:
        self._tar = tarfile.open(self.path)  # noqa: SIM115  (closed in close())
        cap = limit("ICARL_MAX_MEMBERS")
        for count, info in enumerate(self._tar, 1):
            if count > cap:
                raise UnsafeFileError(refusal(str(self.path), f"over {cap} members", "ICARL_MAX_MEMBERS"))
            name = check_member_name(info.name, str(self.path))
            if info.issym() or info.islnk():
                raise UnsafeFileError(f"{self.path} holds a link {info.name!r}; refused")
            if info.isfile():
                self._members[name] = info
            elif not info.isdir():
                raise UnsafeFileError(f"{self.path} holds a special file {info.name!r}; refused")

    def _check_declared(self) -> None:
        """Members, total bytes and compression ratio as the archive's directory declares them."""
        where, file_size = str(self.path), self.path.stat().st_size
        count = len(self._zip.infolist()) if self._zip is not None else len(self._members)
        if exceeds("ICARL_MAX_MEMBERS", count):
            raise UnsafeFileError(refusal(where, f"{count} members", "ICARL_MAX_MEMBERS"))
        for name, info in self._members.items() if self._zip is not None else ():
            if info.compress_size > file_size:
                raise UnsafeFileError(
                    f"{where}: member {name!r} declares {info.compress_size} compressed bytes but "
                    f"the file holds {file_size}; the archive is damaged, download it again"
                )
            if ratio_exceeded(info.file_size, info.compress_size):
                what = f"member {name!r} expands {info.compress_size} bytes to {info.file_size}"
                raise UnsafeFileError(refusal(where, what + " (a zip bomb?)", "ICARL_MAX_RATIO"))
        total = sum(self.size(n) for n in self._members)
        if total > self.max_bytes:
            raise UnsafeFileError(
                f"{where} expands to more than {self.max_bytes} bytes (its members declare {total}, "
                "limit ICARL_MAX_BYTES); refused (if the archive is genuine, raise the limit: "
                "export ICARL_MAX_BYTES=N)"
            )
        if ratio_exceeded(total, file_size):  # a tar is one stream; a zip's members together
            what = f"{total} bytes uncompressed from {file_size} (a decompression bomb?)"
            raise UnsafeFileError(refusal(where, what, "ICARL_MAX_RATIO"))

    def names(self) -> list[str]:
        return list(self._members)

    def size(self, name: str) -> int:
        info = self._members[name]
        return int(info.file_size if self._zip is not None else info.size)

    def read(self, name: str) -> bytes:
        """The bytes of regular file ``name`` (a name from :meth:`names`)."""
        if name not in self._members:
            raise IcarlError(f"{self.path} has no file {name!r}; is it the right archive?")
        info = self._members[name]
        budget = max(0, self.max_bytes - self._read)
        try:
            if self._zip is not None:
                with self._zip.open(info) as f:
                    data = f.read(budget + 1)
            else:
                assert self._tar is not None  # internal: a tar when not a zip
                with self._lock:
                    member = self._tar.extractfile(info)
                    assert member is not None  # internal: regular files only reach here
                    data = member.read(budget + 1)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
            raise IcarlError(
                f"cannot read {name} from {self.path} ({type(e).__name__}: {e}); the archive is "
                "damaged or truncated, download it again"
            ) from None
        with self._lock:
            self._read += len(data)
            total = self._read
        if total > self.max_bytes:
            raise UnsafeFileError(
                f"{self.path} expands to more than {self.max_bytes} bytes (limit ICARL_MAX_BYTES); "
                "refused (if the archive is genuine, raise the limit: export ICARL_MAX_BYTES=N)"
            )
        return data

    def close(self) -> None:
        for handle in (self._zip, self._tar):
            if handle is not None:
                handle.close()

    def __enter__(self) -> SafeArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[str]:
        return iter(self._members)


def safe_extract(archive: str | Path, dest: str | Path, max_bytes: int | None = None) -> list[Path]:
    """Extract the regular files of ``archive`` under ``dest`` (checked as in :class:`SafeArchive`).

    Every name is checked before anything is written; returns the written paths.
    """
    root = Path(dest).resolve()
    written: list[Path] = []
    with SafeArchive(archive, max_bytes) as arc:
        for name in arc.names():
            target = (root / name).resolve()
            if root != target and root not in target.parents:
                raise UnsafeFileError(f"{archive} member {name!r} would be written outside {root}")
        for name in arc.names():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, arc.read(name))
            written.append(target)
    return written


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` next to ``path`` and rename it into place (see :mod:`icarl.atomic`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data, then="run the command again")
