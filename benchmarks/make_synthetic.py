"""Write a synthetic image folder (root/<class>/<i>.png, 32x32 RGB) for rehearsals."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("root")
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--per-class", type=int, default=24)
    p.add_argument("--size", type=int, default=32)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    for c in range(a.classes):
        folder = Path(a.root) / f"class{c:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        colour = rng.integers(0, 256, 3)
        for i in range(a.per_class):
            noise = rng.integers(-60, 61, (a.size, a.size, 3))
            img = np.clip(colour[None, None] + noise, 0, 255).astype(np.uint8)
            Image.fromarray(img).save(folder / f"{i:04d}.png")


if __name__ == "__main__":
    main()
