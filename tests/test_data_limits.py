"""Limits on what input files declare (classes, archive members, decompressed streams, image
pixels, array headers): each refusal is one DataError line naming the file, the limit and the
variable that raises it; the hostile files are built small by the tests (tests/hostile_files.py)."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import hostile_files as hf
import numpy as np
import pytest
import torch
from data_writers import idx_bytes, open_splits, tinyimagenet_files, write_cifar100, write_mnist, write_zip

from icarl.data import DataError, load_dataset
from icarl.data.formats.images import decode_image
from icarl.data.formats.npzfile import read_npz
from icarl.data.formats.packed import encode_jpegs
from icarl.data.user import UserSource
from icarl.deploy.inputs import InputError, read_inputs
from icarl.files.limits import LimitValueError, limit
from icarl.files.safeio import SafeArchive, UnsafeFileError


def one_line(e: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(e.value)
    assert "\n" not in text
    return text


# ------------------------------------------------------------------ classes
def test_npz_with_a_label_of_a_billion_is_refused_before_naming_classes(tmp_path: Path) -> None:
    path = hf.huge_label_npz(tmp_path / "l.npz")
    with pytest.raises(DataError) as e:
        load_dataset("npz", path)
    assert f"{path} (labels up to 1000000000): 1000000001 classes" in one_line(e)
    assert "ICARL_MAX_CLASSES=100000; refused" in str(e.value) and "export ICARL_MAX_CLASSES=N" in str(
        e.value
    )


def test_sparse_labels_are_refused_with_the_renumbering_fix(tmp_path: Path) -> None:
    np.savez(tmp_path / "s.npz", x=np.zeros((8, 4, 4), np.uint8), y=np.array([0, 5000] * 4))
    with pytest.raises(
        DataError, match=r"2 distinct labels run up to 5000, too sparse .* renumber them 0\.\.1"
    ):
        load_dataset("npz", tmp_path / "s.npz")


def test_class_cap_applies_to_every_loader_and_the_variable_raises_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ICARL_MAX_CLASSES", "9")
    with pytest.raises(DataError, match=r"digits: 10 classes, above the limit ICARL_MAX_CLASSES=9"):
        load_dataset("digits")
    monkeypatch.setenv("ICARL_MAX_CLASSES", "10")
    assert load_dataset("digits").num_classes == 10
    monkeypatch.setenv("ICARL_MAX_CLASSES", "lots")
    with pytest.raises(LimitValueError, match="ICARL_MAX_CLASSES is 'lots'; set it to a positive integer"):
        limit("ICARL_MAX_CLASSES")


# ------------------------------------------------------------------ npz headers and members
def test_npz_header_declaring_more_than_its_member_holds_is_refused(tmp_path: Path) -> None:
    path = hf.huge_header_npz(tmp_path / "h.npz")
    with pytest.raises(DataError) as e:
        load_dataset("npz", path)
    assert "'x' declares shape (1000000, 1000000) of uint8 (1000000000000 bytes) but holds 64" in one_line(e)
    with pytest.raises(InputError, match=r"declares shape \(1000000, 1000000\)"):
        read_inputs([str(path)], (1, 4, 4))  # the same file handed to icarl predict


def test_npz_zip_bomb_is_refused_from_the_directory(tmp_path: Path) -> None:
    path = hf.npz_bomb(tmp_path / "b.npz")
    assert path.stat().st_size < 100_000
    with pytest.raises(DataError) as e:
        load_dataset("npz", path)
    assert f"{path} 'x': expands" in one_line(
        e
    ) and "(a zip bomb?), above the limit ICARL_MAX_RATIO=200" in str(e.value)


def test_npz_reader_reads_what_numpy_wrote(tmp_path: Path) -> None:
    arrays = {
        "a": np.arange(12, dtype=">i4").reshape(3, 4),
        "f": np.asfortranarray(np.eye(3)),
        "s": np.array(["ab", "c"]),
    }
    np.savez_compressed(tmp_path / "ok.npz", **arrays)
    got, names = read_npz(tmp_path / "ok.npz")
    assert sorted(names) == ["a", "f", "s"]
    for k, v in arrays.items():
        np.testing.assert_array_equal(got[k], v)
        assert got[k].dtype == v.dtype


# ------------------------------------------------------------------ archives
def test_tinyimagenet_zip_bomb_member_is_refused_before_reading(tmp_path: Path) -> None:
    path = hf.tinyimagenet_bomb(tmp_path / "t.zip")
    with pytest.raises(DataError) as e:
        load_dataset("tinyimagenet", path)
    assert "member 'tiny-imagenet-200/bomb.bin' expands" in one_line(e) and "ICARL_MAX_RATIO" in str(e.value)


def test_tar_gz_bomb_and_member_count_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "b.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("top/zeros.bin")
        info.size = hf.ZEROS_MIB << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    with pytest.raises(
        UnsafeFileError,
        match=r"bytes uncompressed from \d+ \(a decompression bomb\?\), above the limit ICARL_MAX_RATIO",
    ):
        SafeArchive(path)
    monkeypatch.setenv("ICARL_MAX_RATIO", "100000")
    SafeArchive(path).close()  # raised: accepted
    monkeypatch.setenv("ICARL_MAX_MEMBERS", "3")
    zpath = write_zip(tmp_path / "t.zip", tinyimagenet_files(2, 2, 1))
    with pytest.raises(DataError, match=r"t\.zip: \d+ members, above the limit ICARL_MAX_MEMBERS=3"):
        load_dataset("tinyimagenet", zpath)


# ------------------------------------------------------------------ gzip streams
def test_mnist_gz_declaring_gigabytes_is_refused_from_its_header(tmp_path: Path) -> None:
    folder = hf.mnist_bomb(tmp_path / "m")
    with pytest.raises(DataError) as e:
        load_dataset("mnist", folder)
    assert (
        "train-images-idx3-ubyte.gz: a header declaring shape (6000000, 28, 28) (4704000000 bytes)"
        in one_line(e)
    )
    assert "ICARL_MAX_RATIO=200" in str(e.value)


def test_mnist_gz_with_a_long_tail_stops_after_its_declared_size(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    write_mnist(folder)
    head = idx_bytes(np.zeros((20, 28, 28), np.uint8))
    tail = gzip.compress(bytes(16 << 20)) * 4  # 64 MiB of zeros after the data
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(head) + tail)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz has bytes after its data"):
        load_dataset("mnist", folder)


def test_mnist_declared_size_above_the_byte_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_mnist(tmp_path / "m", gz=False)
    monkeypatch.setenv("ICARL_MAX_BYTES", "10000")
    with pytest.raises(
        DataError, match=r"shape \(20, 28, 28\) \(15680 bytes\), above the limit ICARL_MAX_BYTES=10000"
    ):
        load_dataset("mnist", tmp_path / "m")


# ------------------------------------------------------------------ image pixels
def test_144_megapixel_png_is_refused_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(hf.png_header(12_000, 12_000))
    assert path.stat().st_size < 200
    with pytest.raises(DataError) as e:
        decode_image(path)
    assert (
        f"image {path}: a 12000x12000 image (144000000 pixels), above the limit ICARL_MAX_PIXELS"
        in one_line(e)
    )
    root = hf.tinyimagenet_big_png(tmp_path / "tiny")
    with pytest.raises(DataError, match=r"tiny/train/.*\.JPEG: a 12000x12000 image"):
        load_dataset("tinyimagenet", root)


def test_pixel_limit_applies_to_packed_npz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:

    x = torch.zeros((4, 3, 8, 8), dtype=torch.uint8)
    jpeg, off = encode_jpegs(x, 90)
    y = np.arange(4) % 2
    np.savez(
        tmp_path / "p.npz",
        x_train_jpeg=jpeg,
        x_train_offsets=off,
        y_train=y,
        x_test_jpeg=jpeg,
        x_test_offsets=off,
        y_test=y,
    )
    assert load_dataset("npz", tmp_path / "p.npz").num_classes == 2
    monkeypatch.setenv("ICARL_MAX_PIXELS", "63")
    with pytest.raises(
        DataError,
        match=r"p\.npz train image 0: a 8x8 image \(64 pixels\), above the limit ICARL_MAX_PIXELS=63",
    ):
        load_dataset("npz", tmp_path / "p.npz")


def test_idx_header_overflow_is_checked_in_python_integers(tmp_path: Path) -> None:
    """Dimensions whose product overflows 64 bits: refused, not wrapped around."""
    folder = tmp_path / "m"
    write_mnist(folder, gz=False)
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 2**32 - 1)
    (folder / "train-images-idx3-ubyte").write_bytes(header)
    with pytest.raises(DataError, match=r"above the limit ICARL_MAX_BYTES"):
        load_dataset("mnist", folder)


def test_zip_member_claiming_more_compressed_bytes_than_the_file(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "t.zip", tinyimagenet_files(2, 2, 1))
    data = bytearray(path.read_bytes())
    cd = data.rfind(b"PK\x01\x02")  # the last central directory entry: its compressed size at +20
    data[cd + 20 : cd + 24] = struct.pack("<I", 10**9)
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"declares 1000000000 compressed bytes but the file holds \d+"):
        load_dataset("tinyimagenet", path)


def test_a_bad_zip_stays_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", b"not an npy file")
    with pytest.raises(DataError, match=r"has a damaged \.npy header"):
        load_dataset("npz", path)


class _HugeArray:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (np.ndarray, ((10**12,),))  # 8 TB of float64, if allocated


def test_pickle_asking_for_a_huge_array_is_a_clear_error(tmp_path: Path) -> None:

    folder, _ = write_cifar100(tmp_path / "c", as_tar=False)
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": _HugeArray()}, protocol=2))
    with pytest.raises(DataError, match="declares an array larger than the memory available"):
        load_dataset("cifar100", folder)


def test_streamed_packed_npz_whose_jpeg_header_overstates_its_member(tmp_path: Path) -> None:

    jpeg, off = encode_jpegs(torch.zeros((2, 3, 8, 8), dtype=torch.uint8), 90)
    members = {"y_train": np.arange(2), "x_train_offsets": off, "y_test": np.arange(2), "x_test_offsets": off}
    arrays = {k: io.BytesIO() for k in members}
    for k, v in members.items():
        np.save(arrays[k], v)
    raw = {k: b.getvalue() for k, b in arrays.items()}
    raw["x_train_jpeg"] = raw["x_test_jpeg"] = hf.npy_bytes((10**9,), jpeg.tobytes())
    path = hf.write_npz_members(tmp_path / "p.npz", raw)
    with pytest.raises(
        DataError, match=rf"'x_train_jpeg' declares 1000000000 bytes but its member holds {jpeg.size}"
    ):
        open_splits("npz", path)


def test_folder_and_user_dataset_class_counts_are_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Items(torch.utils.data.Dataset):  # type: ignore[type-arg]
        targets = (0, 10**9)

        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
            return torch.zeros((1, 4, 4), dtype=torch.uint8), self.targets[i]

    with pytest.raises(DataError, match=r"Items \(labels up to 1000000000\): 1000000001 classes"):
        UserSource(Items())
    for c in "abc":
        (tmp_path / "f" / c).mkdir(parents=True)
    monkeypatch.setenv("ICARL_MAX_CLASSES", "2")
    with pytest.raises(DataError, match=r"f \(class folders\): 3 classes, above the limit"):
        load_dataset("imagefolder", tmp_path / "f")


def test_streamed_packed_npz_with_a_bomb_header_is_refused(tmp_path: Path) -> None:
    png = np.frombuffer(hf.png_header(30_000, 30_000), np.uint8)
    off = np.array([0, png.size])
    path = tmp_path / "p.npz"
    np.savez(
        path,
        x_train_jpeg=png,
        x_train_offsets=off,
        y_train=[0],
        x_test_jpeg=png,
        x_test_offsets=off,
        y_test=[0],
    )
    with pytest.raises(
        DataError, match=r"image 0 of .*p\.npz train: an image of 900000000 pixels, above the limit"
    ):
        open_splits("npz", path)
