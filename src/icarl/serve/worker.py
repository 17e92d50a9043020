"""The learn job's own process: Algorithm 2 on a copy of the served model.

The server starts it (``multiprocessing`` spawn: a fresh interpreter, its own torch thread
pool of ``--learn-threads``, so training never shares a thread pool with predictions) with
the current version's file and the new classes' images. It loads its own copy of the
model from that file, runs :func:`icarl.deploy.learn_step` (new images plus the exemplars,
distillation, herding), computes the unknown rule's calibration, writes the new version
file through the atomic writer and reports each stage on a pipe. It never touches
``current.json``: the server publishes the version after loading it back. It dies with
the server (``PR_SET_PDEATHSIG`` on Linux, and a watch on its parent elsewhere), so a
server killed with -9 leaves no job training on.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import torch

from ..data import Dataset, TensorSource
from ..deploy import learn_step, load
from ..errors import IcarlError
from ..train.callbacks import EpochEnd
from .unknown import CALIBRATION_KEY, calibrate

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """End this process when ``parent`` ends (kill -9 included)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the watch below does it, within a second
        pass
    if os.getppid() != parent:  # it ended before the call above
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="icarl-parent-watch", daemon=True).start()


def dataset(classes: list[tuple[str, np.ndarray]], name: str) -> Dataset[TensorSource]:
    """The new classes as a dataset: every image for training (no held-out test split)."""
    x = torch.cat([torch.from_numpy(arr) for _, arr in classes])
    y = torch.cat([torch.full((len(arr),), i, dtype=torch.long) for i, (_, arr) in enumerate(classes)])
    names = tuple(n for n, _ in classes)
    return Dataset(name, TensorSource(x, y, names, name), TensorSource(x[:0], y[:0], names, name), names)


def learn_process(conn: Connection, spec: dict[str, Any]) -> None:
    """The process's target: learn, save, report; the last message is ``saved`` or ``failed``."""
    die_with_parent(int(spec["parent"]))
    torch.set_num_threads(int(spec["threads"]))
    try:
        conn.send(_learn(conn, spec))
    except IcarlError as e:
        conn.send({"state": "failed", "error": " ".join(str(e).split())})
    except Exception as e:  # a bug: its traceback goes to the server's log, one line to the client
        traceback.print_exc()
        conn.send(
            {
                "state": "failed",
                "error": f"internal error in the learn job ({type(e).__name__}); see the server log",
            }
        )
    finally:
        conn.close()


def _learn(conn: Connection, spec: dict[str, Any]) -> dict[str, Any]:
    conn.send({"state": "loading"})
    learner = load(spec["model"], device=spec.get("device"))
    learner.check_can_learn(f"version {spec['from_version']}")
    learner.set_params(progress=False, **spec["overrides"])  # checked as the constructor checks them
    epochs = learner.config.epochs
    conn.send({"state": "training", "epoch": 0, "epochs": epochs})

    class Progress:  # a callback (icarl.train.callbacks): each epoch's end to the parent
        def on_epoch_end(self, e: EpochEnd) -> None:
            conn.send({"state": "training", "epoch": e.epoch, "epochs": epochs, "loss": round(e.loss, 6)})

    t0 = time.perf_counter()
    report = learn_step(
        learner,
        dataset(spec["classes"], f"learn job {spec['job']}"),
        source=f"icarl serve: learn job {spec['job']} on version {spec['from_version']}",
        callbacks=[Progress()],
    )
    train_seconds = time.perf_counter() - t0
    conn.send({"state": "saving"})
    cal = calibrate(learner)
    extra: dict[str, object] = {CALIBRATION_KEY: cal.to_dict()} if cal is not None else {}
    learner.save(spec["out"], exemplars=True, **extra)
    return {
        "state": "saved",
        "added": {str(k): v for k, v in report.added.items()},
        "train_seconds": round(train_seconds, 3),
        "classes": len(learner.classes_),
        "exemplars": len(learner.memory_),
    }
