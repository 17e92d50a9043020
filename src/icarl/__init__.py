"""icarl: class-incremental learning with iCaRL (Rebuffi et al., CVPR 2017)."""

from .algorithm import ICaRL
from .config import LearnerConfig, RunConfig, load_config
from .data import ClassIncrementalStream, Dataset, Split, load_dataset
from .deploy import load
from .version import __version__

__all__ = [
    "ClassIncrementalStream",
    "Dataset",
    "ICaRL",
    "LearnerConfig",
    "RunConfig",
    "Split",
    "__version__",
    "load",
    "load_config",
    "load_dataset",
]
