"""Learn jobs: one at a time, each in its own process, published as a new version.

A job's stages (``state``): ``queued`` -> ``starting`` (a new interpreter) -> ``loading`` ->
``training`` (with ``epoch`` of ``epochs`` and the loss) -> ``saving`` -> ``saved`` ->
``publishing`` -> ``done``; or ``failed`` (with a one-line ``error``) or ``cancelled``.
While one job is not finished, another is refused (:class:`Busy`, HTTP 409): a second set
of classes learned from the same version would fork the model's history. Predictions go on
from the current version all along; ``done`` means the new version answers them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import IcarlError
from ..files.atomic import temp_path
from .host import Host, load_version
from .store import Store, utc_now
from .worker import learn_process

KEEP = 50  # finished jobs remembered (GET /jobs)
FINISHED = ("done", "failed", "cancelled")


class Busy(IcarlError):
    """A learn job is already under way."""

    def __init__(self, job: Job) -> None:
        super().__init__(
            f"learn job {job.id} is {job.state} (classes {', '.join(job.classes)}); one job runs at a "
            f"time: wait until GET /jobs/{job.id} says done, then send this one again"
        )
        self.job = job


@dataclass
class Job:
    id: str
    classes: list[str]
    images: int
    from_version: int
    version: int  # the version it writes
    state: str = "queued"
    epoch: int = 0
    epochs: int | None = None
    loss: float | None = None
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=utc_now)
    finished: str | None = None
    pid: int | None = None
    published: bool = False  # current.json names its version

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["url"] = f"/jobs/{self.id}"
        return out


@dataclass(frozen=True)
class LearnSettings:
    threads: int  # torch threads of the learn process
    device: str | None = None


class Jobs:
    """The learn jobs of one server."""

    def __init__(self, store: Store, host: Host, settings: LearnSettings) -> None:
        self.store, self.host, self.settings = store, host, settings
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._active: Job | None = None
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return list(reversed(self._jobs.values()))

    @property
    def active(self) -> Job | None:
        return self._active

    def start(self, classes: list[tuple[str, np.ndarray]], overrides: dict[str, Any]) -> Job:
        """A new job learning ``classes`` (name, uint8 (N, C, H, W) in the model's shape)."""
        with self._lock:
            if self._active is not None:
                raise Busy(self._active)
            served = self.host.current
            job = Job(
                id=uuid.uuid4().hex[:12],
                classes=[n for n, _ in classes],
                images=sum(len(a) for _, a in classes),
                from_version=served.version,
                version=self.store.next_version(),
            )
            self._active = job
            self._cancel.clear()
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP:
                self._jobs.popitem(last=False)
        spec = {
            "job": job.id,
            "parent": os.getpid(),
            "threads": self.settings.threads,
            "device": self.settings.device,
            "model": str(self.store.file(served.version)),
            "from_version": served.version,
            "out": str(self.store.file(job.version)),
            "classes": classes,
            "overrides": overrides,
        }
        # the thread that starts the process stays until it ends: PR_SET_PDEATHSIG follows the
        # thread that forked, not the process
        thread = threading.Thread(target=self._run, args=(job, spec), name=f"icarl-job-{job.id}", daemon=True)
        self._thread = thread
        thread.start()
        return job

    def cancel(self, job_id: str) -> Job | None:
        """Stop a job that has not been published: its process is killed and whatever it wrote
        removed; nothing of it is served or kept."""
        job = self._jobs.get(job_id)
        if job is None or job.state in FINISHED or job.state == "publishing":
            return job
        self._cancel.set()  # the job's thread kills its process (it alone holds it)
        return job

    def shutdown(self) -> None:
        """At the server's stop: end a running job (its work is lost, never half-kept) and wait
        for its process to be gone before the folder's lock is released."""
        thread = self._thread
        if self._active is not None:
            self.cancel(self._active.id)
        if thread is not None:
            thread.join(timeout=30)

    # ------------------------------------------------------------------ thread
    def _run(self, job: Job, spec: dict[str, Any]) -> None:
        try:
            self._train(job, spec)
            if job.state == "saved" and job.error is None and not self._cancel.is_set():
                self._publish(job)
        except Exception as e:
            job.error = self._why(job, e)
            if not isinstance(e, IcarlError) and not job.published:
                raise  # a bug: its traceback goes to the log (threading)
        finally:
            if not job.published:
                self._discard(job)
            with self._lock:
                self._active, self._thread = None, None
            # the final state last: whoever reads done/failed/cancelled may start the next job
            job.finished = utc_now()
            job.state = self._final(job)

    @staticmethod
    def _why(job: Job, e: Exception) -> str:
        what = " ".join(str(e).split())
        if job.published:  # on disk but not in memory: a restart serves it
            return f"version {job.version} is published but was not swapped in ({what}); restart the server"
        if isinstance(e, IcarlError):
            return what
        return f"internal error ({type(e).__name__}); see the server log"

    def _final(self, job: Job) -> str:
        if job.published and job.error is None:
            return "done"
        if job.error is None and self._cancel.is_set():
            return "cancelled"
        job.error = job.error or "the learn job ended without a model; see the server log"
        return "failed"

    def _train(self, job: Job, spec: dict[str, Any]) -> None:
        if self._cancel.is_set():
            return
        ctx = multiprocessing.get_context("spawn")
        receive, send = ctx.Pipe(duplex=False)
        name = f"icarl-learn-{job.id}"
        process = ctx.Process(target=learn_process, args=(send, spec), name=name, daemon=True)
        process.start()
        send.close()
        job.pid, job.state = process.pid, "starting"
        try:
            while job.state != "saved" and job.error is None:
                if self._cancel.is_set():
                    process.kill()
                    break
                if not receive.poll(0.2):
                    continue
                try:
                    self._update(job, receive.recv())
                except EOFError:  # the process ended
                    break
        finally:
            process.join(timeout=60)
            receive.close()
        if job.state != "saved" and job.error is None and not self._cancel.is_set():
            code = process.exitcode
            job.error = f"the learn process ended unexpectedly (exit code {code}); see the server log"

    def _discard(self, job: Job) -> None:
        """Remove what a job that was not published wrote (a complete file or half of one); its
        version number was never published, so the file is no one else's."""
        path = self.store.file(job.version)
        for p in (temp_path(path), path):
            with contextlib.suppress(OSError):
                p.unlink()

    @staticmethod
    def _update(job: Job, message: dict[str, Any]) -> None:
        """A message of the learn process; its ``failed`` becomes the job's ``error`` (the state
        changes to ``failed`` once the job is over)."""
        if message.get("state") != "failed":
            job.state = str(message.get("state", job.state))
        for key in ("epoch", "epochs", "loss", "error"):
            if key in message:
                setattr(job, key, message[key])
        if job.state == "saved":
            job.result = {k: v for k, v in message.items() if k != "state"}

    def _publish(self, job: Job) -> None:
        """Load the new version back (a file that does not load is never published), make it
        current on disk, then swap it in between two prediction batches."""
        job.state = "publishing"
        served = load_version(self.store, job.version, self.settings.device)
        self.store.publish(job.version, job=job.id, learned=job.classes, from_version=job.from_version)
        job.published = True
        self.host.swap(served).result()
