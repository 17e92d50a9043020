"""What a run shows on the terminal while it trains: the per-epoch progress bar (a
callback, :class:`EpochBar`), drawn only when stderr is a terminal (a log file gets plain
lines, no carriage returns or escape codes)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm

from .callbacks import Callback, EpochEnd


def on_terminal() -> bool:
    """Progress bars go to stderr; they are drawn only when it is a terminal."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty is not None and isatty())


class EpochBar(Callback):
    """One bar per step over its epochs, with the loss and the learning rate; it starts at
    the first epoch it sees (a resumed step: where it stopped) and closes at the last."""

    def __init__(self) -> None:
        self.bar: Any = None

    def on_epoch_end(self, epoch: EpochEnd) -> None:
        if self.bar is None:
            self.bar = tqdm(
                total=epoch.epochs,
                initial=epoch.epoch - 1,
                desc=epoch.desc,
                unit="epoch",
                leave=False,
                dynamic_ncols=True,
            )
        self.bar.set_postfix(loss=f"{epoch.loss:.4f}", lr=f"{epoch.lr:.3g}")
        self.bar.update(1)
        if epoch.epoch >= epoch.epochs:
            self.bar.close()
            self.bar = None
