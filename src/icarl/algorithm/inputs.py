"""What the learner accepts as images and labels, checked before anything changes.

Images: a numpy array or torch tensor, uint8 (0-255), float in [0, 1], or float normalised
with the ``(input_mean, input_std)`` the learner declares (``x = (pixel - mean) / std``, as
torchvision's ``Normalize`` makes them), shaped (N, C, H, W), (N, H, W, C) or (N, H, W) for
grey images. The channel axis is the one of size 1-4 at position 1 or 3; where both are
(e.g. (N, 3, 8, 3)) the learner's image shape decides once it has one, else the shape is
refused as ambiguous. Floats become uint8 as ``round(255 x)`` (after ``x * std + mean`` when
normalised): exemplars are kept as uint8 either way.

Labels: integers, or strings (class names). String labels become the class names.

Or an image source read in batches: any ``torch.utils.data.Dataset`` of ``(image, label)`` or
``(image, label, task)`` (the task label ignored), with integer or string labels, normalised
floats included (:class:`~icarl.data.user.UserSource`); a ``DataLoader`` (its ``.dataset``);
a split of a dataset (``step.train``). Everything becomes an
:class:`~icarl.data.source.ImageSource` here, at the learner's door; past it the learner sees
sources only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..data.source import ImageSource, TensorSource, unlabelled
from ..data.user import Normalisation, UserSource, denormalised, is_loader
from ..errors import IcarlError

CHANNELS = (1, 2, 3, 4)


def is_source(x: Any) -> bool:
    """Whether ``x`` is read as a source (a ``torch.utils.data.Dataset`` or a ``DataLoader``),
    not as arrays."""
    return (isinstance(x, torch.utils.data.Dataset) and not isinstance(x, Tensor)) or is_loader(x)


def as_source(
    x: Any, image_shape: tuple[int, int, int] | None = None, normalisation: Normalisation | None = None
) -> ImageSource:
    """``x`` as an image source: a source itself, a user's ``Dataset`` (or a ``DataLoader``'s) as
    a :class:`UserSource`, arrays (checked, see :func:`check_images`) as an unlabelled
    :class:`TensorSource`. ``normalisation``: the learner's declared ``(input_mean, input_std)``."""
    if isinstance(x, ImageSource):
        return x
    if is_source(x):
        return UserSource(x, normalisation=normalisation)
    return unlabelled(check_images(x, image_shape, normalisation))


def labelled_source(
    x: Any,
    y: Any,
    *,
    image_shape: tuple[int, int, int] | None,
    class_names: dict[int, str],
    classes: list[int],
    kind: str,
    learning: bool,
    normalisation: Normalisation | None = None,
) -> tuple[ImageSource, dict[int, str], str]:
    """``(x, y)`` as a labelled image source, the class names it brings (label -> name, not yet
    applied) and the learner's label kind afterwards ("int", or "str" once taught names).

    A source carries its own labels (``y`` is not read): integers, or class names (a user's
    dataset with string labels, numbered as arrays' names are). Arrays take ``y``: when
    ``learning``, new class names get new labels (:func:`encode_labels`); else every label
    must be a class the learner knows (:func:`known_labels`)."""
    if is_source(x):
        source = as_source(x, normalisation=normalisation)
        if isinstance(source, UserSource) and source.text:
            return named_source(source, class_names, classes, kind, learning)
        return source, (source_names(source, kind) if learning else {}), kind
    images = check_images(x, image_shape, normalisation)
    if not learning:
        return TensorSource(images, known_labels(y, len(images), class_names)), {}, kind
    labels, names = encode_labels(y, len(images), class_names, classes, kind)
    return TensorSource(images, labels), names, "str" if is_text(y) else kind


def named_source(
    source: UserSource, class_names: dict[int, str], classes: list[int], kind: str, learning: bool
) -> tuple[ImageSource, dict[int, str], str]:
    """A user's dataset with string labels under the learner's labels for those names (new
    names numbered after the known ones, as for arrays)."""
    names = source.names()
    if not learning:
        return source.relabelled(known_labels(names, len(names), class_names), ()), {}, kind
    labels, added = encode_labels(names, len(names), class_names, classes, kind)
    every = {**class_names, **added}
    return source.relabelled(labels, [every.get(k, str(k)) for k in range(max(every) + 1)]), added, "str"


def as_tensor(x: Any) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        if x.dtype == object or x.dtype.kind in "US":
            raise IcarlError(f"images have dtype {x.dtype}; give numbers (uint8 0-255 or float 0-1)")
        return torch.from_numpy(np.ascontiguousarray(x))
    try:
        return torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError):
        raise IcarlError(
            f"images of type {type(x).__name__} are not an array; give a numpy array or torch tensor"
        ) from None


