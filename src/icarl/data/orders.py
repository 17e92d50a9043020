"""Class orders: which class arrives when.

Spellings accepted by :func:`resolve_order`:

- ``"seed"``: a permutation drawn from the run's seed;
- ``"seed:N"``: a permutation drawn from seed ``N`` (``torch.Generator``);
- ``"seed:N:K"``, ``"icarl-theano:K"``, ``"numpy-1993:K"``: the ``K``-th permutation
  (from 0) drawn from the same generator, one after the other, as the authors drew the
  class orders of their 10 runs from one seeded generator; ``--orders N`` runs ``K = 0..N-1``
  (:func:`order_draw`). ``icarl-theano:0`` is the authors' order: their script seeds numpy with
  1993, shuffles each class's 500 training images (100 shuffles), then shuffles the classes.
  Their later runs' orders also depend on the random numbers their training drew, so
  ``icarl-theano:1`` and on are further draws of their generator, not their runs 2-10;
- ``"identity"``: ``0, 1, 2, ...``;
- a named order from :data:`NAMED_ORDERS`: ``icarl-theano`` (the authors' CIFAR-100
  order, ``[87, 0, 52, ...]``), ``numpy-1993`` (``np.random.seed(1993)`` permutation,
  ``[68, 56, 78, ...]``; both are called "seed 1993" in the literature) or ``icarl-tf``
  (the authors' TensorFlow ImageNet order, the inverse of the ``numpy-1993`` permutation);
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


def _numpy_1993(num_classes: int, k: int = 0) -> list[int]:
    """``np.random.seed(1993); np.random.permutation(num_classes)`` (PyCIL, many others); the
    ``k``-th permutation of that generator."""
    rs = np.random.RandomState(1993)
    for _ in range(k):
        rs.permutation(num_classes)
    return [int(c) for c in rs.permutation(num_classes)]


def _icarl_theano_draw(num_classes: int, k: int) -> list[int]:
    """The ``k``-th class order of the authors' numpy generator (see the module docstring);
    ``k = 0`` reproduces :data:`ICARL_THEANO_CIFAR100` (a test holds it)."""
    _icarl_theano(num_classes)  # 100 classes only
    rs = np.random.RandomState(1993)
    for _ in range(100):  # utils_cifar100.load_data: np.random.shuffle of each class's indices
        rs.shuffle(np.arange(500))
    order = np.arange(100)
    for _ in range(k + 1):
        order = np.arange(100)
        rs.shuffle(order)
    return [int(c) for c in order]


def _icarl_tf(num_classes: int) -> list[int]:
    """The authors' TensorFlow ImageNet order: ``np.random.seed(1993); np.random.shuffle(mixing)``
    relabels class ``c`` as ``mixing[c]`` and the steps take the new labels 0, 1, 2, ..., so
    the class learned at position ``j`` is the ``c`` with ``mixing[c] = j``: the inverse of
    the ``numpy-1993`` permutation (``main_resnet_tf.py``, ``utils_data.prepare_files``)."""
    mixing = np.random.RandomState(1993).permutation(num_classes)
    return [int(c) for c in np.argsort(mixing)]


NAMED_ORDERS: dict[str, Callable[[int], list[int]]] = {
    "numpy-1993": _numpy_1993,
    "icarl-theano": _icarl_theano,
    "icarl-tf": _icarl_tf,
}


def seeded_order(num_classes: int, seed: int, k: int = 0) -> list[int]:
    """The ``k``-th permutation drawn from ``torch.Generator().manual_seed(seed)``."""
    g = torch.Generator().manual_seed(int(seed))
    for _ in range(k):
        torch.randperm(num_classes, generator=g)
    return [int(c) for c in torch.randperm(num_classes, generator=g)]


DRAWN = ("seed", "icarl-theano", "numpy-1993")  # the orders --orders can draw again


def order_draw(spec: str, seed: int, k: int) -> str:
    """The spelling of the ``k``-th order drawn from the generator behind ``spec`` (``--orders``):
    ``seed`` -> ``seed:SEED:k``, ``seed:N`` -> ``seed:N:k``, ``icarl-theano`` -> ``icarl-theano:k``."""
    if spec == "seed":
        return f"seed:{seed}:{k}"
    base = spec.split(":")
    if base[0] == "seed" and len(base) == 2:
        return f"{spec}:{k}"
    if spec in DRAWN:
        return f"{spec}:{k}"
    raise DataError(
        f"--orders draws class orders from a seeded generator, but data.class_order is {spec!r}; "
        f"use one of seed, seed:N, {', '.join(d for d in DRAWN if d != 'seed')}"
    )


def _drawn(spec: str, num_classes: int) -> list[int] | None:
    """``seed:N:K``, ``icarl-theano:K``, ``numpy-1993:K``; None for other spellings."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or parts[0] not in DRAWN or (parts[0] == "seed") != (len(parts) == 3):
        return None
    try:
        numbers = [int(p) for p in parts[1:]]
    except ValueError:
        raise DataError(f"bad class order {spec!r}; write seed:N:K, icarl-theano:K or numpy-1993:K") from None
    if numbers[-1] < 0 or numbers[-1] > 10_000:
        raise DataError(f"class order {spec!r}: the draw K must lie in 0..10000")
    if parts[0] == "seed":
        return seeded_order(num_classes, numbers[0], numbers[1])
    if parts[0] == "icarl-theano":
        return _icarl_theano_draw(num_classes, numbers[0])
    return _numpy_1993(num_classes, numbers[0])


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
    drawn = _drawn(spec, num_classes)
    if drawn is not None:
        return _check(drawn, num_classes, f"{spec!r}")
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
