"""The streaming source layer on its own: image sources against the in-memory loaders, views,
reading only what is asked (also through worker processes), rank slices, the running pixel
mean, a user's dataset, the storage choice and the one-line errors."""

from __future__ import annotations

import itertools
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from data_writers import open_splits, tinyimagenet_files, write_zip
from PIL import Image
from test_pack import toy

from icarl.data import DataError, Dataset, Split, load_dataset, reading
from icarl.data.formats import images as images_module
from icarl.data.formats import packed as packed_module
from icarl.data.formats.images import FileSource
from icarl.data.formats.packed import PackedSource
from icarl.data.loading import choose_storage, memory_budget_default
from icarl.data.reading import pixel_mean, rank_slices
from icarl.data.source import ConcatSource, ImageSource, TensorSource, concat, load_batches
from icarl.data.user import UserSource
from icarl.distributed import shard_bounds
from icarl.tools.pack import pack_arrays


def decode_all(source, workers: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    parts = list(load_batches(source, torch.arange(len(source)).split(4), workers=workers))
    return torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])


def one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text
    return text


def png_folder(root: Path, per_class: dict[str, int], size: int = 10) -> Path:
    g = np.random.default_rng(0)
    for name, n in per_class.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = g.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:02d}.png")
    return root


def packed(path: Path, data: Dataset | None = None, compressed: bool = False, names: bool = True) -> Path:
    arrays = pack_arrays(data or toy(), 90)
    if not names:
        del arrays["class_names"]
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


# ------------------------------------------------------------------ equal to the in-memory loaders
def test_packed_npz_resized_and_unnamed_equals_the_in_memory_loader(tmp_path: Path) -> None:
    """image_size resizes as the npz loader does; without class_names both splits' labels name them."""
    data = toy()
    test = Split(data.test.x[data.test.y < 2], data.test.y[data.test.y < 2])  # test lacks class 2
    path = packed(tmp_path / "p.npz", Dataset("toy", data.train, test, data.class_names), names=False)
    memory = load_dataset("npz", path, image_size=8)
    stream = open_splits("npz", path, image_size=8)
    for src, split in zip(stream, (memory.train, memory.test), strict=True):
        x, y = decode_all(src)
        assert torch.equal(x, split.x) and torch.equal(y, split.y) and torch.equal(src.labels, split.y)
        assert src.class_names == memory.class_names == ("0", "1", "2")
        assert src.image_shape == (3, 8, 8) and src.decoded_nbytes == split.x.numel()


def test_imagefolder_with_a_class_missing_from_test_equals_the_in_memory_loader(tmp_path: Path) -> None:
    png_folder(tmp_path / "train", {"a": 3, "b": 2, "c": 2})
    png_folder(tmp_path / "test", {"a": 2, "c": 1})  # no test/b
    memory = load_dataset("imagefolder", tmp_path, image_size=6)
    train, test = open_splits("imagefolder", tmp_path, image_size=6)
    assert train.class_names == test.class_names == memory.class_names == ("a", "b", "c")
    assert test.labels.tolist() == memory.test.y.tolist() == [0, 0, 2]
    assert torch.equal(decode_all(test)[0], memory.test.x) and torch.equal(
        decode_all(train)[0], memory.train.x
    )


def test_imagefolder_split_is_the_in_memory_loaders_seeded_split(tmp_path: Path) -> None:
    png_folder(tmp_path, {"a": 6, "b": 5})
    for seed in (0, 3):
        memory = load_dataset("imagefolder", tmp_path, test_fraction=0.4, split_seed=seed)
        stream = open_splits("imagefolder", tmp_path, test_fraction=0.4, split_seed=seed)
        for src, split in zip(stream, (memory.train, memory.test), strict=True):
            assert torch.equal(decode_all(src)[0], split.x) and torch.equal(src.labels, split.y)


# ------------------------------------------------------------------ reading only what is asked
def test_packed_source_decodes_only_the_requested_items_from_a_memory_map(
    tmp_path: Path, monkeypatch
) -> None:
    train, _ = open_splits("npz", packed(tmp_path / "p.npz"))
    assert isinstance(train.data, np.memmap) and Path(str(train.data.filename)) == tmp_path / "p.npz"
    seen: list[bytes] = []
    real = packed_module.decode_image
    monkeypatch.setattr(packed_module, "decode_image", lambda b, *a: seen.append(b) or real(b, *a))
    got = list(
        load_batches(train, [torch.tensor([9, 4]), torch.tensor([], dtype=torch.long), torch.tensor([0])])
    )
    assert seen == [train._bytes(9), train._bytes(4), train._bytes(0)]
    assert [tuple(x.shape) for x, _ in got] == [(2, 3, 16, 16), (0, 3, 16, 16), (1, 3, 16, 16)]
    assert [y.tolist() for _, y in got] == [[0, 1], [], [0]]  # labels are arange % 3


