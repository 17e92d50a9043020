"""An Avalanche-style benchmark object driving the learner: ``train_stream`` and ``test_stream``
of experiences, each with a ``dataset`` of ``(x, y, t)`` items and ``classes_in_this_experience``.

The benchmark here is a small stand-in with the same shape (it needs no avalanche install);
``avalanche.benchmarks.classic.SplitMNIST(n_experiences=5)`` plugs in where it is built.

    python examples/benchmark_object.py [--epochs 15]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import ConcatDataset, Dataset

from icarl import ICaRL, load_dataset


class TaskDataset(Dataset):
    """What an Avalanche experience holds: ``(x, y, t)`` items, float images in [0, 1], and
    ``targets``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.targets = x, y

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        return self.x[i].float() / 255, int(self.targets[i]), 0  # task label 0: class-incremental


@dataclass
class Experience:
    dataset: Any
    classes_in_this_experience: list[int]
    current_experience: int


@dataclass
class StandInBenchmark:
    train_stream: list[Experience]
    test_stream: list[Experience]


def split_digits(n_experiences: int = 5) -> StandInBenchmark:
    """The digits split into experiences of two classes, like SplitMNIST."""
    data = load_dataset("digits")
    order = torch.randperm(10, generator=torch.Generator().manual_seed(1)).tolist()
    streams: dict[str, list[Experience]] = {"train": [], "test": []}
    for i in range(n_experiences):
        classes = order[2 * i : 2 * i + 2]
        for name, split in (("train", data.train), ("test", data.test)):
            keep = torch.isin(split.y, torch.tensor(classes))
            streams[name].append(Experience(TaskDataset(split.x[keep], split.y[keep]), classes, i))
    return StandInBenchmark(streams["train"], streams["test"])


class WithoutTaskLabel(Dataset):
    """``(x, y, t)`` -> ``(x, y)``. NOTE: the learner's door takes ``(x, y)`` datasets today;
    once it accepts ``(x, y, t)`` items (issue 25), pass ``experience.dataset`` as it is."""

    def __init__(self, dataset: Any) -> None:
        self.dataset, self.targets = dataset, dataset.targets

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x, y, _ = self.dataset[i]
        return x, y


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=15)
    args = p.parse_args()
    benchmark = split_digits()
    learner = ICaRL(
        backbone="small_cnn", memory_size=100, epochs=args.epochs, batch_size=64, crop_pad=1, flip=False
    )
    accuracies = []
    for experience in benchmark.train_stream:
        learner.partial_fit(WithoutTaskLabel(experience.dataset))  # Algorithm 2, read in batches
        seen = benchmark.test_stream[: experience.current_experience + 1]
        test = ConcatDataset([WithoutTaskLabel(e.dataset) for e in seen])
        accuracies.append(learner.score(test))  # Algorithm 1 (NME) on every class seen so far
        print(
            f"experience {experience.current_experience}: classes {experience.classes_in_this_experience}, "
            f"accuracy on {2 * len(seen)} classes {accuracies[-1]:.3f}"
        )
    print(f"average incremental accuracy {sum(accuracies) / len(accuracies):.3f}, final {accuracies[-1]:.3f}")


if __name__ == "__main__":
    main()