def to_nchw(x: Tensor, image_shape: tuple[int, int, int] | None) -> Tensor:
    """(N, C, H, W) from NCHW, NHWC or (N, H, W) input."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim != 4:
        raise IcarlError(
            f"images must be shaped (N, C, H, W), (N, H, W, C) or (N, H, W), got {tuple(x.shape)}"
        )
    first, last = x.shape[1] in CHANNELS, x.shape[3] in CHANNELS
    if image_shape is not None and first and last:
        first = tuple(x.shape[1:]) == image_shape
        last = not first and (x.shape[3], x.shape[1], x.shape[2]) == image_shape
    if first and last:
        raise IcarlError(
            f"images shaped {tuple(x.shape)} are ambiguous: the channel axis could be 1 or 3; "
            "give them as (N, C, H, W) with x.permute(0, 3, 1, 2) where needed"
        )
    if last and not first:
        return x.permute(0, 3, 1, 2).contiguous()
    if first:
        return x
    raise IcarlError(f"images shaped {tuple(x.shape)} have no channel axis of size 1-4 at position 1 or 3")


def to_uint8(x: Tensor, normalisation: Normalisation | None = None) -> Tensor:
    """uint8 images from uint8, integers in 0..255, floats in [0, 1], or (NCHW) floats
    normalised with ``normalisation``."""
    if x.dtype == torch.uint8:
        return x
    if x.dtype == torch.bool or x.is_complex():
        raise IcarlError(f"images have dtype {x.dtype}; give uint8 (0-255) or float (0-1)")
    if not x.is_floating_point():
        lo, hi = (int(x.min()), int(x.max())) if x.numel() else (0, 0)
        if lo < 0 or hi > 255:
            raise IcarlError(f"integer images range {lo}..{hi}; give uint8 pixels in 0-255")
        return x.to(torch.uint8)
    if not bool(torch.isfinite(x).all()):
        raise IcarlError("images contain NaN or infinite values; clean them first")
    if normalisation is not None:
        return denormalised(x, normalisation, 1, "images").mul_(255.0).round_().to(torch.uint8)
    lo_f, hi_f = (float(x.min()), float(x.max())) if x.numel() else (0.0, 0.0)
    if lo_f < 0.0 or hi_f > 1.0:
        raise IcarlError(
            f"float images range {lo_f:.3g}..{hi_f:.3g}; give floats in [0, 1] (divide by 255), "
            "uint8 0-255, or declare the normalisation they were made with: "
            "ICaRL(input_mean=..., input_std=...)"
        )
    return x.float().mul(255.0).round_().to(torch.uint8)


def check_images(
    x: Any, image_shape: tuple[int, int, int] | None = None, normalisation: Normalisation | None = None
) -> Tensor:
    """Any accepted image array -> uint8 (N, C, H, W). Normalised floats are laid out first
    (their mean and std are per channel)."""
    if normalisation is not None:
        return to_uint8(to_nchw(as_tensor(x), image_shape), normalisation)
    return to_nchw(to_uint8(as_tensor(x)), image_shape)


def is_text(labels: Any) -> bool:
    """Whether ``labels`` are class names (strings) rather than integers."""
    if isinstance(labels, np.ndarray):
        first = labels.flat[0] if labels.size else None
        return labels.dtype.kind in "US" or (labels.dtype == object and isinstance(first, str))
    if isinstance(labels, Sequence) and not isinstance(labels, str) and len(labels) > 0:
        return isinstance(labels[0], str)
    return False


def text_labels(labels: Any) -> list[str]:
    return [str(v) for v in (labels.tolist() if isinstance(labels, np.ndarray) else labels)]


def int_labels(y: Any, n: int) -> Tensor:
    if isinstance(y, np.ndarray):
        y = torch.from_numpy(np.ascontiguousarray(y))
    y = torch.as_tensor(y)
    if y.is_floating_point() and not bool((y == y.round()).all()):
        raise IcarlError("labels are fractional numbers; give integer labels or class names")
    y = y.long()
    if y.shape != (n,):
        raise IcarlError(f"{n} images but labels shaped {tuple(y.shape)}")
    return y


def encode_labels(
    y: Any, n: int, class_names: dict[int, str], classes: list[int], kind: str
) -> tuple[Tensor, dict[int, str]]:
    """``y`` as int labels; string labels map to the labels of known names, and new names get
    new labels after the largest known one (returned as label -> name, not yet applied)."""
    if not is_text(y):
        if kind == "str":
            raise IcarlError("this learner was taught class names as labels; give names (strings) again")
        return int_labels(y, n), {}
    if classes and kind == "int":
        raise IcarlError("this learner was taught integer labels; give integer labels again")
    names = text_labels(y)
    if len(names) != n:
        raise IcarlError(f"{n} images but {len(names)} labels")
    by_name = {v: k for k, v in class_names.items()}
    start = max(classes, default=-1) + 1
    added = {name: start + i for i, name in enumerate(sorted(set(names) - set(by_name)))}
    lookup = {**by_name, **added}
    return torch.tensor([lookup[v] for v in names], dtype=torch.long), {k: v for v, k in added.items()}


def known_labels(y: Any, n: int, class_names: dict[int, str]) -> Tensor:
    """Labels of classes a learner knows, as ints (string labels through ``class_names``)."""
    if not is_text(y):
        return int_labels(y, n)
    by_name = {v: k for k, v in class_names.items()}
    names = text_labels(y)
    if len(names) != n:
        raise IcarlError(f"{n} images but {len(names)} labels")
    unknown = sorted(set(names) - set(by_name))
    if unknown:
        raise IcarlError(f"labels include classes the learner has not seen: {unknown[:5]}")
    return torch.tensor([by_name[v] for v in names], dtype=torch.long)


def positions(classes: list[int], y: Tensor) -> Tensor:
    """Original labels -> output indices (positions in ``classes``)."""
    known = torch.tensor(classes, dtype=torch.long)
    order = torch.argsort(known)
    pos = torch.searchsorted(known[order], y.cpu()).clamp_max(len(known) - 1)
    if not bool((known[order][pos] == y.cpu()).all()):
        raise IcarlError("labels include classes the learner has not seen")
    return order[pos].to(y.device)


def source_names(source: ImageSource, kind: str) -> dict[int, str]:
    """label -> name of the classes in an image source (whose labels are integers)."""
    if kind == "str":
        raise IcarlError("this learner was taught class names as labels; an image source gives integers")
    given = tuple(source.class_names)
    return {c: given[c] for c in torch.unique(source.labels).tolist() if c < len(given)}
