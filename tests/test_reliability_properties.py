"""Property-based tests (hypothesis): the stream, the exemplar memory, a loader."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from icarl.algorithm.memory import ExemplarMemory, per_class_budget
from icarl.data import ClassIncrementalStream, DataError, Dataset, Split, load_dataset

FAST = settings(max_examples=60, deadline=None)


# ---------------------------------------------------------------------- stream
@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    n = draw(st.integers(1, 12))
    train_counts = draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    test_counts = draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))

    def split(counts: list[int], offset: int) -> Split:
        y = torch.tensor([c for c, k in enumerate(counts) for _ in range(k)], dtype=torch.long)
        y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(offset))]
        # each image's single pixel identifies it: offset + its position
        x = (torch.arange(len(y)) + offset).to(torch.uint8).view(-1, 1, 1, 1)
        return Split(x, y)

    return Dataset("toy", split(train_counts, 0), split(test_counts, 100), tuple(map(str, range(n))))


@FAST
@given(data=datasets(), per_step=st.integers(1, 5), first=st.integers(0, 6), seed=st.integers(0, 10**6))
def test_stream_partitions_the_classes_and_accumulates_test_sets(data, per_step, first, seed):
    n = data.num_classes
    first_size = first or per_step
    fits = first_size <= n and (n - first_size) % per_step == 0
    if not fits:
        with pytest.raises(DataError):
            ClassIncrementalStream(data, classes_per_step=per_step, first_step=first, seed=seed)
        return
    stream = ClassIncrementalStream(data, classes_per_step=per_step, first_step=first, seed=seed)
    assert sorted(stream.class_order) == list(range(n))  # every class, once
    steps = list(stream)
    assert [c for s in steps for c in s.classes] == stream.class_order  # steps partition the order
    assert len(steps[0].classes) == first_size
    assert all(len(s.classes) == per_step for s in steps[1:])
    previous: set[int] = set()
    for s in steps:
        assert set(s.train.y.tolist()) == set(s.classes)
        assert len(s.train) == sum(int((data.train.y == c).sum()) for c in s.classes)  # all their data
        seen_ids = set(s.test_seen.x.flatten().tolist())
        assert previous <= seen_ids  # cumulative
        assert set(s.test_new.x.flatten().tolist()) == seen_ids - previous
        assert set(s.test_seen.y.tolist()) == set(s.seen_classes)
        previous = seen_ids
    assert len(previous) == len(data.test)  # the last step tests on everything


# ---------------------------------------------------------------------- memory
@settings(max_examples=150, deadline=None)
@given(
    K=st.integers(1, 60),
    steps=st.lists(st.lists(st.integers(1, 15), min_size=1, max_size=4), min_size=1, max_size=6),
)
def test_memory_never_exceeds_K_and_reduce_keeps_prefixes(K, steps):
    memory = ExemplarMemory()
    full: dict[int, torch.Tensor] = {}  # each class's ordered exemplar set as first selected
    t = 0
    for sizes in steps:
        t += len(sizes)
        m = per_class_budget(K, t)
        if m == 0:
            assert t > K
            return
        memory.reduce(m)
        for size in sizes:
            y = len(full)
            items = torch.arange(size, dtype=torch.uint8).mul(3).add(y).view(-1, 1, 1, 1)[:m]
            full[y] = items
            memory.add(y, items)
        assert len(memory) <= K
        for y, original in full.items():
            kept = memory.sets[y]
            assert torch.equal(kept, original[: kept.shape[0]])  # a prefix, in herding order
            assert kept.shape[0] == min(m, original.shape[0])
        x, lab = memory.as_tensors()
        assert x.shape[0] == len(memory) == lab.shape[0]


# ---------------------------------------------------------------------- loader
images = st.integers(2, 6).flatmap(
    lambda size: st.lists(
        st.lists(
            st.binary(min_size=3 * size * size, max_size=3 * size * size).map(
                lambda b, s=size: np.frombuffer(b, dtype=np.uint8).reshape(s, s, 3)
            ),
            min_size=1,
            max_size=3,
        ),
        min_size=1,
        max_size=3,
    )
)


@settings(max_examples=15, deadline=None)
@given(train=images, test_extra=st.integers(1, 2))
def test_imagefolder_round_trip(train, test_extra):
    """PNG is lossless: what is written in root/{train,test}/<class>/ is read back exactly."""
    size = train[0][0].shape[0]
    test = [
        [np.full((size, size, 3), 17 * c + i, np.uint8) for i in range(test_extra)] for c in range(len(train))
    ]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for split, classes in (("train", train), ("test", test)):
            for c, imgs in enumerate(classes):
                (root / split / f"class{c}").mkdir(parents=True)
                for i, arr in enumerate(imgs):
                    Image.fromarray(arr).save(root / split / f"class{c}" / f"{i:03d}.png")
        data = load_dataset("imagefolder", root)
    assert data.class_names == tuple(f"class{c}" for c in range(len(train)))
    for split, classes in ((data.train, train), (data.test, test)):
        expected_x = torch.from_numpy(np.stack([a for imgs in classes for a in imgs])).permute(0, 3, 1, 2)
        expected_y = torch.tensor([c for c, imgs in enumerate(classes) for _ in imgs])
        assert split.x.dtype == torch.uint8
        assert torch.equal(split.x, expected_x) and torch.equal(split.y, expected_y)
