"""Image sources: the one type of every split, whether its images are held in memory or read
from files.

An :class:`ImageSource` is a ``torch.utils.data.Dataset`` of ``(uint8 (C, H, W), label)``
whose labels, class names and image shape are known without decoding any image. Its
:meth:`~ImageSource.batches` reads chosen items, one batch at a time:

- :class:`TensorSource`: images held in memory as one uint8 tensor (a dataset decoded at
  load time, a learner's exemplars, arrays handed to the learner). A batch is one gather on
  that tensor, on whatever device it lives (the training device once :meth:`~ImageSource.on`
  moved it there): no DataLoader, no per-item Python. This is the fast path.
- sources read from files (``data/formats``: an image folder or archive, a JPEG-packed npz),
  a user's own ``torch.utils.data.Dataset`` (:class:`~icarl.data.user.UserSource`), views and
  concatenations: a batch is decoded by a DataLoader with decoding worker processes, only the
  items asked for.

So the learner, the training loop and the evaluation read every source the same way, and
the in-memory and the file-reading path see the same batches, in the same order.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence, Sized

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from ..errors import DataError
from ..files.limits import exceeds, refusal
from .augment import on_device

UNLABELLED = -1  # the label of images handed over without labels (features, predict)


class ImageSource(TorchDataset[tuple[Tensor, int]]):
    """Indexable images with ``labels`` (int64), ``class_names``, ``image_shape`` (C, H, W, after
    resizing) and ``name``, all known without decoding the items."""

    labels: Tensor
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    name: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        raise NotImplementedError

    @property
    def y(self) -> Tensor:
        """The labels (scikit-learn's name for them)."""
        return self.labels

    # ------------------------------------------------------------------ views
    def subset(self, indices: Tensor | Sequence[int]) -> ImageSource:
        """The items ``indices`` (or a boolean mask), in that order; nothing is decoded."""
        return SubsetSource(self, _index(indices))

    def of_classes(self, classes: Sequence[int] | Tensor) -> ImageSource:
        """The items whose label is in ``classes``, in their original order."""
        wanted = torch.as_tensor(classes, dtype=torch.long).flatten()
        return self.subset(torch.isin(self.labels, wanted))

    def on(self, device: torch.device) -> ImageSource:
        """This source read onto ``device``: images held in memory move there once (then every
        batch is gathered there); images read from files are decoded on the CPU as before."""
        return self

    # ------------------------------------------------------------------ reading
    def batches(
        self, index_batches: Iterable[Tensor], *, workers: int = 0, pin_memory: bool = False
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """uint8 (B, C, H, W) images and int64 labels of the given index batches, one per batch, in
        order; only those items are decoded, by ``workers`` processes (0: in this one)."""
        return load_batches(self, index_batches, workers=workers, pin_memory=pin_memory)

    def take(self, order: Tensor, batch_size: int = 256) -> Tensor:
        """The uint8 images ``self[order]``, in that order (exemplars: kept in RAM)."""
        if len(order) == 0:
            return torch.empty((0, *self.image_shape), dtype=torch.uint8)
        return torch.cat([xb for xb, _ in self.batches(list(order.cpu().split(batch_size)))])

    @property
    def decoded_nbytes(self) -> int:
        """N * C * H * W: the bytes the items take decoded as uint8."""
        c, h, w = self.image_shape
        return len(self) * c * h * w

    @property
    def held_nbytes(self) -> int:
        """The bytes of decoded images this source keeps in memory (none: it reads its files)."""
        return 0

    # ------------------------------------------------------------------ identity and checks
    def identity_head(self, name: str, class_names: tuple[str, ...]) -> bytes:
        """What a dataset's fingerprint hashes before its splits' :meth:`identity`: for sources
        read from files, the names and the image shape (nothing is decoded to identify them)."""
        return f"{name};{class_names};{self.image_shape};".encode()

    def identity(self) -> Iterator[bytes]:
        """What identifies the items without decoding them: their count and their labels."""
        yield f"{len(self)};".encode()
        yield self.labels.to(torch.int64).contiguous().numpy().tobytes()

    def check(self, where: str, num_classes: int) -> None:
        """Raise :class:`DataError` naming ``where`` unless the labels are one int64 per item in
        ``0..num_classes - 1``."""
        y = self.labels
        if y.ndim != 1:
            raise DataError(f"{where} has labels of shape {tuple(y.shape)}; give one integer label per image")
        if y.dtype != torch.long:
            raise DataError(f"{where} labels have dtype {y.dtype}; expected int64")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
            raise DataError(
                f"{where} labels range {int(y.min())}..{int(y.max())} but there "
                f"are {num_classes} class names; labels must lie in 0..{num_classes - 1}"
            )

    def _checked(self, img: Tensor, what: str) -> Tensor:
        if tuple(img.shape) != self.image_shape:
            raise DataError(
                f"image {what} is {tuple(img.shape)} but the others are {self.image_shape}; "
                "pass image_size (--image-size) to resize them all"
            )
        return img


def _index(indices: Tensor | Sequence[int]) -> Tensor:
    """Item indices (int64, 1-D) from indices or a boolean mask."""
    idx = torch.as_tensor(indices)
    if idx.dtype == torch.bool:
        return torch.nonzero(idx).flatten()
    return idx.to(torch.long).flatten()


class TensorSource(ImageSource):
    """Images held in memory: ``x`` uint8 (N, C, H, W) and ``y`` int64 labels (N,). The in-memory
    split of a :class:`~icarl.data.dataset.Dataset` (``Split`` is its older name), the
    exemplars, and arrays handed to the learner. Views are gathered copies (as tensors index);
    a batch is one gather on the device the images live on."""

    def __init__(self, x: Tensor, y: Tensor, class_names: Sequence[str] = (), name: str = "") -> None:
        self.x, self.labels, self.class_names, self.name = x, y, tuple(class_names), name
        shape = tuple(getattr(x, "shape", ()))[1:4]  # wrong types and shapes are named by check()
        c, h, w = (*(int(s) for s in shape), 0, 0, 0)[:3]
        self.image_shape = (c, h, w)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.x[i], int(self.labels[i])

    def subset(self, indices: Tensor | Sequence[int]) -> TensorSource:
        idx = _index(indices)
        return TensorSource(
            self.x[idx.to(self.x.device)],
            self.labels[idx.to(self.labels.device)],
            self.class_names,
            self.name,
        )

    def of_classes(self, classes: Sequence[int] | Tensor) -> TensorSource:
        wanted = torch.as_tensor(classes, dtype=torch.long, device=self.labels.device).flatten()
        return self.subset(torch.isin(self.labels, wanted))

    def on(self, device: torch.device) -> TensorSource:
        return TensorSource(self.x.to(device), self.labels.to(device), self.class_names, self.name)

    def batches(
        self, index_batches: Iterable[Tensor], *, workers: int = 0, pin_memory: bool = False
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Gathers on the images' device; the indices of all batches move there in one copy (not
        one per batch); ``workers`` and ``pin_memory`` do not apply."""
        batches = [torch.as_tensor(b, dtype=torch.long) for b in index_batches]
        if not batches:
            return
        flat = on_device(torch.cat(batches), self.x.device)
        for idx in flat.split([len(b) for b in batches]):
            yield self.x[idx], self.labels[idx.to(self.labels.device)]

    def take(self, order: Tensor, batch_size: int = 256) -> Tensor:
        return self.x[order.to(self.x.device)]

    @property
    def held_nbytes(self) -> int:
        return int(self.x.numel() * self.x.element_size())

    def identity_head(self, name: str, class_names: tuple[str, ...]) -> bytes:
        return b""  # every byte of the images and labels identifies them (below)

    def identity(self) -> Iterator[bytes]:
        """The shapes, dtypes and bytes of the images and the labels (as
        :func:`icarl.files.checkpoint.data_fingerprint` hashes them)."""
        for t in (self.x, self.labels):
            t = t.detach().cpu().contiguous()
            yield f"{tuple(t.shape)}{t.dtype};".encode()
            yield t.reshape(-1).view(torch.uint8).numpy().tobytes()

    def check(self, where: str, num_classes: int) -> None:
        x, y = self.x, self.labels
        if not isinstance(x, Tensor) or not isinstance(y, Tensor):
            raise DataError(
                f"{where} holds {type(x).__name__} images and {type(y).__name__} labels; give torch "
                "tensors (torch.as_tensor(x), torch.as_tensor(y, dtype=torch.int64))"
            )
        if x.dtype != torch.uint8:
            raise DataError(
                f"{where} images have dtype {x.dtype}; expected uint8 (convert pixels to 0-255 integers)"
            )
        if x.ndim != 4:
            raise DataError(f"{where} images have shape {tuple(x.shape)}; expected (N, C, H, W)")
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise DataError(
                f"{where} has {x.shape[0]} images but labels of shape "
                f"{tuple(y.shape)}; give one integer label per image"
            )
        super().check(where, num_classes)


class SubsetSource(ImageSource):
    """Items ``indices`` of ``parent``, read from it on demand (a view of a view indexes the root)."""

    parent: ImageSource
    indices: Tensor

    def __init__(self, parent: ImageSource, indices: Tensor) -> None:
        n = len(parent)
        if len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= n):
            raise DataError(f"subset indices run outside 0..{n - 1} of {parent.name}")
        if isinstance(parent, SubsetSource):
            indices = parent.indices[indices]
            parent = parent.parent
        self.parent, self.indices = parent, indices
        self.labels = parent.labels[indices]
        self.class_names, self.image_shape, self.name = parent.class_names, parent.image_shape, parent.name

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self.parent[int(self.indices[i])]


class ConcatSource(ImageSource):
    """Sources one after another (new data read from files, then the exemplars held in RAM)."""

    def __init__(self, parts: Sequence[ImageSource]) -> None:
        self.parts = list(parts)
        self.labels = torch.cat([p.labels for p in parts])
        self.class_names, self.image_shape, self.name = (
            parts[0].class_names,
            parts[0].image_shape,
            parts[0].name,
        )
        self.starts = torch.tensor([0, *[len(p) for p in parts]]).cumsum(0)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        k = int(torch.searchsorted(self.starts, torch.tensor(i), right=True)) - 1
        return self.parts[k][i - int(self.starts[k])]


def concat(parts: Sequence[ImageSource]) -> ImageSource:
    """``parts`` one after another (empty ones left out). Sources held in memory stay one tensor
    source (one copy on the CPU, so the fast path reads them); any other mix is a
    :class:`ConcatSource` read item by item."""
    kept = [p for p in parts if len(p)] or list(parts[:1])
    if len(kept) == 1:
        return kept[0]
    if all(isinstance(p, TensorSource) for p in kept):
        tensors = [p for p in kept if isinstance(p, TensorSource)]  # (narrowed for the type checker)
        x = torch.cat([p.x.cpu() for p in tensors])
        return TensorSource(
            x, torch.cat([p.labels.cpu() for p in tensors]), kept[0].class_names, kept[0].name
        )
    return ConcatSource(kept)


# ------------------------------------------------------------------ reading through a DataLoader
def _collate(shape: tuple[int, int, int], items: list[tuple[Tensor, int]]) -> tuple[Tensor, Tensor]:
    """uint8 (B, C, H, W) and int64 labels; an empty batch (a rank's empty slice) stays empty."""
    if not items:
        return torch.empty((0, *shape), dtype=torch.uint8), torch.empty(0, dtype=torch.long)
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items], dtype=torch.long)


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)


