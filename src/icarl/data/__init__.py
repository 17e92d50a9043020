"""Data: in-memory datasets, sources, class orders, the incremental stream, augmentation."""

from .dataset import DataError, Dataset, Split
from .orders import resolve_order
from .sources import available, load_dataset, register
from .stream import ClassIncrementalStream, Step

__all__ = [
    "ClassIncrementalStream",
    "DataError",
    "Dataset",
    "Split",
    "Step",
    "available",
    "load_dataset",
    "register",
    "resolve_order",
]

from . import images as _images  # noqa: F401  (registers the imagefolder source)
