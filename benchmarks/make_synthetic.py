"""Synthetic data for rehearsals and benchmarks.

    python benchmarks/make_synthetic.py ROOT                      # image folder, 32x32 RGB PNGs
    python benchmarks/make_synthetic.py OUT.npz --fashion-shaped  # 60,000 + 10,000 1x28x28, 10 classes

The ``--fashion-shaped`` set has the shape of Fashion-MNIST (what ``benchmarks/e2e.py``
runs): each class a smooth random pattern, each image its class pattern shifted by up to
two pixels, blended with another class's pattern and noise, so a small CNN learns it to
about Fashion-MNIST's accuracy rather than to 100%.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def image_folder(root: str, classes: int, per_class: int, size: int) -> None:
    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = Path(root) / f"class{c:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        colour = rng.integers(0, 256, 3)
        for i in range(per_class):
            noise = rng.integers(-60, 61, (size, size, 3))
            img = np.clip(colour[None, None] + noise, 0, 255).astype(np.uint8)
            Image.fromarray(img).save(folder / f"{i:04d}.png")


def _patterns(rng: np.random.Generator, classes: int, size: int) -> np.ndarray:
    """One smooth pattern in [0, 1] per class (low-frequency noise, upsampled)."""
    coarse = rng.random((classes, 7, 7))
    out = np.stack(
        [
            np.asarray(Image.fromarray((255 * p).astype(np.uint8)).resize((size, size), Image.BICUBIC))
            for p in coarse
        ]
    )
    return out.astype(np.float32) / 255.0


def fashion_shaped(
    n_train: int = 60_000, n_test: int = 10_000, classes: int = 10, size: int = 28, seed: int = 0
) -> dict[str, np.ndarray]:
    """``x``/``y``/``x_test``/``y_test``: uint8 (N, size, size) images, balanced labels."""
    rng = np.random.default_rng(seed)
    pats = _patterns(rng, classes, size + 4)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % classes
        rng.shuffle(y)
        dx, dy = rng.integers(0, 5, n), rng.integers(0, 5, n)
        other = (y + rng.integers(1, classes, n)) % classes
        w = rng.uniform(0.0, 0.6, n).astype(np.float32)[:, None, None]
        x = np.empty((n, size, size), np.float32)
        for i in range(n):
            a = pats[y[i], dy[i] : dy[i] + size, dx[i] : dx[i] + size]
            b = pats[other[i], 2 : 2 + size, 2 : 2 + size]
            x[i] = (1 - w[i]) * a + w[i] * b
        x += rng.normal(0.0, 0.15, x.shape).astype(np.float32)
        return np.clip(255 * x, 0, 255).astype(np.uint8), y.astype(np.int64)

    x, y = draw(n_train)
    x_test, y_test = draw(n_test)
    return {"x": x, "y": y, "x_test": x_test, "y_test": y_test}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="a folder (image folder) or, with --fashion-shaped, an .npz file")
    p.add_argument("--fashion-shaped", action="store_true", help="the Fashion-MNIST-shaped .npz")
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--per-class", type=int, default=24)
    p.add_argument("--size", type=int, default=32)
    a = p.parse_args()
    if a.fashion_shaped:
        np.savez(a.out, **fashion_shaped())
    else:
        image_folder(a.out, a.classes, a.per_class, a.size)


if __name__ == "__main__":
    main()
