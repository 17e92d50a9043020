"""iCaRL on the benchmark objects of Avalanche and Continuum, as those libraries hand them over.

icarl depends on neither: it reads their datasets as any ``torch.utils.data.Dataset``. Their
items are ``(image, label, task)``; the task label is ignored. Their images come out of
torchvision's ``ToTensor`` and ``Normalize``: icarl takes the ``Normalize`` values from the
dataset's transform where it can see it (Continuum's ``TaskSet.trsf``), or from
``ICaRL(input_mean=..., input_std=...)`` (Avalanche keeps its transforms in groups icarl does
not look into: declare them), and stores the images as uint8 pixels again. The benchmark
decides the class order and the steps; icarl does its own augmentation (crop and flip), so
give it the datasets' evaluation transforms.

Avalanche::

    from avalanche.benchmarks.classic import SplitCIFAR100
    benchmark = SplitCIFAR100(n_experiences=10, seed=1993)
    learner = ICaRL(backbone="resnet32", memory_size=2000, input_mean=CIFAR100_MEAN, input_std=CIFAR100_STD)
    print(run_avalanche(learner, benchmark))   # accuracy on the seen classes after each step

Continuum::

    from continuum import ClassIncremental
    from continuum.datasets import CIFAR100
    from torchvision import transforms
    norm = [transforms.ToTensor(), transforms.Normalize(CIFAR100_MEAN, CIFAR100_STD)]
    train = ClassIncremental(CIFAR100("data", train=True), increment=10, transformations=norm)
    test = ClassIncremental(CIFAR100("data", train=False), increment=10, transformations=norm)
    print(run_continuum(ICaRL(backbone="resnet32", memory_size=2000), train, test))

``python examples/field_benchmarks.py`` runs both on CIFAR-100 when the library in question
is installed (and ``--data`` holds the dataset), and says which it skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
from typing import Any

from icarl import ICaRL

CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


def evaluation_view(dataset: Any) -> Any:
    """An Avalanche dataset with its evaluation transforms (``.eval()``); others as they are."""
    to_eval = getattr(dataset, "eval", None)
    return to_eval() if callable(to_eval) else dataset


def seen_accuracy(learner: ICaRL, datasets: list[Any]) -> float:
    """Accuracy over the union of ``datasets`` (one test set per step seen so far)."""
    sizes = [len(d) for d in datasets]
    correct = sum(learner.score(d) * n for d, n in zip(datasets, sizes, strict=True))
    return correct / sum(sizes)


def run_avalanche(learner: ICaRL, benchmark: Any) -> list[float]:
    """Train on each experience of ``benchmark.train_stream`` in order; after each, the accuracy
    on the test experiences of every class seen so far (the first ``k`` of ``test_stream``)."""
    accuracies = []
    for k, experience in enumerate(benchmark.train_stream, start=1):
        learner.partial_fit(evaluation_view(experience.dataset))  # items (x, y, t): t ignored
        seen = [evaluation_view(e.dataset) for e in itertools.islice(benchmark.test_stream, k)]
        accuracies.append(seen_accuracy(learner, seen))
    return accuracies


def run_continuum(learner: ICaRL, train_scenario: Any, test_scenario: Any) -> list[float]:
    """Train on each task set of ``train_scenario``; after each, the accuracy on
    ``test_scenario[:k]`` (Continuum's task sets of every class seen so far, as one)."""
    accuracies = []
    for k, taskset in enumerate(train_scenario, start=1):
        learner.partial_fit(taskset)  # Normalize found on taskset.trsf
        accuracies.append(learner.score(test_scenario[:k]))
    return accuracies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data", help="where torchvision's CIFAR-100 files are")
    parser.add_argument("--epochs", type=int, default=70)
    args = parser.parse_args()
    options = {"backbone": "resnet32", "memory_size": 2000, "epochs": args.epochs}
    if importlib.util.find_spec("avalanche") is None:
        print("avalanche is not installed: skipped")
    else:
        from avalanche.benchmarks.classic import SplitCIFAR100

        benchmark = SplitCIFAR100(n_experiences=10, seed=1993, dataset_root=args.data)
        learner = ICaRL(**options, input_mean=CIFAR100_MEAN, input_std=CIFAR100_STD)
        print("avalanche", [round(a, 4) for a in run_avalanche(learner, benchmark)])
    if importlib.util.find_spec("continuum") is None:
        print("continuum is not installed: skipped")
    else:
        from continuum import ClassIncremental
        from continuum.datasets import CIFAR100
        from torchvision import transforms

        norm = [transforms.ToTensor(), transforms.Normalize(CIFAR100_MEAN, CIFAR100_STD)]
        train, test = (
            ClassIncremental(CIFAR100(args.data, train=split), increment=10, transformations=norm)
            for split in (True, False)
        )
        print("continuum", [round(a, 4) for a in run_continuum(ICaRL(**options), train, test)])


if __name__ == "__main__":
    main()
