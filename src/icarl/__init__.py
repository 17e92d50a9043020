"""icarl: class-incremental learning with iCaRL (Rebuffi et al., CVPR 2017).

The names below are loaded on first use, so that ``import icarl`` (and the command line)
does not load torch before :mod:`icarl.threads` has set the OpenMP environment.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .algorithm import ICaRL
    from .algorithm.herding import herding
    from .algorithm.nme import NearestMeanClassifier
    from .config import LearnerConfig, RunConfig, load_config
    from .data import ClassIncrementalStream, Dataset, Split, load_dataset
    from .deploy import load
    from .experiment.runner import run
    from .train.callbacks import Callback

_WHERE = {
    "Callback": "train.callbacks",
    "run": "experiment.runner",
    "ICaRL": "algorithm",
    "herding": "algorithm.herding",
    "NearestMeanClassifier": "algorithm.nme",
    "LearnerConfig": "config",
    "RunConfig": "config",
    "load_config": "config",
    "ClassIncrementalStream": "data",
    "Dataset": "data",
    "Split": "data",
    "load_dataset": "data",
    "load": "deploy",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'icarl' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = [
    "Callback",
    "ClassIncrementalStream",
    "Dataset",
    "ICaRL",
    "LearnerConfig",
    "NearestMeanClassifier",
    "RunConfig",
    "Split",
    "__version__",
    "herding",
    "load",
    "load_config",
    "load_dataset",
    "run",
]
