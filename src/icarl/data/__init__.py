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

# each module registers its sources
from . import cifar as _cifar  # noqa: F401
from . import images as _images  # noqa: F401
from . import mnist as _mnist  # noqa: F401
from . import npz as _npz  # noqa: F401
from . import tinyimagenet as _tinyimagenet  # noqa: F401
