"""examples/field_benchmarks.py on small stand-ins shaped like an Avalanche benchmark and a
Continuum scenario (neither library is a dependency): the objects, attributes and items the
example touches, with images made by ToTensor and Normalize. Each run must learn: the
accuracy on the seen classes stays well above chance after every step."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from test_field_inputs import OPTS, Compose, Normalize, ToTensor, rgb

from icarl import ICaRL
from icarl.data.user import UserSource
from icarl.errors import IcarlError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "field_benchmarks.py"
MEAN, STD = (0.2, 0.1, 0.7), (0.3, 0.2, 0.3)
STEPS = ((3, 7), (1, 5), (0, 9))  # the benchmark's class order: 2 classes a step


def example():
    spec = importlib.util.spec_from_file_location("field_benchmarks", EXAMPLE)
    assert spec is not None and spec.loader is not None  # internal: the file is in the repo
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hwc(split, classes):
    keep = torch.isin(split.y, torch.tensor(classes))
    return list(rgb(split.x[keep]).permute(0, 2, 3, 1).numpy()), split.y[keep].tolist()


# ------------------------------------------------------------------ Avalanche's shape
class ClassificationDataset(torch.utils.data.Dataset):
    """Like Avalanche's: items ``(x, y, t)``, ``targets`` and ``targets_task_labels``, transforms
    kept in groups (not where icarl looks), ``.eval()`` a copy with the evaluation group."""

    def __init__(self, images, labels, task: int) -> None:
        self.images, self.targets, self.targets_task_labels = images, labels, [task] * len(labels)
        norm = [ToTensor(), Normalize(MEAN, STD)]
        self._transform_groups = {"train": Compose([Flip(), *norm]), "eval": Compose(norm)}
        self._group = "train"

    def eval(self) -> ClassificationDataset:
        out = copy.copy(self)
        out._group = "eval"
        return out

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        x = self._transform_groups[self._group](self.images[i])
        return x, self.targets[i], self.targets_task_labels[i]


class Flip:
    """A random training augmentation (the example must ask for the evaluation transforms)."""

    def __call__(self, hwc_image: np.ndarray) -> np.ndarray:
        return hwc_image[:, ::-1].copy() if np.random.rand() < 0.5 else hwc_image


class Experience:
    def __init__(self, dataset, index: int, classes) -> None:
        self.dataset, self.current_experience = dataset, index
        self.classes_in_this_experience, self.task_label = list(classes), 0


class Benchmark:
    """``train_stream`` and ``test_stream``: one experience per step, in the benchmark's order."""

    def __init__(self, digits) -> None:
        self.train_stream = [
            Experience(ClassificationDataset(*hwc(digits.train, c), task=0), k, c)
            for k, c in enumerate(STEPS)
        ]
        self.test_stream = [
            Experience(ClassificationDataset(*hwc(digits.test, c), task=0), k, c) for k, c in enumerate(STEPS)
        ]


# ------------------------------------------------------------------ Continuum's shape
class TaskSet(torch.utils.data.Dataset):
    """Like Continuum's: ``_x``, ``_y``, ``_t`` arrays, ``trsf`` a Compose ending in Normalize,
    items ``(x, y, t)``, no ``targets``."""

    def __init__(self, x, y, t, trsf) -> None:
        self._x, self._y, self._t, self.trsf = x, np.asarray(y), np.asarray(t), trsf

    def __len__(self) -> int:
        return len(self._y)

    def __getitem__(self, i: int):
        return self.trsf(self._x[i]), int(self._y[i]), int(self._t[i])


class ClassIncremental:
    """Iterating gives a task set per step; ``scenario[:k]`` the first ``k`` as one task set."""

    def __init__(self, split) -> None:
        self.parts = [(*hwc(split, c), k) for k, c in enumerate(STEPS)]
        self.trsf = Compose([ToTensor(), Normalize(MEAN, STD)])

    def __len__(self) -> int:
        return len(self.parts)

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def __getitem__(self, k):
        chosen = self.parts[k] if isinstance(k, slice) else [self.parts[k]]
        x = [img for images, _, _ in chosen for img in images]
        y = [label for _, labels, _ in chosen for label in labels]
        t = [task for images, _, task in chosen for _ in images]
        return TaskSet(x, y, t, self.trsf)


# ------------------------------------------------------------------ the example on them
def above_chance(accuracies: list[float]) -> bool:
    """After step k (2k classes seen, chance 1 / 2k): at least twice chance, 0.8 after step 1
    (the learners here reach 0.96, 0.69-0.78 and 0.68-0.72 over seeds 1-3)."""
    return all(a > min(0.8, 2 / (2 * k)) for k, a in enumerate(accuracies, 1))


def test_the_example_on_an_avalanche_style_benchmark(digits) -> None:
    ex = example()
    learner = ICaRL(**{**OPTS, "memory_size": 60}, input_mean=MEAN, input_std=STD)  # declared
    accuracies = ex.run_avalanche(learner, Benchmark(digits))
    assert len(accuracies) == 3 and above_chance(accuracies)
    assert [int(c) for c in learner.classes_] == [3, 7, 1, 5, 0, 9]  # the benchmark's order


def test_the_example_on_a_continuum_style_scenario(digits) -> None:
    ex = example()
    train, test = ClassIncremental(digits.train), ClassIncremental(digits.test)
    assert UserSource(train[0]).normalisation == (MEAN, STD)  # found on TaskSet.trsf
    learner = ICaRL(**{**OPTS, "memory_size": 60})  # nothing declared
    accuracies = ex.run_continuum(learner, train, test)
    assert len(accuracies) == 3 and above_chance(accuracies)


def test_without_the_normalisation_avalanche_style_floats_are_refused_in_one_line(digits) -> None:
    ex = example()
    with pytest.raises(IcarlError, match=r"has values outside \[0, 1\].*input_mean=\.\.\., input_std") as e:
        ex.run_avalanche(ICaRL(**OPTS), Benchmark(digits))
    assert "\n" not in str(e.value)
