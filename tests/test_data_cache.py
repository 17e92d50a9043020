"""The decoded-image cache and --download (against a server on 127.0.0.1)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from data_writers import tinyimagenet_files, write_folder, write_mnist, write_zip

from icarl.cli import main
from icarl.data import DataError, load_dataset
from icarl.data.cache import cache_key
from icarl.data.formats import download as dl
from icarl.data.formats import tinyimagenet as tiny


@pytest.fixture()
def decode_counter(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = tiny.decode_image

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(tiny, "decode_image", counting)
    return calls


def test_cache_hit_does_not_decode_again(tmp_path: Path, decode_counter: list[int]) -> None:
    archive = write_zip(tmp_path / "t.zip", tinyimagenet_files())
    cache = tmp_path / "cache"
    first = load_dataset("tinyimagenet", archive, cache=cache, image_size=32)
    assert decode_counter[0] == 18 and len(list(cache.glob("tinyimagenet-*.npz"))) == 1
    second = load_dataset("tinyimagenet", archive, cache=cache, image_size=32)
    assert decode_counter[0] == 18  # nothing decoded
    assert torch.equal(first.train.x, second.train.x) and torch.equal(first.test.y, second.test.y)
    assert second.class_names == first.class_names and second.name == "tinyimagenet"
    load_dataset("tinyimagenet", archive, cache=cache)  # other options: another entry
    assert decode_counter[0] == 36 and len(list(cache.glob("*.npz"))) == 2


def test_cache_is_keyed_by_content_and_safe_to_delete(tmp_path: Path, decode_counter: list[int]) -> None:
    files = tinyimagenet_files()
    archive = write_zip(tmp_path / "t.zip", files)
    cache = tmp_path / "cache"
    load_dataset("tinyimagenet", archive, cache=cache)
    key = cache_key("tinyimagenet", archive, {})
    files["words.txt"] = files["words.txt"].replace(b"thing 0", b"renamed")
    write_zip(archive, files)  # same path, new content: a new key, decoded again
    assert cache_key("tinyimagenet", archive, {}) != key
    d = load_dataset("tinyimagenet", archive, cache=cache)
    assert d.class_names[0] == "renamed" and decode_counter[0] == 36
    for f in cache.iterdir():
        f.unlink()
    load_dataset("tinyimagenet", archive, cache=cache)
    assert decode_counter[0] == 54


def test_corrupt_cache_entry_is_rebuilt(tmp_path: Path, decode_counter: list[int]) -> None:
    archive = write_zip(tmp_path / "t.zip", tinyimagenet_files())
    cache = tmp_path / "cache"
    good = load_dataset("tinyimagenet", archive, cache=cache)
    (entry,) = cache.glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:100])
    with pytest.warns(UserWarning, match="ignoring unreadable cache entry"):
        again = load_dataset("tinyimagenet", archive, cache=cache)
    assert decode_counter[0] == 36 and torch.equal(good.train.x, again.train.x)
    assert load_dataset("tinyimagenet", archive, cache=cache).num_classes == 3  # rewritten, readable
    assert decode_counter[0] == 36 and not list(cache.glob(".*"))  # no temporary files left


def test_folder_key_follows_file_changes(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "tiny", tinyimagenet_files())
    key = cache_key("tinyimagenet", root, {"image_size": 32})
    assert cache_key("tinyimagenet", root, {"image_size": 32}) == key
    assert cache_key("tinyimagenet", root, {"image_size": 16}) != key
    (root / "val" / "images" / "val_0.JPEG").write_bytes(b"changed")
    assert cache_key("tinyimagenet", root, {"image_size": 32}) != key


# ------------------------------------------------------------------ download
@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "served"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _publish_mnist(monkeypatch: pytest.MonkeyPatch, root: Path, wrong: str | None = None) -> None:
    write_mnist(root)
    files = tuple(
        (name, wrong if wrong and "t10k-images" in name else _md5(root / name)) for name in dl._MNIST_FILES
    )
    monkeypatch.setitem(dl.REMOTES, "mnist", dl.Remote("https://unused.invalid/", files, ""))


def test_download_checks_md5_and_moves_into_place(
    tmp_path: Path, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, root = server
    _publish_mnist(monkeypatch, root)
    dest = tmp_path / "mnist"
    assert dl.download("mnist", dest, base_url=url) == dest
    assert sorted(p.name for p in dest.iterdir()) == sorted(dl._MNIST_FILES)
    assert load_dataset("mnist", dest).train.x.shape == (20, 1, 28, 28)
    (root / "train-images-idx3-ubyte.gz").unlink()  # present and valid: not fetched again
    dl.download("mnist", dest, base_url=url)


def test_download_with_wrong_checksum_leaves_nothing(
    tmp_path: Path, server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, root = server
    _publish_mnist(monkeypatch, root, wrong="0" * 32)
    dest = tmp_path / "mnist"
    with pytest.raises(DataError, match=f"but the published checksum is {'0' * 32}"):
        dl.download("mnist", dest, base_url=url)
    assert not (dest / "t10k-images-idx3-ubyte.gz").exists()
    assert not [p for p in dest.iterdir() if p.name.startswith(".")]  # no partial file left
    with pytest.raises(DataError, match=r"cannot download .*missing\.gz"):
        dl.fetch_file(url + "missing.gz", dest / "missing.gz", "0" * 32)


def test_cli_download_flag_uses_the_url_override(
    tmp_path: Path,
    server: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, root = server
    _publish_mnist(monkeypatch, root)
    monkeypatch.setenv("ICARL_DOWNLOAD_URL", url)
    dest = tmp_path / "data"
    argv = ["run", "--dataset", "mnist", "--data", str(dest), "--download", "--dry-run", "--cache", "off"]
    assert main(argv) == 0
    assert "data: mnist, 10 classes, 20 train / 10 test images" in capsys.readouterr().out
    assert (dest / "train-images-idx3-ubyte.gz").is_file()
    assert (
        main(["run", "--dataset", "cifar100", "--download", "--dry-run", "--data", str(tmp_path / "c")]) == 2
    )
    assert "cannot download" in capsys.readouterr().err  # nothing served under that name
