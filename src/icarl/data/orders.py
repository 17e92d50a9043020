"""Class orders: which class arrives when.

Spellings accepted by :func:`resolve_order`:

- ``"seed"``: a permutation drawn from the run's seed;
- ``"seed:N"``: a permutation drawn from seed ``N`` (``torch.Generator``);
- ``"identity"``: ``0, 1, 2, ...``;
- a named order from :data:`NAMED_ORDERS`: ``icarl-theano`` (the authors' CIFAR-100
  order, ``[87, 0, 52, ...]``) or ``numpy-1993`` (``np.random.seed(1993)`` permutation,
  ``[68, 56, 78, ...]``); both are called "seed 1993" in the literature;
- a path to a file with one class label per line, or comma-separated labels;
- a list of integers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError

# The CIFAR-100 class order of the authors' Theano pipeline (iCaRL, "seed 1993"), as copied
# from the original implementation by several ports (e.g. Douillard's inclearn, Avalanche's
# iCaRL reproduction test). It is NOT np.random.seed(1993); np.random.permutation(100).
ICARL_THEANO_CIFAR100: tuple[int, ...] = (
    87, 0, 52, 58, 44, 91, 68, 97, 51, 15, 94, 92, 10, 72, 49, 78, 61, 14, 8, 86,
    84, 96, 18, 24, 32, 45, 88, 11, 4, 67, 69, 66, 77, 47, 79, 93, 29, 50, 57, 83,
    17, 81, 41, 12, 37, 59, 25, 20, 80, 73, 1, 28, 6, 46, 62, 82, 53, 9, 31, 75,
    38, 63, 33, 74, 27, 22, 36, 3, 16, 21, 60, 19, 70, 90, 89, 43, 5, 42, 65, 76,
    40, 30, 23, 85, 2, 95, 56, 48, 71, 64, 98, 13, 99, 7, 34, 55, 54, 26, 35, 39,
)  # fmt: skip


def _icarl_theano(num_classes: int) -> list[int]:
    """The authors' CIFAR-100 order (:data:`ICARL_THEANO_CIFAR100`); 100 classes only."""
    if num_classes != len(ICARL_THEANO_CIFAR100):
        raise DataError(
            f"the icarl-theano order lists the 100 CIFAR-100 classes but the dataset has "
            f"{num_classes}; use seed:N or an order file"
        )
    return list(ICARL_THEANO_CIFAR100)


def _numpy_1993(num_classes: int) -> list[int]:
    """``np.random.seed(1993); np.random.permutation(num_classes)`` (PyCIL, many others)."""
    return [int(c) for c in np.random.RandomState(1993).permutation(num_classes)]


NAMED_ORDERS: dict[str, Callable[[int], list[int]]] = {
    "numpy-1993": _numpy_1993,
    "icarl-theano": _icarl_theano,
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
    if not labels:
        raise DataError(f"class-order file {path} is empty; write one integer label per line")
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
        try:
            labels = [int(t) for t in spec.split(",") if t.strip()]
        except ValueError:
            raise DataError(f"bad class order {spec!r}; write comma-separated integer labels") from None
        return _check(labels, num_classes, "given")
    names = ", ".join(["seed", "seed:N", "identity", *NAMED_ORDERS])
    raise DataError(f"unknown class order {spec!r}; use one of {names}, or a file path")