class _IndexLists:
    """The index batches as lists of ints, converted as the DataLoader asks for them."""

    def __init__(self, batches: Iterable[Tensor]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[list[int]]:
        for b in self.batches:
            yield torch.as_tensor(b, dtype=torch.long).flatten().tolist()

    def __len__(self) -> int:
        if not isinstance(self.batches, Sized):
            raise TypeError("these index batches have no length")
        return len(self.batches)


def load_batches(
    source: ImageSource, index_batches: Iterable[Tensor], *, workers: int = 0, pin_memory: bool = False
) -> Iterator[tuple[Tensor, Tensor]]:
    """uint8 (B, C, H, W) images and int64 labels of the given index batches, one per batch, in
    order, read item by item through a DataLoader: only those items are decoded, by ``workers``
    processes (0: in this one), each with one torch thread and its own file handles."""
    if isinstance(index_batches, Sized) and not len(index_batches):
        return iter(())  # no worker processes for nothing
    loader: DataLoader[tuple[Tensor, int]] = DataLoader(
        source,
        batch_sampler=_IndexLists(index_batches),
        num_workers=workers,
        collate_fn=functools.partial(_collate, source.image_shape),
        pin_memory=pin_memory,
        worker_init_fn=_one_thread if workers else None,
        persistent_workers=False,
    )
    return iter(loader)


# ------------------------------------------------------------------ class names
def check_class_count(count: int, where: str) -> int:
    """``count`` classes, or :class:`DataError` when above ``ICARL_MAX_CLASSES``."""
    if exceeds("ICARL_MAX_CLASSES", count):
        raise DataError(refusal(where, f"{count} classes", "ICARL_MAX_CLASSES"))
    return count


def names_from_labels(labels: list[np.ndarray], where: str) -> tuple[str, ...]:
    """Class names "0".."top" for integer labels used as class indices: refused when the top
    label exceeds ``ICARL_MAX_CLASSES`` or the labels are too sparse to be indices (more than
    twice as many classes as distinct values, plus 100), before any name is built."""
    values = [y for y in labels if y.size]
    if not values:
        return ()
    top = max(int(y.max()) for y in values)
    check_class_count(top + 1, f"{where} (labels up to {top})")
    distinct = len(np.unique(np.concatenate([y.reshape(-1) for y in values])))
    if top + 1 > 2 * distinct + 100:
        raise DataError(
            f"{where}: {distinct} distinct labels run up to {top}, too sparse to be class indices; "
            f"renumber them 0..{distinct - 1} (np.unique(y, return_inverse=True)) or save class_names"
        )
    return tuple(str(i) for i in range(top + 1))


def unlabelled(x: Tensor, name: str = "images") -> TensorSource:
    """Images without labels (to extract features or predict) as a source; labels :data:`UNLABELLED`."""
    return TensorSource(x, torch.full((int(x.shape[0]),), UNLABELLED, dtype=torch.long), (), name)
