"""A user's ``torch.utils.data.Dataset`` as an image source, in the forms the field's tools
yield it (torchvision, Avalanche, Continuum, one's own).

- Items are ``(image, label)`` or ``(image, label, task, ...)``: Avalanche's and Continuum's
  datasets yield a task label third. It is **ignored** (not checked): a class-incremental
  learner needs no task identity, and the tools disagree on its value (Avalanche's
  class-incremental benchmarks give 0 to every step, Continuum the step's index).
- Labels are integers, or strings (class names): ``dataset.targets`` when it has them
  (torchvision, Avalanche), else one pass over the dataset reads every item's label.
- Images are a tensor, a numpy array or a PIL image, CHW or HWC, uint8 (0-255), float in
  [0, 1], or float **normalised**: ``x = (pixel - mean) / std`` (torchvision's ``Normalize``,
  as Avalanche's and Continuum's default transforms end). The ``(mean, std)`` is the one the
  learner declares (``ICaRL(input_mean=..., input_std=...)``), else the one of the
  ``Normalize`` found in the dataset's transform (its ``transform``, ``trsf`` or
  ``transforms`` attribute, a ``Compose`` searched inside). Each image is stored as
  ``round(255 * (x * std + mean))``: the learner keeps uint8 exemplars and normalises by its
  own pixel mean, so the network sees the same input either way.
- A ``DataLoader`` is read through its ``.dataset`` (its batch size, sampler and workers do
  not apply: the learner's do); a note on stderr says so, in one line.

:func:`from_torch` makes a :class:`~icarl.data.dataset.Dataset` of a train and a test
dataset in these forms, to run the whole protocol (``icarl.experiment.run(cfg, data=...)``).
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from ..errors import DataError
from .dataset import Dataset
from .source import ImageSource, check_class_count, names_from_labels

Normalisation = tuple[tuple[float, ...], tuple[float, ...]]  # (mean, std) per channel
# how far outside [0, 1] a de-normalised float may fall (float rounding of mean and std)
ROUNDING = 0.5 / 255
TRANSFORM_ATTRIBUTES = ("transform", "trsf", "transforms")


def is_loader(x: Any) -> bool:
    return isinstance(x, DataLoader)


def dataset_of(x: Any, where: str = "the learner") -> Any:
    """``x``, or the ``.dataset`` of a DataLoader (with a one-line note on stderr)."""
    if not is_loader(x):
        return x
    print(
        f"icarl: note: {where} was given a DataLoader; it reads the loader's .dataset "
        f"({type(x.dataset).__name__}) in its own batches (the loader's batch size, sampler and "
        "workers are not used)",
        file=sys.stderr,
    )
    return x.dataset


# ------------------------------------------------------------------ normalisation
def check_normalisation(mean: Any, std: Any, where: str) -> Normalisation | None:
    """``(mean, std)`` as tuples of floats, both given or neither; std > 0, finite values."""
    if mean is None and std is None:
        return None
    if mean is None or std is None:
        raise DataError(f"{where}: give both input_mean and input_std (the Normalize values), or neither")
    m, s = _floats(mean, where, "mean"), _floats(std, where, "std")
    if len(m) != len(s) and 1 not in (len(m), len(s)):
        raise DataError(f"{where}: mean has {len(m)} values but std {len(s)}; give one per channel")
    if not all(np.isfinite(m)) or not all(np.isfinite(s)) or min(s) <= 0:
        raise DataError(f"{where}: mean {m} and std {s} must be finite, std above 0")
    return m, s


def _floats(value: Any, where: str, what: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in np.asarray(value, dtype=np.float64).reshape(-1))
    except (TypeError, ValueError):
        raise DataError(f"{where}: {what} {value!r} is not a number or a list of numbers") from None
    if not 1 <= len(out) <= 4:
        raise DataError(f"{where}: {what} has {len(out)} values; give one per channel (1-4)")
    return out


def find_normalisation(dataset: Any) -> Normalisation | None:
    """The ``(mean, std)`` of the torchvision-style ``Normalize`` in ``dataset``'s transform
    (looked for in ``transform``, ``trsf``, ``transforms``, inside a ``Compose``, and in the
    wrapped ``.dataset`` of a ``Subset``); None when there is none. Two different ones are
    refused: declare the one that applies."""
    found: set[Normalisation] = set()
    for _ in range(4):  # a Subset of a Subset of ...: a few levels
        for attr in TRANSFORM_ATTRIBUTES:
            _collect(getattr(dataset, attr, None), found, depth=0)
        dataset = getattr(dataset, "dataset", None)
        if dataset is None:
            break
    if len(found) > 1:
        raise DataError(
            f"the dataset's transforms hold {len(found)} different Normalize transforms {sorted(found)}; "
            "declare the one its images come out of: ICaRL(input_mean=..., input_std=...)"
        )
    return found.pop() if found else None


def _collect(t: Any, found: set[Normalisation], depth: int) -> None:
    if t is None or depth > 4 or isinstance(t, str | bytes | Tensor):
        return
    if "Normalize" in type(t).__name__ and hasattr(t, "mean") and hasattr(t, "std"):
        norm = check_normalisation(t.mean, t.std, f"the dataset's {type(t).__name__}")
        if norm is not None:
            found.add(norm)
        return
    inner = getattr(t, "transforms", None)  # a Compose (torchvision, Continuum)
    parts = t if isinstance(t, list | tuple) else inner if isinstance(inner, list | tuple) else ()
    for part in parts:
        _collect(part, found, depth + 1)


def normalisation_tensors(norm: Normalisation, channels: int, where: str) -> tuple[Tensor, Tensor]:
    """mean and std as (C, 1, 1) float32 for images of ``channels`` channels."""
    mean, std = (torch.tensor(v, dtype=torch.float32) for v in norm)
    for v in (mean, std):
        if len(v) not in (1, channels):
            raise DataError(
                f"{where} has {channels} channels but the normalisation has {len(v)} values "
                f"(mean {norm[0]}, std {norm[1]}); give one per channel"
            )
    return mean.expand(channels).reshape(-1, 1, 1), std.expand(channels).reshape(-1, 1, 1)


def denormalised(x: Tensor, norm: Normalisation, channel_dim: int, where: str) -> Tensor:
    """Normalised floats ``x`` back in [0, 1]: ``x * std + mean`` per channel (``channel_dim``
    0 for one image CHW, 1 for a batch NCHW); a one-line error when the result leaves [0, 1]
    by more than rounding, which says the normalisation is not the one the images have."""
    mean, std = normalisation_tensors(norm, int(x.shape[channel_dim]), where)
    if channel_dim == 1:
        mean, std = mean[None], std[None]
    out = x.float() * std + mean
    lo, hi = (float(out.min()), float(out.max())) if out.numel() else (0.0, 0.0)
    if lo < -ROUNDING or hi > 1 + ROUNDING:
        raise DataError(
            f"{where}: de-normalised with mean {norm[0]} and std {norm[1]}, the pixels range "
            f"{lo:.3g}..{hi:.3g}, outside [0, 1]; declare the normalisation the images were made "
            "with (input_mean, input_std)"
        )
    return out.clamp_(0.0, 1.0)


# ------------------------------------------------------------------ labels
def plain_label(v: Any) -> int | str:
    """One item's label as an int or a str (numpy and torch scalars unwrapped)."""
    scalar = isinstance(v, Tensor) and v.numel() == 1
    if scalar or (isinstance(v, np.ndarray) and v.size == 1) or isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, str):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    raise DataError(f"a label is {v!r} ({type(v).__name__}); give integers or class names (strings)")


