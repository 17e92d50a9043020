"""The class-incremental stream: classes split into steps in a seeded order.

"Stream" means this protocol only; images read from files in batches are "sources"
(:mod:`icarl.data.source`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..errors import DataError
from .dataset import Dataset
from .orders import resolve_order
from .source import ImageSource


@dataclass(frozen=True)
class Step:
    """One step: the training data of its new classes, the test data of all seen ones (image
    sources: ``learner.partial_fit(step.train)``; in memory, ``step.train.x`` and ``.y`` are
    the tensors)."""

    index: int
    classes: tuple[int, ...]  # new classes, in arrival order (original labels)
    seen_classes: tuple[int, ...]  # every class so far, in arrival order
    train: ImageSource
    test_seen: ImageSource
    test_new: ImageSource


def split_into_steps(
    order: Sequence[int], classes_per_step: int, first_step: int = 0
) -> list[tuple[int, ...]]:
    """Cut ``order`` into groups: ``first_step`` classes first (0 = same as the others)."""
    n = len(order)
    if classes_per_step < 1:
        raise DataError(f"classes_per_step is {classes_per_step}; it must be at least 1")
    first = first_step or classes_per_step
    if first > n:
        raise DataError(
            f"the first step asks for {first} classes but the dataset has {n}; "
            f"use at most {n} classes per step"
        )
    if (n - first) % classes_per_step:
        rest = n - first if first_step else n  # steps of one size must divide all n classes
        sizes = sorted(
            (d for d in range(1, rest + 1) if rest % d == 0), key=lambda d: abs(d - classes_per_step)
        )
        fits = " or ".join(f"--classes-per-step {d}" for d in sorted(sizes[:2]))
        raise DataError(
            f"{n} classes do not split into a first step of {first} and steps of "
            f"{classes_per_step}; use {fits}, or a first step of another size (--first-step)"
        )
    groups = [tuple(order[:first])]
    groups += [tuple(order[i : i + classes_per_step]) for i in range(first, n, classes_per_step)]
    return groups


class ClassIncrementalStream:
    """Iterate over the steps of a class-incremental protocol.

    >>> stream = ClassIncrementalStream(data, classes_per_step=2, order="seed:1993")
    >>> for step in stream: learner.partial_fit(step.train)
    """

    def __init__(
        self,
        data: Dataset[ImageSource],
        *,
        classes_per_step: int,
        first_step: int = 0,
        order: str | Sequence[int] = "seed",
        seed: int = 0,
        classes: Sequence[int] | None = None,
    ) -> None:
        data.validate()  # a user's Dataset: labels and shapes checked, one line each
        self.data = data
        full = resolve_order(order, data.num_classes, seed)
        if classes is not None:
            keep = set(int(c) for c in classes)
            unknown = keep - set(range(data.num_classes))
            if unknown:
                raise DataError(
                    f"classes {sorted(unknown)} are not in {data.name} "
                    f"(labels 0..{data.num_classes - 1}); pick existing classes"
                )
            full = [c for c in full if c in keep]
        self.class_order: list[int] = full
        self.groups = split_into_steps(full, classes_per_step, first_step)
        n_train = data.train.y.bincount(minlength=data.num_classes)
        n_test = data.test.y.bincount(minlength=data.num_classes)
        self.train_counts: list[int] = [int(n) for n in n_train]  # training images per class
        for c in full:
            for count, split in ((n_train, "training"), (n_test, "test")):
                if int(count[c]) == 0:
                    raise DataError(
                        f"class {c} ({data.class_names[c]}) has no {split} images; "
                        "remove it with --classes or add its data"
                    )

    def __len__(self) -> int:
        return len(self.groups)

    def train_size(self, index: int) -> int:
        """Training images of step ``index``'s classes, counted (no step is built)."""
        return sum(self.train_counts[c] for c in self.groups[index])

    def __getitem__(self, index: int) -> Step:
        classes = self.groups[index]
        seen = tuple(c for g in self.groups[: index + 1] for c in g)
        return Step(
            index=index,
            classes=classes,
            seen_classes=seen,
            train=self.data.train.of_classes(list(classes)),
            test_seen=self.data.test.of_classes(list(seen)),
            test_new=self.data.test.of_classes(list(classes)),
        )

    def __iter__(self) -> Iterator[Step]:
        for i in range(len(self)):
            yield self[i]
