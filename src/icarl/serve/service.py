"""One serving process's state: its folder (held locked), the model host, the learn jobs, the
settings; opened by :func:`open_service`, ended by :meth:`Service.close`."""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files.lock import locked_folder
from ..version import __version__
from .host import Host, load_version
from .jobs import Jobs, LearnSettings
from .payload import Limits
from .store import POINTER, Store, StoreError, default_store, is_store, utc_now
from .unknown import UnknownRule


@dataclass(frozen=True)
class Options:
    """What a server allows and how it answers (the command line's choices)."""

    token: str | None = None  # mutating requests need "Authorization: Bearer <token>"
    limits: Limits = field(default_factory=Limits)
    rule: UnknownRule = field(default_factory=UnknownRule)
    allow_learn: bool = True
    hosts: tuple[str, ...] | None = ("127.0.0.1", "localhost", "::1")  # Host headers answered; None: any
    predict_threads: int = 1
    learn_threads: int = 1
    device: str | None = None
    max_batch: int = 256
    default_top_k: int = 3


@dataclass
class Service:
    store: Store
    host: Host
    jobs: Jobs
    options: Options
    notes: list[str]  # what opening found (removed temporary files, unpublished versions)
    started: float = field(default_factory=time.monotonic)
    started_at: str = field(default_factory=utc_now)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    closed: bool = False
    _closing: threading.Lock = field(default_factory=threading.Lock)

    def uptime(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def close(self) -> None:
        """End a running learn job, stop the prediction thread, release the folder's lock: once;
        a second caller (the server's shutdown and its owner) returns when the first is done."""
        with self._closing:
            if self.closed:
                return
            self.jobs.shutdown()
            self.host.stop()
            self._stack.close()
            self.closed = True

    def health(self) -> dict[str, Any]:
        active = self.jobs.active
        return {
            "status": "ok",
            "version": self.host.current.version,
            "classes": len(self.host.current.learner.classes_),
            "uptime_s": self.uptime(),
            "learning": None if active is None else {"job": active.id, "state": active.state},
        }

    def info(self) -> dict[str, Any]:
        served = self.host.current
        s = served.summary
        memory = {**s["memory"], **process_memory()}
        history = [
            {k: step.get(k) for k in ("time", "names", "source", "memory")} for step in s.get("steps", [])
        ]
        return {
            "icarl": __version__,
            "version": served.version,
            "versions": self.store.existing(),
            "loaded_at": served.loaded_at,
            "started_at": self.started_at,
            "uptime_s": self.uptime(),
            "method": s["method"],
            "kind": s["kind"],
            "classifier": served.classifier,
            "image_shape": served.learner.image_shape_,
            "classes": s["classes"],
            "memory": memory,
            "file": s["file"],
            "file_bytes": s["file_bytes"],
            "saved_at": s["saved_at"],
            "history": history,
            "unknown": self.options.rule.describe(served.calibration),
            "learning": {
                "allowed": self.options.allow_learn and not served.learner.inference_only_,
                "token_required": self.options.token is not None,
                "active": None if self.jobs.active is None else self.jobs.active.to_dict(),
            },
            "limits": self.options.limits.to_dict(),
            "threads": {"predict": self.options.predict_threads, "learn": self.options.learn_threads},
            "predictions": {"batches": self.host.batches, "images": self.host.images},
        }


def process_memory() -> dict[str, int | None]:
    """The serving process's resident memory now and at its peak (bytes; None where unknown)."""
    rss: int | None = None
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {"process_rss_bytes": rss, "process_peak_rss_bytes": peak}


def resolve_store(path: Path, store: Path | None) -> tuple[Path, Path | None]:
    """(serving folder, model file or None) for ``icarl serve PATH [--store DIR]``."""
    if path.is_dir():
        return path, None
    return (store or default_store(path)), path


def open_service(path: Path, store_dir: Path | None, options: Options) -> Service:
    """Lock the serving folder (creating it from a model file), clean what a stop left, load the
    current version and start predicting."""
    root, model = resolve_store(path, store_dir)
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(locked_folder(root, "serving folder"))
        store = Store(root)
        if not is_store(root):
            store.create(model if model is not None else not_a_store(root))
        elif model is not None:
            store.check_source(model)
        opened = store.open()
        served = load_version(store, opened.version, options.device)
        host = Host(served, options.rule, options.max_batch)
        host.start()
    except BaseException:
        stack.close()
        raise
    notes = [f"removed {p}, a temporary file of a write that was interrupted" for p in opened.removed]
    notes += [
        f"version {v} ({store.file(v).name}) was written but never published (the server stopped "
        f"first); it is kept, not served"
        for v in opened.unpublished
    ]
    jobs = Jobs(store, host, LearnSettings(options.learn_threads, options.device))
    return Service(store, host, jobs, options, notes, _stack=stack)


def not_a_store(root: Path) -> Path:
    raise StoreError(
        f"{root} is a folder without {POINTER}, not a serving folder; pass a model file "
        "(icarl serve MODEL.icarl) or a folder icarl serve made"
    )
