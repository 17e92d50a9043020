"""The model being served and the one thread that runs it.

Every prediction runs on one thread (:class:`Host`), with the process's fixed share of torch
threads (``--predict-threads``): requests are queued, and whatever waits when the thread is
free is run as one batch (one feature pass, up to ``max_batch`` images), so concurrent clients
share a forward pass instead of competing for the cores. A new version is swapped in on
that same thread, between two batches: a batch runs wholly on one version, and every answer
names the version that computed it. Features come from the learner's inference network
(fp32, BatchNorm folded), as for ``icarl predict``: the labels are the same; scores agree to
about 1e-6 (a batch's size can change the last bits of a float sum).
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..algorithm import ICaRL
from ..deploy import from_state
from ..deploy.learn import scores_of_features
from ..files.model import read_model, summary
from .store import Store, utc_now
from .unknown import CALIBRATION_KEY, Calibration, UnknownRule, calibrate

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Served:
    """One version of the model, loaded."""

    learner: ICaRL
    version: int
    summary: dict[str, Any]  # files.model.summary of its file (what ``icarl info`` shows)
    calibration: Calibration | None
    loaded_at: str = field(default_factory=utc_now)

    @property
    def classifier(self) -> str:
        return self.learner.config.classifier


def load_version(store: Store, version: int, device: str | None = None) -> Served:
    """Version ``version`` of ``store``, with its calibration (from the file, else computed)."""
    path = store.file(version)
    state = read_model(path)
    learner = from_state(state, device, str(path))
    extra = state.get("extra")
    extra = extra if isinstance(extra, dict) else {}
    cal = Calibration.from_dict(extra.get(CALIBRATION_KEY), len(learner.classes_)) or calibrate(learner)
    info = summary(state, path)
    info["file"] = str(path.relative_to(store.root))
    return Served(learner, version, info, cal)


@dataclass
class _Task:
    x: Tensor  # uint8 (N, C, H, W), the model's shape
    k: int
    classifier: str | None
    future: Future[dict[str, Any]]


@dataclass
class _Swap:
    served: Served
    future: Future[None]


_STOP = object()


class Host:
    """Serves predictions from the current :class:`Served` on one thread (see the module)."""

    def __init__(self, served: Served, rule: UnknownRule, max_batch: int = 256) -> None:
        self.current = served
        self.rule = rule
        self.max_batch = max_batch
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="icarl-predict", daemon=True)
        self.batches = 0  # forward passes run, and images through them (info)
        self.images = 0

    def start(self) -> None:
        self._warm(self.current)
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def submit(self, x: Tensor, k: int, classifier: str | None) -> Future[dict[str, Any]]:
        """A prediction for the images ``x``: its future's result is the answer's document."""
        future: Future[dict[str, Any]] = Future()
        self._queue.put(_Task(x, k, classifier, future))
        return future

    def swap(self, served: Served) -> Future[None]:
        """Serve ``served`` from the next batch on; the future is done once it is."""
        future: Future[None] = Future()
        self._queue.put(_Swap(served, future))
        return future

    # ------------------------------------------------------------------ thread
    def _run(self) -> None:
        pending: Any = None
        while True:
            item = pending if pending is not None else self._queue.get()
            pending = None
            if item is _STOP:
                return
            if isinstance(item, _Swap):
                self._do_swap(item)
                continue
            batch, n = [item], len(item.x)
            while n < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(nxt, _Task) or n + len(nxt.x) > self.max_batch:
                    pending = nxt  # a swap or stop waits for the batch; a big task for the next
                    break
                batch.append(nxt)
                n += len(nxt.x)
            self._predict(batch)

    def _do_swap(self, item: _Swap) -> None:
        try:
            self._warm(item.served)
            self.current = item.served
            item.future.set_result(None)
        except Exception as e:  # the old version stays; the job reports why
            item.future.set_exception(e)

    def _warm(self, served: Served) -> None:
        """Build the version's inference network before it answers (the first request of a new
        version does not pay for it)."""
        c, h, w = served.learner.image_shape_ or (1, 1, 1)
        served.learner.features(torch.zeros((1, c, h, w), dtype=torch.uint8))

    def _predict(self, batch: list[_Task]) -> None:
        served = self.current
        learner = served.learner
        try:
            f = learner.features(torch.cat([t.x for t in batch]))
            cos = scores_of_features(learner, f, "nme") if learner.means_ is not None else None
        except Exception as e:
            for t in batch:
                t.future.set_exception(e)
            return
        self.batches += 1
        self.images += f.shape[0]
        start = 0
        for task in batch:
            part = slice(start, start + len(task.x))
            start = part.stop
            try:
                task.future.set_result(
                    self._answer(served, task, f[part], None if cos is None else cos[part])
                )
            except Exception as e:
                task.future.set_exception(e)

    def _answer(self, served: Served, task: _Task, f: Tensor, cos: Tensor | None) -> dict[str, Any]:
        learner = served.learner
        classifier = task.classifier or served.classifier
        s = cos if classifier == "nme" and cos is not None else scores_of_features(learner, f, classifier)
        values, index = s.topk(min(task.k, s.shape[1]), dim=1)
        known = self.rule.known(values[:, 0], index[:, 0], cos, served.calibration)
        labels = learner.classes_.tolist()
        names = learner.named_classes()
        rows = []
        for row_vals, row_idx, ok in zip(values.tolist(), index.tolist(), known.tolist(), strict=True):
            top = [
                {"name": names[labels[i]], "label": labels[i], "score": round(v, 6)}
                for v, i in zip(row_vals, row_idx, strict=True)
            ]
            rows.append(
                {
                    "name": top[0]["name"] if ok else UNKNOWN,
                    "known": ok,
                    "score": top[0]["score"],
                    "top": top,
                }
            )
        return {"version": served.version, "classifier": classifier, "predictions": rows}
