"""scikit-learn's 8x8 digits, embedded: the default dataset, no files needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import DataError
from ..dataset import Dataset
from ..registry import register
from ..source import TensorSource


def load_digits(
    path: str | Path | None = None, image_size: int | None = None, **_: Any
) -> Dataset[TensorSource]:
    """scikit-learn's 8×8 digits (1,797 images, 10 classes), embedded, no files needed.

    Pixels 0..16 are scaled to 0..255. The split is fixed and independent of any
    seed: within each class, every fifth image (by index) is a test image (20%).
    """
    from sklearn.datasets import load_digits as sk_digits

    if image_size not in (None, 0, 8):
        raise DataError(
            f"data.image_size (--image-size) is {image_size}, but digits has fixed 8x8 images "
            "and cannot be resized; drop --image-size"
        )
    bunch = sk_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    labels = bunch.target.astype(np.int64)
    test_mask = np.zeros(len(labels), dtype=bool)
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        test_mask[idx[::5]] = True
    x = torch.from_numpy(images)
    y = torch.from_numpy(labels)
    tm = torch.from_numpy(test_mask)
    return Dataset(
        name="digits",
        train=TensorSource(x[~tm].contiguous(), y[~tm].contiguous()),
        test=TensorSource(x[tm].contiguous(), y[tm].contiguous()),
        class_names=tuple(str(i) for i in range(10)),
    )


register("digits", load=load_digits)
