"""Your own network and your own data, as you hold them: an ``nn.Module`` as the backbone,
numpy float images in [0, 1] (N, H, W, C) and class names as labels, two steps of new classes.

    python examples/own_network_and_data.py [--epochs 15]
"""

from __future__ import annotations

import argparse

import numpy as np
from torch import nn

from icarl import ICaRL, load_dataset


def my_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stand-in for your arrays: float images (N, H, W, C) in [0, 1] and string labels."""
    digits = load_dataset("digits")
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])

    def arrays(split):  # uint8 (N, C, H, W) -> float (N, H, W, C) in [0, 1]
        return split.x.permute(0, 2, 3, 1).numpy() / 255.0, names[split.y.numpy()]

    return (*arrays(digits.train), *arrays(digits.test))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=15)
    args = p.parse_args()
    x, y, x_test, y_test = my_data()
    net = nn.Sequential(  # any module mapping (B, C, H, W) to features or a feature map
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
    )  # fmt: skip
    learner = ICaRL(
        backbone=net, memory_size=100, epochs=args.epochs, lr=1.0, batch_size=64, crop_pad=1, flip=False
    )
    seen: list[str] = []
    for new in (["zero", "one", "two"], ["three", "four", "five"]):
        keep = np.isin(y, new)
        learner.partial_fit(x[keep], y[keep])  # Algorithm 2: the new classes' images, by name
        seen += new
        test = np.isin(y_test, seen)
        predicted = learner.predict(x_test[test][:8])  # class names back
        print(
            f"learned {new}; accuracy on {len(seen)} classes: {learner.score(x_test[test], y_test[test]):.3f}"
        )
        print(
            f"  first test images: {' '.join(y_test[test][:8])}\n  predicted:         {' '.join(predicted)}"
        )
    print(
        f"classes: {' '.join(sorted(learner.class_names_.values()))}; exemplars held: {len(learner.memory_)}"
    )


if __name__ == "__main__":
    main()
