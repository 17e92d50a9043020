"""Loaders on tiny files written here in each real format, including damaged ones."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from data_writers import (
    COLOURS,
    idx_bytes,
    py2_pickle,
    tinyimagenet_files,
    write_cifar10,
    write_cifar100,
    write_folder,
    write_mnist,
    write_zip,
)

from icarl.data import DataError, load_dataset
from icarl.data.formats.cifar import CIFAR100

# ------------------------------------------------------------------ CIFAR


def test_cifar100_archive_matches_the_pickled_arrays(tmp_path: Path) -> None:
    path, arrays = write_cifar100(tmp_path)
    d = load_dataset("cifar100", path, verify=False)
    assert d.class_names == ("class_0", "class_1", "class_2")
    assert d.train.x.shape == (12, 3, 32, 32) and d.test.x.shape == (6, 3, 32, 32)
    # row-major 3072 = 3 planes of 32x32 (R, then G, then B)
    assert torch.equal(d.train.x[5].reshape(-1), torch.from_numpy(arrays["x_train"][5]))
    assert d.train.y.tolist() == [i % 3 for i in range(12)]


def test_cifar100_folder_equals_archive(tmp_path: Path) -> None:
    arch, _ = write_cifar100(tmp_path / "a")
    folder, _ = write_cifar100(tmp_path / "f", as_tar=False)
    a = load_dataset("cifar100", arch, verify=False)
    f = load_dataset("cifar100", folder.parent)  # the parent of cifar-100-python works too
    assert torch.equal(a.train.x, f.train.x) and torch.equal(a.test.y, f.test.y)


def test_cifar10_reads_five_batches_and_names(tmp_path: Path) -> None:
    d = load_dataset("cifar10", write_cifar10(tmp_path), verify=False)
    assert len(d.train) == 20 and len(d.test) == 4
    assert d.class_names[0] == "airplane" and d.num_classes == 10


def test_cifar_archive_checksum_is_verified(tmp_path: Path) -> None:
    path, _ = write_cifar100(tmp_path)
    with pytest.raises(DataError, match=f"published cifar-100-python.tar.gz has {CIFAR100.md5}"):
        load_dataset("cifar100", path)


def test_cifar_truncated_archive_is_a_clear_error(tmp_path: Path) -> None:
    path, _ = write_cifar100(tmp_path, n_train=300)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="damaged or truncated, download it again"):
        load_dataset("cifar100", path, verify=False)


def test_cifar_corrupt_pickle_is_a_clear_error(tmp_path: Path) -> None:
    folder, _ = write_cifar100(tmp_path, as_tar=False)
    (folder / "test").write_bytes(b"\x80\x02}q\x00(U\x04data")  # cut inside the pickle
    with pytest.raises(DataError, match="cifar100 test is not a readable pickle"):
        load_dataset("cifar100", folder)


def test_cifar_wrong_shape_is_a_clear_error(tmp_path: Path) -> None:
    folder, _ = write_cifar100(tmp_path, as_tar=False)
    bad = {b"data": np.zeros((4, 100), np.uint8), b"fine_labels": [0, 1, 2, 0]}
    (folder / "train").write_bytes(py2_pickle(bad))
    with pytest.raises(DataError, match="expected uint8 rows of 3072 pixels"):
        load_dataset("cifar100", folder)


def test_cifar_needs_a_path() -> None:
    with pytest.raises(DataError, match="needs --data PATH"):
        load_dataset("cifar100")


# ------------------------------------------------------------------ MNIST


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_files_gzipped_or_not(tmp_path: Path, gz: bool) -> None:
    arrays = write_mnist(tmp_path, gz=gz)
    d = load_dataset("mnist", tmp_path)
    assert d.train.x.shape == (20, 1, 28, 28) and d.test.x.shape == (10, 1, 28, 28)
    assert torch.equal(d.train.x[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert d.test.y.tolist() == [i % 10 for i in range(10)]


def test_fashion_mnist_names_and_resize(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    d = load_dataset("fashion-mnist", tmp_path, image_size=32)
    assert d.class_names[9] == "Ankle boot" and d.image_shape == (1, 32, 32)


def test_mnist_truncated_idx_names_the_byte_counts(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=False)
    f = tmp_path / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-100])
    msg = r"is truncated: its header promises 15680 bytes of data for shape \(20, 28, 28\), found 15580"
    with pytest.raises(DataError, match=msg):
        load_dataset("mnist", tmp_path)


def test_mnist_truncated_gzip_and_bad_magic(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    f = tmp_path / "t10k-labels-idx1-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-12])
    with pytest.raises(DataError, match="the file is damaged or truncated"):
        load_dataset("mnist", tmp_path)
    f.write_bytes(gzip.compress(b"\x12\x34" + idx_bytes(np.zeros(10, np.uint8))[2:]))
    with pytest.raises(DataError, match="is not an IDX file"):
        load_dataset("mnist", tmp_path)


def test_mnist_missing_file(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"has no t10k-images-idx3-ubyte\[.gz\]"):
        load_dataset("mnist", tmp_path)


# ------------------------------------------------------------------ Tiny-ImageNet


def _check_tiny(d: object, size: int) -> None:
    assert d.class_names == ("thing 0", "thing 1", "thing 2")  # type: ignore[attr-defined]
    train, test = d.train, d.test  # type: ignore[attr-defined]
    assert train.x.shape == (12, 3, size, size) and test.x.shape == (6, 3, size, size)
    assert train.y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert test.y.tolist() == [2, 1, 0, 2, 1, 0]  # val_annotations order
    for split in (train, test):
        for img, label in zip(split.x[1:], split.y[1:], strict=True):  # [0] of train is grey
            mean = img.float().mean((1, 2))
            assert torch.allclose(mean, torch.tensor(COLOURS[int(label)], dtype=torch.float), atol=6)


def test_tinyimagenet_zip_labels_names_and_colours(tmp_path: Path) -> None:
    d = load_dataset("tinyimagenet", write_zip(tmp_path / "t.zip", tinyimagenet_files()), workers=1)
    _check_tiny(d, 64)
    grey = d.train.x[0].float()
    assert torch.allclose(grey[0], grey[1]) and torch.allclose(grey[1], grey[2])  # L -> RGB


def test_tinyimagenet_folder_and_image_size(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "tiny-imagenet-200", tinyimagenet_files())
    _check_tiny(load_dataset("tinyimagenet", tmp_path, image_size=32), 32)
    _check_tiny(load_dataset("tinyimagenet", root, image_size=32, workers=1), 32)


def test_tinyimagenet_val_with_unknown_class(tmp_path: Path) -> None:
    files = tinyimagenet_files()
    files["val/val_annotations.txt"] += b"val_99.JPEG\tn07777777\t0\t0\t1\t1\n"
    with pytest.raises(DataError, match=r"line 7 names class 'n07777777', which is not in wnids\.txt"):
        load_dataset("tinyimagenet", write_zip(tmp_path / "t.zip", files))


def test_tinyimagenet_corrupt_jpeg_and_missing_val(tmp_path: Path) -> None:
    files = tinyimagenet_files()
    name = next(n for n in files if n.endswith("_2.JPEG"))
    files[name] = files[name][:40]
    with pytest.raises(DataError, match="cannot decode image"):
        load_dataset("tinyimagenet", write_zip(tmp_path / "a.zip", files), workers=1)
    files = tinyimagenet_files()
    del files["val/val_annotations.txt"]
    with pytest.raises(DataError, match=r"has no val/val_annotations\.txt"):
        load_dataset("tinyimagenet", write_zip(tmp_path / "b.zip", files))


def test_tinyimagenet_truncated_zip(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "t.zip", tinyimagenet_files())
    path.write_bytes(path.read_bytes()[:-300])  # cuts the central directory
    with pytest.raises(DataError, match=r"neither a readable zip nor tar archive|damaged or truncated"):
        load_dataset("tinyimagenet", path)


@pytest.mark.slow
def test_tinyimagenet_100a_real_archive() -> None:
    path = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tiny-imagenet-100a.zip"
    if not path.exists():
        path = Path("/work/shared/data/tiny-imagenet-100a.zip")
    d = load_dataset("tinyimagenet", path, image_size=32)
    assert d.num_classes == 100 and len(d.train) == 50_000 and len(d.test) == 5_000
    assert d.class_names[:2] == ("Egyptian cat", "reel")
    assert d.train.y.bincount().tolist() == [500] * 100 and d.test.y.bincount().tolist() == [50] * 100


# ------------------------------------------------------------------ NPZ


def test_npz_nhwc_and_nchw_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    y = np.arange(10) % 2
    np.savez(tmp_path / "a.npz", x=x, y=y, x_test=x[:4], y_test=y[:4], class_names=np.array(["a", "b"]))
    np.savez(
        tmp_path / "b.npz", x=x.transpose(0, 3, 1, 2), y=y, x_test=x[:4].transpose(0, 3, 1, 2), y_test=y[:4]
    )
    a, b = load_dataset("npz", tmp_path / "a.npz"), load_dataset("npz", tmp_path / "b.npz")
    assert a.image_shape == (3, 8, 8) and torch.equal(a.train.x, b.train.x)
    assert torch.equal(a.train.x[3], torch.from_numpy(x[3].transpose(2, 0, 1).copy()))
    assert a.class_names == ("a", "b") and b.class_names == ("0", "1")


def test_npz_seeded_split_is_per_class_and_repeatable(tmp_path: Path) -> None:
    x = np.arange(50 * 36, dtype=np.int64).reshape(50, 6, 6) % 256  # ints in range are accepted
    y = np.repeat([0, 1], 25)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    a = load_dataset("npz", tmp_path / "d.npz", split_seed=3)
    b = load_dataset("npz", tmp_path / "d.npz", split_seed=3)
    c = load_dataset("npz", tmp_path / "d.npz", split_seed=4)
    assert a.image_shape == (1, 6, 6) and a.test.y.bincount().tolist() == [5, 5]
    assert torch.equal(a.test.x, b.test.x) and not torch.equal(a.test.x, c.test.x)


def test_npz_bad_contents(tmp_path: Path) -> None:
    np.savez(tmp_path / "f.npz", x=np.zeros((4, 8, 8), np.float32), y=np.zeros(4, int))
    with pytest.raises(DataError, match="has dtype float32; save uint8 pixels"):
        load_dataset("npz", tmp_path / "f.npz")
    np.savez(tmp_path / "o.npz", x=np.array([object()] * 4, dtype=object), y=np.zeros(4, int))
    with pytest.raises(DataError, match="cannot read without pickle"):
        load_dataset("npz", tmp_path / "o.npz")
    np.savez(tmp_path / "n.npz", x=np.zeros((4, 8, 8), np.uint8), y=np.zeros(3, int))
    with pytest.raises(DataError, match="4 images in x but 3 labels"):
        load_dataset("npz", tmp_path / "n.npz")
    (tmp_path / "t.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DataError, match=r"is it a \.npz file"):
        load_dataset("npz", tmp_path / "t.npz")
