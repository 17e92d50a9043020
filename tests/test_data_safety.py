"""safeio: pickles that would run code, archives that would write outside their folder."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from data_writers import add_tar_bytes, py2_pickle, write_cifar100

from icarl.data import DataError, load_dataset
from icarl.errors import IcarlError
from icarl.files.safeio import SafeArchive, UnsafeFileError, restricted_loads, safe_extract


class RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"data": RunsCode(marker)}, protocol=4)
    with pytest.raises(UnsafeFileError, match=r"asks to load (posix|nt|os)\.system, which could run code"):
        restricted_loads(payload, "evil")
    assert not marker.exists()
    # the same through the CIFAR loader: a clear DataError, nothing run
    folder, _ = write_cifar100(tmp_path / "c", as_tar=False)
    (folder / "meta").write_bytes(payload)
    with pytest.raises(DataError, match="could run code; refused"):
        load_dataset("cifar100", folder)
    assert not marker.exists()


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(np.array([1, "a"], dtype=object), id="object-array"),
        pytest.param(pickle.PickleBuffer, id="builtins-class"),
        pytest.param(eval, id="builtins-eval"),
    ],
)
def test_anything_but_plain_data_and_plain_arrays_is_refused(obj: object) -> None:
    with pytest.raises(UnsafeFileError, match=r"refused|only plain arrays"):
        restricted_loads(pickle.dumps(obj, protocol=2))


def test_plain_data_and_arrays_load() -> None:
    value = {b"k": [1, 2.5, "s", b"b", (None, True)], b"a": np.arange(6, dtype=np.float32).reshape(2, 3)}
    out = restricted_loads(py2_pickle(value))
    assert out[b"k"] == [1, 2.5, b"s", b"b", (None, True)]  # Python 2 str read as bytes
    np.testing.assert_array_equal(out[b"a"], value[b"a"])
    out = restricted_loads(pickle.dumps(value, protocol=4))
    np.testing.assert_array_equal(out[b"a"], value[b"a"])


def test_damaged_pickle_is_not_unsafe_but_unreadable() -> None:
    with pytest.raises(IcarlError, match="not a readable pickle") as e:
        restricted_loads(pickle.dumps([1, 2, 3])[:-3])
    assert not isinstance(e.value, UnsafeFileError)


# ------------------------------------------------------------------ archives
def _tar(path: Path, *members: tarfile.TarInfo | tuple[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tar.addfile(m)
            else:
                add_tar_bytes(tar, *m)
    return path


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (("../escape.txt", b"x"), "climbs out with '..'"),
        (("a/../../escape.txt", b"x"), "climbs out with '..'"),
        (("/tmp/abs.txt", b"x"), "absolute path"),
        (_link("link", "/etc/passwd", tarfile.SYMTYPE), "holds a link 'link'"),
        (_link("hard", "/etc/passwd", tarfile.LNKTYPE), "holds a link 'hard'"),
    ],
)
def test_unsafe_tar_members_are_refused_before_writing(
    tmp_path: Path, member: tarfile.TarInfo | tuple[str, bytes], message: str
) -> None:
    path = _tar(tmp_path / "bad.tar", ("ok.txt", b"fine"), member)
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(UnsafeFileError, match=message):
        safe_extract(path, dest)
    assert list(dest.iterdir()) == []  # nothing written, not even the good member
    assert not (tmp_path / "escape.txt").exists()


def _zip(path: Path, name: str, data: bytes = b"x", mode: int | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ok.txt", b"fine")
        info = zipfile.ZipInfo(name)
        if mode is not None:
            info.external_attr = mode << 16
        z.writestr(info, data)
    return path


@pytest.mark.parametrize(
    ("name", "mode", "message"),
    [
        ("../escape.txt", None, "climbs out"),
        ("/abs/escape.txt", None, "absolute path"),
        ("C:/escape.txt", None, "absolute path"),
        ("link", 0o120777, "symbolic link"),
    ],
)
def test_unsafe_zip_members_are_refused(tmp_path: Path, name: str, mode: int | None, message: str) -> None:
    path = _zip(tmp_path / "bad.zip", name, b"/etc/passwd", mode)
    with pytest.raises(UnsafeFileError, match=message):
        SafeArchive(path)
    dest = tmp_path / "out"
    with pytest.raises(UnsafeFileError, match=message):
        safe_extract(path, dest)
    assert not dest.exists() or list(dest.iterdir()) == []


def test_safe_extract_writes_regular_files_and_bounds_bytes(tmp_path: Path) -> None:
    path = _tar(tmp_path / "good.tar", ("top/a.txt", b"alpha"), ("top/sub/b.bin", b"\0" * 100))
    written = safe_extract(path, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == [
        "top/a.txt",
        "top/sub/b.bin",
    ]
    assert (tmp_path / "out" / "top" / "a.txt").read_bytes() == b"alpha"
    with pytest.raises(UnsafeFileError, match="expands to more than 50 bytes"):
        safe_extract(path, tmp_path / "out2", max_bytes=50)


def test_tinyimagenet_zip_with_traversal_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("tiny/wnids.txt", b"n01\n")
        z.writestr("tiny/../../evil.txt", b"x")
    (tmp_path / "t.zip").write_bytes(buf.getvalue())
    with pytest.raises(DataError, match=r"climbs out with '\.\.'; refused"):
        load_dataset("tinyimagenet", tmp_path / "t.zip")


def test_image_claiming_a_decompression_bomb_is_a_clear_error(tmp_path: Path) -> None:
    """A PNG header that claims 30000x30000 pixels: refused before decoding, one DataError line."""
    import struct
    import zlib

    from PIL import Image

    from icarl.data.formats.images import decode_image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG")
    png = bytearray(buf.getvalue())
    png[16:24] = struct.pack(">II", 30000, 30000)  # IHDR width, height
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))  # keep the chunk's CRC valid
    path = tmp_path / "bomb.png"
    path.write_bytes(bytes(png))
    with pytest.raises(
        DataError, match=r"image .*bomb\.png: an image of 900000000 pixels, above the limit ICARL_MAX_PIXELS"
    ):
        decode_image(path)
