"""Guards for readers of user folders and images: paths confined to their root (no ``..``, no
absolute paths, no symbolic links followed) and an image's pixel count checked from its header.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image

from ...errors import DataError
from ...files.limits import exceeds, limit, refusal
from ..source import check_class_count

# Pillow warns (on stderr) above its own limit; ICARL_MAX_PIXELS, below it, refuses first
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

LINK_FIX = "icarl reads only regular files inside the data folder: copy the target in (cp -rL)"


def follow_pixel_limit() -> None:
    """Raise Pillow's own limit to ``ICARL_MAX_PIXELS`` when the user raised icarl's above it
    (call before ``Image.open``, which applies Pillow's)."""
    cap = limit("ICARL_MAX_PIXELS")
    if Image.MAX_IMAGE_PIXELS is not None and cap > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = cap


def check_pixels(im: Any, where: str) -> None:
    """Refuse an opened (not yet decoded) Pillow image above ``ICARL_MAX_PIXELS``."""
    width, height = im.size
    if exceeds("ICARL_MAX_PIXELS", width * height):
        what = f"a {width}x{height} image ({width * height} pixels)"
        raise DataError(refusal(where, what, "ICARL_MAX_PIXELS"))


def bomb_refusal(where: str, e: Exception) -> DataError:
    """The refusal for Pillow's ``DecompressionBombError`` (a header far above any limit)."""
    found = re.search(r"\((\d+) pixels\)", str(e))
    what = f"an image of {found.group(1)} pixels" if found else "an image above Pillow's limit"
    return DataError(refusal(where, what, "ICARL_MAX_PIXELS"))


def relative_name(name: str, where: str) -> PurePosixPath:
    """``name`` as a relative path with no ``..``, or :class:`DataError` naming ``where``."""
    path = PurePosixPath(name.replace("\\", "/"))
    if not name or path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise DataError(
            f"{where} names {name!r}, an absolute or empty path; refused (give a path inside the folder)"
        )
    if ".." in path.parts:
        raise DataError(f"{where} names {name!r}, which climbs out of its folder with '..'; refused")
    return path


def refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise DataError(f"{path} is a symbolic link; refused ({LINK_FIX})")


def confined(root: Path, name: str, where: str) -> Path:
    """``root / name`` after checking ``name`` is relative without ``..`` and that no component
    below ``root`` is a symbolic link."""
    rel = relative_name(name, where)
    path = root
    for part in rel.parts:
        path = path / part
        refuse_link(path)
    return path


def read_confined(root: Path, name: str, where: str) -> bytes:
    """The bytes of the regular file ``root / name`` (see :func:`confined`), opened without
    following a link put there after the check."""
    path = confined(root, name, where)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}; check the file") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DataError(f"{path} is not a regular file; refused")
        return f.read()


def regular_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """The files of ``folder`` with one of ``suffixes``, sorted; a link among them is refused."""
    found = []
    for p in folder.iterdir():
        if p.suffix.lower() in suffixes:
            refuse_link(p)
            if p.is_file():
                found.append(p)
    return sorted(found)


def class_folders(root: Path) -> list[str]:
    """The sorted names of the class folders of ``root``; a linked folder is refused."""
    names = []
    for p in root.iterdir():
        if p.is_dir():
            refuse_link(p)
            names.append(p.name)
    check_class_count(len(names), f"{root} (class folders)")
    return sorted(names)


def has_split(root: Path) -> bool:
    """Whether ``root`` holds ``train/`` and ``test/`` folders (neither may be a link)."""
    found = [(root / s).is_dir() for s in ("train", "test")]
    if all(found):
        refuse_link(root / "train")
        refuse_link(root / "test")
    return all(found)
