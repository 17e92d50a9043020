"""The one training loop (optimiser, schedule, mixed precision, explicit resume state and
per-epoch callback), and the glue that runs it under DDP."""

from .loop import EpochLog, TrainHooks, TrainingDiverged, TrainState, train

__all__ = ["EpochLog", "TrainHooks", "TrainState", "TrainingDiverged", "train"]
