"""The streaming path: sources listed without decoding give exactly the in-memory loaders'
images, only the requested items are decoded, each rank reads its slice, and a streamed
run gives the in-memory run's results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from data_writers import open_splits, tinyimagenet_files, write_folder, write_zip
from test_pack import toy

import icarl
from icarl import ICaRL, load_dataset
from icarl.cli import main
from icarl.data import DataError
from icarl.data.formats import images as images_module
from icarl.data.loading import choose_storage
from icarl.data.reading import rank_slices
from icarl.data.source import load_batches
from icarl.data.user import UserSource
from icarl.tools.export_images import export_pngs
from icarl.tools.pack import pack_arrays


def decode_all(source) -> tuple[torch.Tensor, torch.Tensor]:
    batches = list(torch.arange(len(source)).split(5))
    parts = list(load_batches(source, batches))
    return torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])


def assert_same(stream, memory) -> None:
    for src, split in zip(stream, (memory.train, memory.test), strict=True):
        x, y = decode_all(src)
        assert torch.equal(x, split.x) and torch.equal(y, split.y) and torch.equal(src.labels, split.y)
        assert src.class_names == memory.class_names and src.image_shape == memory.image_shape


@pytest.mark.parametrize("layout", ["zip", "folder"])
def test_tinyimagenet_stream_equals_the_in_memory_loader(tmp_path: Path, layout: str) -> None:
    files = tinyimagenet_files(n_classes=3, per_class=4)
    if layout == "zip":
        path = write_zip(tmp_path / "tin.zip", files)
    else:
        path = write_folder(tmp_path / "tin" / "tiny-imagenet-200", files)
    memory = load_dataset("tinyimagenet", path, image_size=16)
    assert_same(open_splits("tinyimagenet", path, image_size=16), memory)


@pytest.mark.parametrize("split", [True, False])
def test_imagefolder_stream_equals_the_in_memory_loader(tmp_path: Path, digits, split: bool) -> None:
    export_pngs(digits, tmp_path / "png", classes=[0, 1, 2], splits=["train", "test"] if split else ["train"])
    root = tmp_path / "png" if split else tmp_path / "png" / "train"
    memory = load_dataset("imagefolder", root, channels=3)
    assert_same(open_splits("imagefolder", root), memory)


def test_packed_npz_stream_equals_the_in_memory_loader_and_is_memory_mapped(tmp_path: Path) -> None:
    path = tmp_path / "p.npz"
    np.savez(path, **pack_arrays(toy(), 90))
    stream = open_splits("npz", path)
    assert isinstance(stream[0].data, np.memmap)  # the JPEG bytes are not read into memory
    assert_same(stream, load_dataset("npz", path))


def test_only_the_requested_items_are_decoded(tmp_path: Path, monkeypatch) -> None:
    path = write_zip(tmp_path / "tin.zip", tinyimagenet_files(n_classes=3, per_class=4))
    train, _ = open_splits("tinyimagenet", path)
    calls: list[int] = []
    real = images_module.FileSource._decode
    monkeypatch.setattr(images_module.FileSource, "_decode", lambda self, i: calls.append(i) or real(self, i))
    got = list(load_batches(train, [torch.tensor([7, 2]), torch.tensor([5])]))
    assert calls == [7, 2, 5] and [y.tolist() for _, y in got] == [[1, 0], [1]]


def test_rank_slices_concatenate_to_the_global_batches() -> None:
    batches = [torch.arange(0, 7), torch.arange(7, 12), torch.arange(12, 13)]
    for world in (1, 2, 3):
        per_rank = [list(rank_slices(batches, r, world)) for r in range(world)]
        for b, glob in enumerate(batches):
            assert torch.equal(torch.cat([per_rank[r][b] for r in range(world)]), glob)


def test_decoding_workers_give_the_same_batches(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "tin.zip", tinyimagenet_files(n_classes=3, per_class=4))
    train, _ = open_splits("tinyimagenet", path, image_size=8)
    batches = [torch.tensor([3, 1, 0]), torch.tensor([11, 4])]
    one = list(load_batches(train, batches))
    two = list(load_batches(train, batches, workers=2))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(one, two, strict=True))


def test_mixed_sizes_without_image_size_is_a_one_line_error(tmp_path: Path) -> None:
    from PIL import Image

    for i, size in enumerate((8, 8, 12)):
        (tmp_path / "a").mkdir(exist_ok=True)
        Image.new("RGB", (size, size), (i * 40, 0, 0)).save(tmp_path / "a" / f"{i}.png")
    (tmp_path / "b").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "b" / "0.png")
    train, _ = open_splits("imagefolder", tmp_path, test_fraction=0.0)
    with pytest.raises(
        DataError, match=r"a/2.png is \(3, 12, 12\) but the others are \(3, 8, 8\); pass image_size"
    ):
        decode_all(train)


class HWCFloats(torch.utils.data.Dataset):
    """A user's dataset: float HWC numpy images in [0, 1], integer labels, no targets."""

    def __init__(self, digits, classes) -> None:
        keep = torch.isin(digits.train.y, torch.tensor(classes))
        self.x = digits.train.x[keep].permute(0, 2, 3, 1).numpy().astype(np.float32) / 255.0
        self.y = digits.train.y[keep].tolist()

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


