"""Writers of tiny files in the real formats, for the data tests (no network, no real data)."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np


# ------------------------------------------------------------------ CIFAR
class Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes ``bytes`` as Python 2 ``str`` opcodes (SHORT_BINSTRING/BINSTRING), like the
    cPickle that wrote the official CIFAR batches; numpy arrays as ``numpy.core`` globals."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    def save_ascii_str(self, obj: str) -> None:  # Python 2 wrote 'u1', '|' as str too
        self.save_py2_str(obj.encode("ascii"))

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_ascii_str


def py2_pickle(obj: object) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    # numpy >= 2 names its module numpy._core; the 2009 files say numpy.core
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def cifar_batch(n: int, num_classes: int, labels_key: bytes, seed: int) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = [int(i % num_classes) for i in range(n)]
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    batch = {
        b"batch_label": b"training batch 1 of 1",
        labels_key: labels,
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }
    return batch, data


def write_cifar100(
    folder: Path, n_train: int = 12, n_test: int = 6, num_classes: int = 3, as_tar: bool = True
) -> tuple[Path, dict[str, np.ndarray]]:
    """A tiny ``cifar-100-python`` (tar.gz or folder) with the official pickle structure."""
    train, xtr = cifar_batch(n_train, num_classes, b"fine_labels", 0)
    train[b"coarse_labels"] = [0] * n_train
    test, xte = cifar_batch(n_test, num_classes, b"fine_labels", 1)
    test[b"coarse_labels"] = [0] * n_test
    meta = {
        b"fine_label_names": [f"class_{i}".encode() for i in range(num_classes)],
        b"coarse_label_names": [b"all"],
    }
    files = {"train": py2_pickle(train), "test": py2_pickle(test), "meta": py2_pickle(meta)}
    arrays = {"x_train": xtr, "x_test": xte}
    return _write_tree(folder, "cifar-100-python", files, as_tar, "cifar-100-python.tar.gz"), arrays


def write_cifar10(folder: Path, per_batch: int = 4, as_tar: bool = True) -> Path:
    files: dict[str, bytes] = {}
    for i in range(1, 6):
        files[f"data_batch_{i}"] = py2_pickle(cifar_batch(per_batch, 10, b"labels", i)[0])
    files["test_batch"] = py2_pickle(cifar_batch(per_batch, 10, b"labels", 9)[0])
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer"]
    names += [b"dog", b"frog", b"horse", b"ship", b"truck"]
    files["batches.meta"] = py2_pickle({b"label_names": names, b"num_vis": 3072})
    return _write_tree(folder, "cifar-10-batches-py", files, as_tar, "cifar-10-python.tar.gz")


def _write_tree(folder: Path, top: str, files: dict[str, bytes], as_tar: bool, archive: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not as_tar:
        (folder / top).mkdir(exist_ok=True)
        for name, data in files.items():
            (folder / top / name).write_bytes(data)
        return folder / top
    path = folder / archive
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            add_tar_bytes(tar, f"{top}/{name}", data)
    return path


def add_tar_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


# ------------------------------------------------------------------ IDX
def idx_bytes(arr: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08}[arr.dtype]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


def write_mnist(folder: Path, n_train: int = 20, n_test: int = 10, gz: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        data = idx_bytes(arr)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


# ------------------------------------------------------------------ Tiny-ImageNet
COLOURS = [(220, 30, 30), (30, 200, 40), (40, 50, 210), (200, 200, 30)]


def jpeg(colour: tuple[int, int, int], size: int = 64, grey: bool = False) -> bytes:
    from PIL import Image

    im = Image.new("RGB", (size, size), colour)
    if grey:
        im = im.convert("L")
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def tinyimagenet_files(n_classes: int = 3, per_class: int = 4, val_per_class: int = 2) -> dict[str, bytes]:
    """The official layout: wnids.txt, words.txt, train/<wnid>/images, val/ with annotations.
    Class ``i`` is a solid colour ``COLOURS[i]``; the first train image of class 0 is greyscale."""
    wnids = [f"n0{1000 + 7 * i}" for i in range(n_classes)]
    files: dict[str, bytes] = {}
    files["wnids.txt"] = "".join(f"{w}\n" for w in wnids).encode()
    words = "".join(f"{w}\tthing {i}, other name\n" for i, w in enumerate(wnids))
    files["words.txt"] = (words + "n09999999\tunused class\n").encode()
    for i, w in enumerate(wnids):
        files[f"train/{w}/{w}_boxes.txt"] = b"".join(
            f"{w}_{k}.JPEG\t0\t0\t63\t63\n".encode() for k in range(per_class)
        )
        for k in range(per_class):
            files[f"train/{w}/images/{w}_{k}.JPEG"] = jpeg(COLOURS[i], grey=(i == 0 and k == 0))
    lines = []
    k = 0
    for _ in range(val_per_class):
        for i in reversed(range(n_classes)):  # val order differs from class order
            files[f"val/images/val_{k}.JPEG"] = jpeg(COLOURS[i])
            lines.append(f"val_{k}.JPEG\t{wnids[i]}\t0\t0\t63\t63\n")
            k += 1
    files["val/val_annotations.txt"] = "".join(lines).encode()
    return files


def write_zip(path: Path, files: dict[str, bytes], top: str = "tiny-imagenet-200") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(f"{top}/{name}" if top else name, data)
    return path


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


# ------------------------------------------------------------------ reading back
def open_splits(name: str, path: Path, **options: object) -> tuple:
    """The (train, test) sources of ``icarl.data.open_dataset`` (read from the files in batches)."""
    from icarl.data import open_dataset

    data = open_dataset(name, path, **options)
    return data.train, data.test