def read_labels(dataset: Any, name: str) -> list[int | str]:
    """Every item's label: ``dataset.targets`` when it has them, else one pass over the items."""
    targets = getattr(dataset, "targets", None)
    if targets is None:
        return [plain_label(item_parts(dataset[i], i, name)[1]) for i in range(len(dataset))]
    if isinstance(targets, Tensor | np.ndarray):
        targets = np.asarray(targets).reshape(-1).tolist()
    labels = [plain_label(v) for v in targets]
    if len(labels) != len(dataset):
        raise DataError(f"{name} has {len(dataset)} items but {len(labels)} targets; give one per item")
    return labels


def item_parts(item: Any, i: int, name: str) -> tuple[Any, Any]:
    """``(image, label)`` of an item ``(image, label)`` or ``(image, label, task, ...)``: the
    task label is ignored (see the module docstring)."""
    if not isinstance(item, tuple | list) or len(item) < 2:
        raise DataError(
            f"item {i} of {name} is a {type(item).__name__}, not (image, label) or (image, label, task)"
        )
    return item[0], item[1]


# ------------------------------------------------------------------ the source
class UserSource(ImageSource):
    """A user's ``torch.utils.data.Dataset`` in any of the forms of the module docstring.

    ``labels`` are int64: the dataset's integers, or for string labels the positions of the
    names in ``class_names`` (sorted, unless given); ``text`` says which. ``normalisation``
    (mean, std): declared for floats made by ``Normalize`` (else the dataset's own, if found).
    The first item's shape is ``image_shape``; every item must have it."""

    text: bool

    def __init__(
        self,
        dataset: Any,
        class_names: tuple[str, ...] | None = None,
        *,
        normalisation: Normalisation | None = None,
    ) -> None:
        self.dataset = dataset = dataset_of(dataset)
        self.name = type(dataset).__name__
        self.normalisation = normalisation or find_normalisation(dataset)
        raw = read_labels(dataset, self.name)
        if not raw:
            raise DataError(f"the dataset {self.name} is empty; give it (image, label) items")
        named = class_names or tuple(getattr(dataset, "classes", None) or ())
        check_class_count(len(named), self.name)
        self.text = any(isinstance(v, str) for v in raw)
        if self.text:
            self.labels, self.class_names = _text_labels(raw, named, self.name)
        else:
            self.labels = torch.as_tensor(np.asarray(raw, dtype=np.int64), dtype=torch.long)
            self.class_names = named or names_from_labels([self.labels.numpy()], self.name)
        first = self[0][0]
        self.image_shape = (int(first.shape[0]), int(first.shape[1]), int(first.shape[2]))

    def names(self) -> list[str]:
        """Each item's class name (string labels: the names the dataset gave)."""
        return [self.class_names[i] for i in self.labels.tolist()]

    def relabelled(self, labels: Tensor, class_names: Sequence[str]) -> UserSource:
        """The same items under other integer labels (the learner's for the names given)."""
        out = copy.copy(self)
        out.labels, out.class_names, out.text = labels.to(torch.long), tuple(class_names), False
        return out

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        where = f"item {i} of {self.name}"
        image, _ = item_parts(self.dataset[i], i, self.name)  # the label: self.labels (read once)
        img = image_to_chw(image, where, self.normalisation)
        if hasattr(self, "image_shape") and tuple(img.shape) != self.image_shape:
            raise DataError(f"{where} is {tuple(img.shape)} but item 0 is {self.image_shape}; give one size")
        return img, int(self.labels[i])


