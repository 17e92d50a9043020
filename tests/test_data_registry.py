"""The one registry of data formats (load= and/or open=), the storage choice it drives, and
the dataset fingerprint that runs record (unchanged by the move to image sources)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from data_writers import open_splits

from icarl.config import DataConfig
from icarl.data import DataError, Dataset, ImageSource, TensorSource, load_dataset, open_dataset, register
from icarl.data import registry as formats
from icarl.data.dataset import of_sources
from icarl.data.loading import run_data
from icarl.data.source import SubsetSource
from icarl.files.checkpoint import data_fingerprint


def _open_digits_lazily(path: str | Path | None, image_size: int | None = None, **_: object) -> Dataset:
    """A format that only opens: the digits, read item by item (as files would be)."""
    data = load_dataset("digits")
    train, test = (SubsetSource(s, torch.arange(len(s))) for s in (data.train, data.test))
    for s in (train, test):
        s.class_names, s.name = data.class_names, "lazy-digits"
    return of_sources(train, test)


@pytest.fixture
def lazy_format():
    register("test-lazy-digits", open=_open_digits_lazily)
    yield "test-lazy-digits"
    formats.FORMATS.unregister("test-lazy-digits")


def test_a_format_that_only_opens_also_loads_into_memory(lazy_format: str, digits) -> None:
    loaded = load_dataset(lazy_format, "unused")
    assert isinstance(loaded.train, TensorSource) and torch.equal(loaded.train.x, digits.train.x)
    assert torch.equal(loaded.test.y, digits.test.y) and loaded.class_names == digits.class_names
    opened = open_dataset(lazy_format, "unused")
    assert isinstance(opened.train, SubsetSource) and lazy_format in formats.openable()
    assert formats.descriptions()[lazy_format].startswith("A format that only opens")


def test_storage_follows_what_the_format_can_do(lazy_format: str) -> None:
    lazy, why = run_data(DataConfig(dataset=lazy_format, path="unused", storage="stream"))
    assert isinstance(lazy.train, SubsetSource) and why.startswith("storage: stream (data.storage = 'stream'")
    memory, why = run_data(DataConfig(dataset=lazy_format, path="unused", storage="memory"))
    assert isinstance(memory.train, TensorSource) and memory.fingerprint() != lazy.fingerprint()
    _, why = run_data(DataConfig(dataset="digits", storage="auto"))
    assert why == "storage: memory (this format is always decoded into memory)"


def test_a_plain_npz_is_read_whole_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "plain.npz"
    np.savez(path, x=np.zeros((10, 4, 4), np.uint8), y=np.arange(10) % 2)
    data, why = run_data(DataConfig(dataset="npz", path=str(path), storage="auto", cache="off"))
    assert isinstance(data.train, TensorSource)
    assert (
        why
        == "storage: memory (auto: numpy reads a plain npz whole; pack it (icarl.tools.pack) to stream it)"
    )
    with pytest.raises(DataError, match="is not a JPEG-packed npz"):
        run_data(DataConfig(dataset="npz", path=str(path), storage="stream"))


def test_registering_nothing_and_unknown_names_are_one_line_errors() -> None:
    with pytest.raises(DataError, match="registers neither load= nor open="):
        register("nothing")
    with pytest.raises(DataError, match="unknown dataset 'nope'; choose one of: cifar10, cifar100, digits"):
        load_dataset("nope")
    with pytest.raises(DataError, match="needs --data PATH"):
        open_dataset("imagefolder", None)


def test_fingerprints_are_those_runs_recorded_before_sources(tmp_path: Path, digits) -> None:
    """In memory: every byte (files.checkpoint.data_fingerprint); read from files: the names,
    shape, sizes and labels. Old checkpoints and results.json files keep resuming and rerunning."""
    tensors = (digits.train.x, digits.train.y, digits.test.x, digits.test.y)
    assert digits.fingerprint() == data_fingerprint(*tensors)
    from icarl.tools.export_images import export_pngs

    export_pngs(digits, tmp_path / "png", classes=[0, 1])
    lazy = open_dataset("imagefolder", tmp_path / "png", image_size=8)
    old = hashlib.sha256(f"{lazy.name};{lazy.class_names};{lazy.image_shape};".encode())
    for split in (lazy.train, lazy.test):
        old.update(f"{len(split)};".encode())
        old.update(split.labels.to(torch.int64).contiguous().numpy().tobytes())
    assert lazy.fingerprint() == old.hexdigest()
    train, _ = open_splits("imagefolder", tmp_path / "png", image_size=8)
    assert isinstance(train, ImageSource) and not isinstance(train, TensorSource)
