"""Data: image sources (in memory or read from files), the data formats and their registry,
class orders, the class-incremental stream, batched augmentation."""

from ..errors import DataError
from . import formats as _formats  # noqa: F401  (each format registers itself)
from .dataset import Dataset
from .orders import resolve_order
from .registry import available, load_dataset, open_dataset, register
from .source import ImageSource, TensorSource
from .stream import ClassIncrementalStream, Step
from .user import UserSource, from_torch

Split = TensorSource  # an in-memory split (uint8 images ``x``, labels ``y``): its name before issue 24

__all__ = [
    "ClassIncrementalStream",
    "DataError",
    "Dataset",
    "ImageSource",
    "Split",
    "Step",
    "TensorSource",
    "UserSource",
    "available",
    "from_torch",
    "load_dataset",
    "open_dataset",
    "register",
    "resolve_order",
]