def test_a_file_source_with_image_size_decodes_nothing_until_read(tmp_path: Path, monkeypatch) -> None:
    path = write_zip(tmp_path / "tin.zip", tinyimagenet_files(n_classes=2, per_class=3))
    calls: list[object] = []
    real = images_module.decode_image
    monkeypatch.setattr(images_module, "decode_image", lambda s, *a: calls.append(s) or real(s, *a))
    train, test = open_splits("tinyimagenet", path, image_size=12)
    assert calls == [] and train.image_shape == (3, 12, 12) and len(train) == 6 and len(test) == 4
    part = train.of_classes([1])
    assert part.labels.tolist() == [1, 1, 1] and part.decoded_nbytes == 3 * 3 * 12 * 12 and calls == []
    assert part[0][0].shape == (3, 12, 12) and len(calls) == 1


@pytest.mark.parametrize("kind", ["folder", "packed"])
def test_two_decoding_workers_give_the_same_batches(tmp_path: Path, kind: str) -> None:
    if kind == "folder":
        source, _ = open_splits("imagefolder", png_folder(tmp_path, {"a": 5, "b": 5}), test_fraction=0.2)
    else:
        source, _ = open_splits("npz", packed(tmp_path / "p.npz"))
    batches = [torch.tensor([5, 1, 0]), torch.tensor([7]), torch.tensor([2, 3, 6, 4])]
    one = list(load_batches(source, batches))
    two = list(load_batches(source, iter(batches), workers=2))  # any iterable of batches
    assert len(one) == len(two) == 3
    for (xa, ya), (xb, yb), idx in zip(one, two, batches, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and torch.equal(ya, source.labels[idx])
        assert torch.equal(xa, torch.stack([source[int(i)][0] for i in idx]))


def test_sources_pickle_without_their_handles_or_bytes(tmp_path: Path) -> None:
    src, _ = open_splits("npz", packed(tmp_path / "p.npz"))
    zipped, _ = open_splits("tinyimagenet", write_zip(tmp_path / "t.zip", tinyimagenet_files(2, 2)))
    zipped[0]  # opens this process's archive handle
    assert src._map is not None and zipped._tree is not None
    state = pickle.dumps(src)
    assert len(state) < src._nbytes  # the JPEG bytes are not in it
    for original, copy in ((src, pickle.loads(state)), (zipped, pickle.loads(pickle.dumps(zipped)))):
        assert torch.equal(copy[1][0], original[1][0])


# ------------------------------------------------------------------ views, slices, pixel mean
class Listed(ImageSource):
    """A lazy source: items read one by one from a tensor (as a file source reads files)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.labels, self.class_names, self.name = x, y, ("a", "b", "c"), "t"
        self.image_shape = (3, 2, 2)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], int(self.labels[i])


def test_subset_and_of_classes_are_views_in_order() -> None:
    x = torch.arange(8 * 3 * 2 * 2, dtype=torch.int64).reshape(8, 3, 2, 2).to(torch.uint8)
    src = Listed(x, torch.tensor([2, 0, 1, 2, 0, 1, 2, 0]))
    part = src.of_classes(torch.tensor([0, 2]))
    assert part.labels.tolist() == [2, 0, 2, 0, 2, 0] and part.decoded_nbytes == 6 * 12
    inner = part.subset(torch.tensor([4, 1]))  # items 6 and 1 of src
    assert inner.parent is src and inner.indices.tolist() == [6, 1]
    assert torch.equal(decode_all(inner)[0], x[[6, 1]]) and inner.class_names == ("a", "b", "c")
    with pytest.raises(DataError, match=r"subset indices run outside 0\.\.5 of t"):
        part.subset(torch.tensor([6]))


def test_tensor_source_views_are_tensor_sources_read_by_gathers() -> None:
    """In memory, a view is a gathered copy and a batch is a gather: the fast path, no DataLoader."""
    x = torch.arange(8 * 3 * 2 * 2, dtype=torch.int64).reshape(8, 3, 2, 2).to(torch.uint8)
    src = TensorSource(x, torch.tensor([2, 0, 1, 2, 0, 1, 2, 0]), ("a", "b", "c"), "t")
    part = src.of_classes([0, 2]).subset(torch.tensor([4, 1]))
    assert isinstance(part, TensorSource) and torch.equal(part.x, x[[6, 1]]) and part.y.tolist() == [2, 0]
    got = list(src.batches([torch.tensor([5, 0]), torch.tensor([], dtype=torch.long), torch.tensor([7])]))
    assert [b.tolist() for _, b in got] == [[1, 2], [], [0]] and torch.equal(got[0][0], x[[5, 0]])
    assert torch.equal(src.take(torch.tensor([3, 3, 1])), x[[3, 3, 1]]) and src.held_nbytes == x.numel()
    both = concat([src, TensorSource(x[:2], torch.tensor([1, 1]))])
    assert isinstance(both, TensorSource) and both.y.tolist()[-3:] == [0, 1, 1] and len(both) == 10
    mixed = concat([Listed(x, src.labels), TensorSource(x[:1], torch.tensor([1]))])
    assert isinstance(mixed, ConcatSource) and torch.equal(mixed[8][0], x[0]) and mixed[8][1] == 1


def test_shard_bounds_and_rank_slices_partition_every_global_batch() -> None:
    for n in range(0, 12):
        for world in (1, 2, 3, 5):
            bounds = [shard_bounds(n, r, world) for r in range(world)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
            assert max(b - a for a, b in bounds) - min(b - a for a, b in bounds) <= 1
    batches = [torch.tensor([9, 3, 4, 0, 7]), torch.tensor([2]), torch.tensor([8, 1])]
    for world in (2, 3):
        per_rank = [list(rank_slices(batches, r, world)) for r in range(world)]
        assert [len(p) for p in per_rank] == [3] * world  # an empty slice keeps its place
        for b, glob in enumerate(batches):
            assert torch.equal(torch.cat([per_rank[r][b] for r in range(world)]), glob)
    assert [s.tolist() for s in rank_slices(batches, 1, 3)] == [[3, 4], [], [8]]


def test_pixel_mean_is_the_decoded_mean_one_batch_at_a_time(tmp_path: Path, monkeypatch) -> None:
    train, _ = open_splits("imagefolder", png_folder(tmp_path, {"a": 6, "b": 5}), test_fraction=0.0)
    sizes: list[int] = []
    real = reading.pixel_sum
    monkeypatch.setattr(reading, "pixel_sum", lambda xb: sizes.append(len(xb)) or real(xb))
    mean = pixel_mean(train, batch_size=4)
    x, _ = decode_all(train)
    assert sizes == [4, 4, 3] and mean.dtype == torch.float32 and mean.shape == (3, 10, 10)
    torch.testing.assert_close(mean, x.float().div(255).mean(0), rtol=0, atol=1e-6)


# ------------------------------------------------------------------ a user's dataset
class Items(torch.utils.data.Dataset):
    def __init__(self, images: list, labels: list[int], targets: bool = False) -> None:
        self.images, self.y, self.reads = images, labels, 0
        if targets:
            self.targets = labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        self.reads += 1
        return self.images[i], self.y[i]


def test_user_source_reads_every_image_form_to_the_same_uint8() -> None:
    ref = torch.randint(0, 256, (3, 5, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    hwc = ref.permute(1, 2, 0).numpy()
    forms = [
        ref,
        hwc,
        Image.fromarray(hwc),
        ref.double() / 255,
        torch.from_numpy(hwc.astype(np.float32) / 255),
    ]
    src = UserSource(Items(forms, [0, 1, 1, 2, 0], targets=True), class_names=("x", "y", "z"))
    assert src.dataset.reads == 1  # labels from .targets; only item 0 was read, for the shape
    assert src.labels.tolist() == [0, 1, 1, 2, 0] and src.image_shape == (3, 5, 7)
    x, y = decode_all(src)
    assert all(torch.equal(img, ref) for img in x) and y.tolist() == [0, 1, 1, 2, 0]
    grey = UserSource(Items([np.zeros((4, 4), np.uint8)] * 2, [3, 1]))
    assert (
        grey.dataset.reads == 3 and grey.class_names == ("0", "1", "2", "3") and grey.image_shape == (1, 4, 4)
    )


def test_user_source_errors_are_one_line_and_name_the_item() -> None:
    ok = np.zeros((3, 4, 4), np.float32)
    nan = ok.copy()
    nan[0, 1, 1] = np.nan
    with pytest.raises(DataError) as e:
        decode_all(UserSource(Items([ok, nan], [0, 0])))
    assert "item 1 of Items has NaN or infinite values" in one_line(e)
    with pytest.raises(DataError) as e:
        UserSource(Items([np.zeros((3, 6, 3), np.uint8)], [0]))
    assert "item 0 of Items is shaped (3, 6, 3): the channel axis could be 0 or 2" in one_line(e)
    with pytest.raises(DataError) as e:
        UserSource(Items([np.full((3, 4, 4), 300, np.int64)], [0]))
    assert "integers in 300..300" in one_line(e)
    with pytest.raises(DataError) as e:
        decode_all(UserSource(Items([ok, np.zeros((3, 5, 5), np.float32)], [0, 0])))
    assert "item 1 of Items is (3, 5, 5) but item 0 is (3, 4, 4)" in one_line(e)


# ------------------------------------------------------------------ errors and storage
def test_opening_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError) as e:
        open_splits("cifar100", tmp_path)
    assert (
        "is only decoded into memory; read from files in batches: imagefolder, npz, tinyimagenet"
        in one_line(e)
    )
    with pytest.raises(DataError) as e:
        open_splits("npz", packed(tmp_path / "c.npz", compressed=True))
    assert "holds x_train_jpeg.npy compressed (np.savez_compressed)" in one_line(e)
    np.savez(tmp_path / "plain.npz", x=np.zeros((2, 4, 4), np.uint8), y=np.zeros(2, np.int64))
    with pytest.raises(DataError) as e:
        open_splits("npz", tmp_path / "plain.npz")
    assert "is not a JPEG-packed npz (no x_train_jpeg)" in one_line(e)
    png_folder(tmp_path / "f" / "train", {"a": 2}, size=8)
    png_folder(tmp_path / "f" / "test", {"a": 2}, size=6)
    with pytest.raises(DataError) as e:
        open_splits("imagefolder", tmp_path / "f")
    assert "train images are (3, 8, 8) but test images are (3, 6, 6); pass image_size" in one_line(e)


def test_a_file_of_another_size_is_a_one_line_error_naming_it(tmp_path: Path) -> None:
    png_folder(tmp_path / "a", {"k": 2}, size=8)
    Image.new("RGB", (9, 8)).save(tmp_path / "a" / "k" / "99.png")
    source = FileSource(tmp_path / "a", ["k/00.png", "k/99.png"], torch.tensor([0, 0]), ("k",), "a")
    with pytest.raises(DataError) as e:
        decode_all(source)
    assert one_line(e).startswith("image k/99.png is (3, 8, 9) but the others are (3, 8, 8); pass image_size")
    assert FileSource(tmp_path / "a", ["k/99.png"], torch.tensor([0]), ("k",), "a", size=8)[0][0].shape == (
        3,
        8,
        8,
    )
    with pytest.raises(DataError, match="holds no images"):
        FileSource(tmp_path / "a", [], torch.tensor([], dtype=torch.long), ("k",), "a")
    assert isinstance(open_splits("npz", packed(tmp_path / "p.npz"))[0], PackedSource)


def test_storage_choice_and_memory_budget() -> None:
    lines = Path("/proc/meminfo").read_text().splitlines()
    meminfo = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in lines}
    budget = memory_budget_default()
    assert 0 < budget <= meminfo["MemTotal"] // 2
    assert choose_storage("auto", 3 * 2**30, 2 * 2**30) == (
        "stream",
        "auto: the data would take 3.00 GiB decoded, budget 2.00 GiB (data.memory_budget)",
    )
    assert choose_storage("auto", 2**30, 2**30)[0] == "memory"
    assert choose_storage("memory", 5 * 2**30, 2**30) == (
        "memory",
        "data.storage = 'memory'; 5.00 GiB decoded, budget 1.00 GiB",
    )
    assert choose_storage("stream", 1, 2**40)[0] == "stream"
    with pytest.raises(DataError) as e:
        choose_storage("disk", 1, 1)
    assert one_line(e) == "data.storage is 'disk'; choose one of memory, stream, auto"
