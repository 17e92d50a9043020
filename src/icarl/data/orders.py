"""Class orders: which class arrives when.

Spellings accepted by :func:`resolve_order`:

- ``"seed"``: a permutation drawn from the run's seed;
- ``"seed:N"``: a permutation drawn from seed ``N`` (``torch.Generator``);
- ``"identity"``: ``0, 1, 2, ...``;
- a named order from :data:`NAMED_ORDERS`;
- a path to a file with one class label per line, or comma-separated labels;
- a list of integers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from .dataset import DataError


def _numpy_1993(num_classes: int) -> list[int]:
    """``np.random.seed(1993); np.random.permutation(num_classes)`` (PyCIL, many others)."""
    return [int(c) for c in np.random.RandomState(1993).permutation(num_classes)]


NAMED_ORDERS: dict[str, Callable[[int], list[int]]] = {
    "numpy-1993": _numpy_1993,
}


def seeded_order(num_classes: int, seed: int) -> list[int]:
    g = torch.Generator().manual_seed(int(seed))
    return [int(c) for c in torch.randperm(num_classes, generator=g)]


def _check(order: Sequence[int], num_classes: int, where: str) -> list[int]:
    order = [int(c) for c in order]
    seen: set[int] = set()
    for c in order:
        if c in seen:
            raise DataError(f"class {c} appears twice in the class order {where}; list each class once")
        if not 0 <= c < num_classes:
            raise DataError(
                f"class {c} in the class order {where} is unknown; labels lie in 0..{num_classes - 1}"
            )
        seen.add(c)
    return order


def read_order_file(path: Path, num_classes: int) -> list[int]:
    try:
        text = path.read_text()
    except OSError as e:
        raise DataError(f"cannot read class-order file {path}: {e.strerror}") from None
    tokens = [t for t in text.replace(",", " ").split() if t]
    try:
        labels = [int(t) for t in tokens]
    except ValueError:
        raise DataError(
            f"class-order file {path} holds a non-integer entry; write one integer label per line"
        ) from None
    return _check(labels, num_classes, f"file {path}")


def resolve_order(spec: str | Sequence[int], num_classes: int, seed: int) -> list[int]:
    """Turn an order spelling into a list of class labels (a permutation or a subset)."""
    if not isinstance(spec, str):
        return _check(spec, num_classes, "given")
    if spec == "seed":
        return seeded_order(num_classes, seed)
    if spec.startswith("seed:"):
        try:
            return seeded_order(num_classes, int(spec[5:]))
        except ValueError:
            raise DataError(f"bad class order {spec!r}; write seed:N with an integer N") from None
    if spec == "identity":
        return list(range(num_classes))
    if spec in NAMED_ORDERS:
        return _check(NAMED_ORDERS[spec](num_classes), num_classes, f"{spec!r}")
    path = Path(spec)
    if path.exists():
        return read_order_file(path, num_classes)
    if "," in spec:
        return _check([int(t) for t in spec.split(",") if t.strip()], num_classes, "given")
    names = ", ".join(["seed", "seed:N", "identity", *NAMED_ORDERS])
    raise DataError(f"unknown class order {spec!r}; use one of {names}, or a file path")