def _text_labels(raw: list[int | str], named: tuple[str, ...], where: str) -> tuple[Tensor, tuple[str, ...]]:
    if not all(isinstance(v, str) for v in raw):
        raise DataError(f"{where} mixes string and integer labels; give one kind")
    names = tuple(sorted({str(v) for v in raw}))
    if named:
        missing = sorted(set(names) - set(named))
        if missing:
            raise DataError(f"{where} has labels that are not among its class names: {missing[:5]}")
        names = tuple(named)
    check_class_count(len(names), where)
    index = {n: k for k, n in enumerate(names)}
    return torch.tensor([index[str(v)] for v in raw], dtype=torch.long), names


def image_to_chw(image: Any, where: str, normalisation: Normalisation | None = None) -> Tensor:
    """One image as uint8 (C, H, W): from a PIL image, array or tensor, uint8, [0, 1] floats,
    or floats normalised with ``normalisation``."""
    if hasattr(image, "convert") and hasattr(image, "size"):  # a PIL image
        image = np.asarray(image.convert("RGB" if image.mode not in ("L", "RGB") else image.mode))
    if not isinstance(image, Tensor):
        arr = np.asarray(image)
        if arr.dtype.kind not in "biuf":
            raise DataError(f"{where} has dtype {arr.dtype}; give uint8 (0-255) or float (0-1) pixels")
        if arr.dtype.kind == "u" and arr.dtype != np.uint8:
            arr = arr.astype(np.int64)  # torch has few operations on wider unsigned types
        image = torch.from_numpy(arr if arr.flags.writeable else arr.copy())  # PIL's are read-only
    t = _chw(image, where)
    if t.dtype == torch.bool or t.is_complex():
        raise DataError(f"{where} has dtype {t.dtype}; give uint8 (0-255) or float (0-1) pixels")
    if t.is_floating_point():
        if not bool(torch.isfinite(t).all()):
            raise DataError(f"{where} has NaN or infinite values; give finite pixels")
        if normalisation is not None:
            t = denormalised(t, normalisation, 0, where)
        elif float(t.min()) < 0 or float(t.max()) > 1:
            raise DataError(
                f"{where} has values outside [0, 1]; give floats in [0, 1], uint8, or declare the "
                "normalisation they were made with: ICaRL(input_mean=..., input_std=...)"
            )
        t = t.float().mul(255.0).round_()  # as the in-memory path converts floats
    elif t.dtype != torch.uint8 and t.numel() and (int(t.min()) < 0 or int(t.max()) > 255):
        raise DataError(f"{where} has integers in {int(t.min())}..{int(t.max())}; give pixels in 0..255")
    return t.to(torch.uint8).contiguous()


