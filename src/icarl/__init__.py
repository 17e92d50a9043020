"""icarl: class-incremental learning with iCaRL (Rebuffi et al., CVPR 2017)."""

__version__ = "0.1.0"

from .config import LearnerConfig, RunConfig, load_config
from .data import ClassIncrementalStream, Dataset, Split, load_dataset
from .icarl import ICaRL
from .persist import load

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
