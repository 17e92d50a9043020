"""``--download``: fetch the published files of CIFAR and the MNIST family.

Each file is streamed to a temporary file next to its destination, its md5 is
checked against the published checksum, and only then is it renamed into place;
a wrong checksum leaves nothing behind. Files already present with the right
checksum are not fetched again. ``$ICARL_DOWNLOAD_URL`` (or ``base_url``)
replaces the official address, for mirrors and for tests.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ...errors import DataError
from .files import file_digest


@dataclass(frozen=True)
class Remote:
    base_url: str
    files: tuple[tuple[str, str], ...]  # (file name, published md5)
    target: str  # what the loader is given: "" = the folder, else this file in it


_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
REMOTES: dict[str, Remote] = {
    "cifar10": Remote(
        "https://www.cs.toronto.edu/~kriz/",
        (("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
        "cifar-10-python.tar.gz",
    ),
    "cifar100": Remote(
        "https://www.cs.toronto.edu/~kriz/",
        (("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),),
        "cifar-100-python.tar.gz",
    ),
    "mnist": Remote(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        tuple(
            zip(
                _MNIST_FILES,
                (
                    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                    "d53e105ee54ea40749a09fcbcd1e9432",
                    "9fb629c4189551a2d022fa330f9573f3",
                    "ec29112dd5afa0611ce80d1b7f02629c",
                ),
                strict=True,
            )
        ),
        "",
    ),
    "fashion-mnist": Remote(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        tuple(
            zip(
                _MNIST_FILES,
                (
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    "25c81989df183df01b3e8a0aad5dffbe",
                    "bef4ecab320f06d8554ea6380940ec79",
                    "bb300cfdad3c16e7a12a480ee83cd310",
                ),
                strict=True,
            )
        ),
        "",
    ),
}


def fetch_file(url: str, dest: Path, md5: str, timeout: float = 60.0) -> Path:
    """Stream ``url`` to a temporary file beside ``dest``, check ``md5``, rename atomically."""
    if dest.is_file() and file_digest(dest, "md5") == md5:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.md5()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != md5:
            raise DataError(
                f"{url} has md5 {h.hexdigest()} but the published checksum is {md5}; the download is "
                "damaged or the mirror serves another file, try again or another mirror"
            )
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError) as e:
        raise DataError(f"cannot download {url} ({e}); check the network or set ICARL_DOWNLOAD_URL") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def download(name: str, folder: str | Path, base_url: str | None = None) -> Path:
    """Fetch dataset ``name`` into ``folder``; return the path to give its loader."""
    if name not in REMOTES:
        raise DataError(f"--download supports {', '.join(sorted(REMOTES))}, not {name!r}; pass --data PATH")
    remote = REMOTES[name]
    base = base_url or os.environ.get("ICARL_DOWNLOAD_URL") or remote.base_url
    if not base.endswith("/"):
        base += "/"
    root = Path(folder)
    for filename, md5 in remote.files:
        fetch_file(base + filename, root / filename, md5)
    return root / remote.target if remote.target else root