def _chw(t: Tensor, where: str) -> Tensor:
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3:
        raise DataError(f"{where} is shaped {tuple(t.shape)}; give (C, H, W) or (H, W, C) images")
    first, last = t.shape[0] in (1, 3), t.shape[2] in (1, 3)
    if first and last:
        raise DataError(
            f"{where} is shaped {tuple(t.shape)}: the channel axis could be 0 or 2; give (C, H, W)"
        )
    if last and not first:
        return t.permute(2, 0, 1)
    if not first:
        raise DataError(f"{where} is shaped {tuple(t.shape)}: no channel axis of size 1 or 3")
    return t


# ------------------------------------------------------------------ a dataset of two
def from_torch(
    train: Any, test: Any, *, name: str = "", normalisation: Normalisation | None = None
) -> Dataset[ImageSource]:
    """A :class:`~icarl.data.dataset.Dataset` of a user's train and test datasets (or
    DataLoaders) in any form of the module docstring, with one set of class names: string
    labels are numbered in sorted order over both splits; integer labels keep their values."""
    tr, te = (UserSource(dataset_of(d, "from_torch"), normalisation=normalisation) for d in (train, test))
    if tr.text != te.text:
        raise DataError("one split has string labels and the other integers; give one kind")
    if tr.text:
        names = tuple(sorted(set(tr.class_names) | set(te.class_names)))
        index = {n: k for k, n in enumerate(names)}
        tr, te = (s.relabelled(torch.tensor([index[n] for n in s.names()]), names) for s in (tr, te))
    else:
        given = tuple(getattr(tr.dataset, "classes", None) or ())
        names = given or names_from_labels([tr.labels.numpy(), te.labels.numpy()], tr.name)
        tr, te = tr.relabelled(tr.labels, names), te.relabelled(te.labels, names)
    return Dataset(name or tr.name, tr, te, names).validate()