def test_a_user_dataset_trains_like_the_same_tensors(digits) -> None:
    opts = {"backbone": "mlp", "memory_size": 40, "epochs": 2, "device": "cpu", "progress": False}
    opts |= {"workers": 0, "flip": False, "crop_pad": 1, "amp": "off"}
    streamed = ICaRL(**opts).partial_fit(HWCFloats(digits, [0, 1])).partial_fit(HWCFloats(digits, [2, 3]))
    memory = ICaRL(**opts)
    for classes in ([0, 1], [2, 3]):
        keep = torch.isin(digits.train.y, torch.tensor(classes))
        memory.partial_fit(digits.train.x[keep], digits.train.y[keep])
    assert streamed.memory_.counts() == memory.memory_.counts()
    for k, v in memory.net_.state_dict().items():
        torch.testing.assert_close(streamed.net_.state_dict()[k], v, rtol=1e-5, atol=1e-6)
    test = UserSource(HWCFloats(digits, [0, 1, 2, 3]))
    assert streamed.score(test) == memory.score(test)


def test_user_dataset_errors_are_one_line(digits) -> None:
    class Bad(torch.utils.data.Dataset):
        def __init__(self, image) -> None:
            self.image = image

        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int):
            return self.image, i

    with pytest.raises(DataError, match="item 0 of Bad has values outside"):
        UserSource(Bad(np.full((8, 8, 3), 2.0, np.float32)))
    with pytest.raises(DataError, match=r"the channel axis could be 0 or 2"):
        UserSource(Bad(np.zeros((3, 8, 3), np.uint8)))


def test_joint_training_keeps_a_user_dataset_in_memory_like_the_same_tensors(digits) -> None:
    """Joint training holds every image it saw, decoded, whatever the source: a user's dataset
    read in batches gives the learner of the same tensors (same weights, same kept images)."""
    opts = {"backbone": "mlp", "epochs": 1, "device": "cpu", "progress": False, "workers": 0}
    cfg = icarl.LearnerConfig(**opts, flip=False, crop_pad=1, memory_size=0, classifier="cnn")
    streamed, memory = icarl.methods.create("joint", cfg), icarl.methods.create("joint", cfg)
    for classes in ([0, 1], [2, 3]):
        streamed.partial_fit(HWCFloats(digits, classes))
        keep = torch.isin(digits.train.y, torch.tensor(classes))
        memory.partial_fit(digits.train.x[keep], digits.train.y[keep])
    assert torch.equal(streamed.seen_.x, memory.seen_.x) and torch.equal(streamed.seen_.y, memory.seen_.y)
    for k, v in memory.net_.state_dict().items():
        torch.testing.assert_close(streamed.net_.state_dict()[k], v, rtol=1e-5, atol=1e-6)


def test_storage_choice_says_why() -> None:
    assert choose_storage("auto", 3 * 2**30, 2 * 2**30)[0] == "stream"
    storage, why = choose_storage("auto", 2**30, 2 * 2**30)
    assert storage == "memory" and "1.00 GiB decoded, budget 2.00 GiB" in why
    with pytest.raises(DataError, match="choose one of memory, stream, auto"):
        choose_storage("disk", 1, 1)


def test_a_streamed_run_gives_the_in_memory_results(tmp_path: Path, digits, capsys) -> None:
    export_pngs(digits, tmp_path / "png", classes=[0, 1, 2, 3])
    base = ["run", "--dataset", "imagefolder", "--data", str(tmp_path / "png"), "--image-size", "8"]
    base += ["--epochs", "2", "--quiet", "--classes-per-step", "2", "--cache", "off"]
    results = {}
    for storage in ("memory", "stream"):
        out = tmp_path / storage
        assert main([*base, "--out", str(out), f"data.storage={storage}", "learner.workers=0"]) == 0
        results[storage] = json.loads((out / "results.json").read_text())
    assert "storage: stream (data.storage = 'stream'" in capsys.readouterr().out
    acc = {k: [s["accuracy"] for s in r["steps"]] for k, r in results.items()}
    assert acc["stream"] == acc["memory"]
    assert main([*base, "--dry-run", "data.storage=stream"]) == 0
    assert "each rank holds about" in capsys.readouterr().out
    assert main(["run", "--dry-run", "data.storage=stream"]) == 2  # digits: embedded, in memory only
    assert "data.storage = 'stream' reads imagefolder, npz, tinyimagenet" in capsys.readouterr().err


def test_imagenet_full_paper_dry_run_streams_and_states_each_ranks_memory(tmp_path: Path, capsys) -> None:
    """The 1,000-class protocol on a stand-in ImageNet folder (one tiny image per class and split)."""
    from PIL import Image

    for split in ("train", "test"):
        for c in range(1000):
            folder = tmp_path / split / f"n{c:08d}"
            folder.mkdir(parents=True)
            Image.new("RGB", (4, 4), (c % 256, 0, 0)).save(folder / "0.png")
    assert main(["run", "--config", "imagenet-full-paper", "--data", str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "storage: stream (data.storage = 'stream'" in out
    assert "each rank holds about" in out and "K = 20000 exemplars (2.80 GiB)" in out
    assert "stream: 10 steps, classes per step [100, 100, 100" in out
