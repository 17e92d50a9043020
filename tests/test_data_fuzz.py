"""Damaged JPEG-packed .npz files: 160 deterministic mutants of one good file (bytes of the
zip flipped or cut, and the arrays inside changed: offsets, JPEG bytes, labels, names, dtypes,
shapes), each read in memory and streamed (every item decoded). Each must load or end in one
DataError (an IcarlError, the CLI's one line), never another exception: the issue counted 43
tracebacks in 150 such files."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from data_writers import open_splits
from test_pack import toy

from icarl import load_dataset
from icarl.data.source import load_batches
from icarl.errors import IcarlError
from icarl.tools.pack import pack_arrays

Arrays = dict[str, np.ndarray]


def _array_mutations(rng: np.random.Generator, good: Arrays) -> list[Callable[[Arrays], None]]:
    def flip_jpeg(a: Arrays) -> None:
        j = a["x_train_jpeg"].copy()
        idx = rng.integers(0, len(j), size=int(rng.integers(1, 40)))
        j[idx] = rng.integers(0, 256, size=len(idx), dtype=np.uint8)
        a["x_train_jpeg"] = j

    def offsets(a: Arrays) -> None:
        o = a["x_test_offsets"].astype(np.int64)
        o[int(rng.integers(0, len(o)))] = int(rng.integers(-(2**40), 2**40))
        a["x_test_offsets"] = o

    def labels(a: Arrays) -> None:
        y = a["y_train"].astype(np.int64)
        y[int(rng.integers(0, len(y)))] = int(rng.choice([-1, 3, 255, 2**31]))
        a["y_train"] = y

    return [
        flip_jpeg,
        offsets,
        labels,
        lambda a: a.update(y_test=a["y_test"].astype(np.float32) + 0.5),
        lambda a: a.update(y_train=a["y_train"][:-1]),
        lambda a: a.update(x_train_offsets=a["x_train_offsets"][::-1].copy()),
        lambda a: a.update(x_test_jpeg=a["x_test_jpeg"][: len(a["x_test_jpeg"]) // 2]),
        lambda a: a.update(x_train_jpeg=a["x_train_jpeg"].astype(np.int16)),
        lambda a: a.update(x_train_offsets=a["x_train_offsets"].astype(np.float64)),
        lambda a: a.update(class_names=np.array([], dtype=str)),
        lambda a: a.update(class_names=np.array(["a"] * 3, dtype=str)),
        lambda a: a.update(y_test=a["y_test"].reshape(-1, 1)),
        lambda a: a.update(x_test_jpeg=a["x_test_jpeg"].reshape(1, -1)),
        lambda a: a.pop("x_test_offsets"),
        lambda a: a.update(x_train=np.zeros((2, 2), dtype=np.uint8)),
        lambda a: a.update(x_test_offsets=np.zeros(0, dtype=np.int64)),
    ]


def mutants(good: Arrays, raw: bytes, n: int = 160) -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(22)
    out: list[tuple[str, bytes]] = []
    while len(out) < n:
        kind = len(out) % 4
        if kind == 0:  # bytes of the zip flipped
            b = bytearray(raw)
            for i in rng.integers(0, len(b), size=int(rng.integers(1, 16))):
                b[int(i)] = int(rng.integers(0, 256))
            out.append((f"flip-{len(out)}", bytes(b)))
        elif kind == 1:  # the zip cut short
            out.append((f"cut-{len(out)}", raw[: int(rng.integers(0, len(raw)))]))
        else:  # an array inside changed (one or two changes), written as a valid zip
            a = {k: v.copy() for k, v in good.items()}
            changes = _array_mutations(rng, good)
            for j in rng.choice(len(changes), size=int(rng.integers(1, 3)), replace=False):
                changes[int(j)](a)
            buf = io.BytesIO()
            np.savez(buf, **a)
            out.append((f"arrays-{len(out)}", buf.getvalue()))
    return out


def read_all(path: Path) -> None:
    """The file in memory, then streamed with every item decoded."""
    load_dataset("npz", path)
    for src in open_splits("npz", path):
        for _ in load_batches(src, list(torch.arange(len(src)).split(7))):
            pass


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("fuzz")
    good = pack_arrays(toy(size=8, n_train=12, n_test=6), 90)
    buf = io.BytesIO()
    np.savez(buf, **good)
    assert zipfile.is_zipfile(io.BytesIO(buf.getvalue()))
    paths = []
    for name, data in mutants(good, buf.getvalue()):
        p = root / f"{name}.npz"
        p.write_bytes(data)
        paths.append(p)
    return paths


def test_every_damaged_packed_npz_loads_or_is_one_data_error(files: list[Path]) -> None:
    assert len(files) >= 150
    tracebacks, refused = [], 0
    for path in files:
        try:
            read_all(path)
        except IcarlError:
            refused += 1
        except Exception as e:  # the point: nothing else may come out
            tracebacks.append(f"{path.name}: {type(e).__name__}: {e}")
    assert not tracebacks, f"{len(tracebacks)} of {len(files)} raised: " + "; ".join(tracebacks[:8])
    assert refused > len(files) // 2  # most mutants are damaged beyond reading
