"""The one training loop (optimiser, schedule, mixed precision, explicit resume state and
callbacks), the callback protocol of a run, and what it shows on a terminal."""

from .callbacks import Callback, CallbackList, EpochEnd, RunInfo
from .loop import Batch, EpochLog, TrainHooks, TrainingDiverged, TrainResult, train
from .state import TrainState

__all__ = [
    "Batch",
    "Callback",
    "CallbackList",
    "EpochEnd",
    "EpochLog",
    "RunInfo",
    "TrainHooks",
    "TrainResult",
    "TrainState",
    "TrainingDiverged",
    "train",
]
