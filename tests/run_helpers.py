"""Helpers for tests that kill a run after a checkpoint write and resume it."""

from __future__ import annotations

import json
from typing import Any

from icarl.experiment import runner

TINY = {
    "data": {"classes": [0, 1, 2, 3, 4, 5], "classes_per_step": 2},
    "learner": {"epochs": 2, "memory_size": 30, "progress": False, "batch_size": 64},
    "checkpoint_every": 1,
}


class Crash(Exception):
    """Stands in for a kill: raised right after a checkpoint was written."""


def strip_timings(results: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(results))
    out.get("environment", {}).pop("load_others", None)  # other processes' load: not the run's
    for s in out["steps"]:
        s.pop("train_seconds")
        s.pop("eval_seconds")
        s.pop("phase_seconds", None)
    return out


def crash_after(monkeypatch: Any, n: int) -> None:
    """The run dies right after its ``n``-th checkpoint write."""
    real = runner.save_checkpoint
    calls = [0]

    def crashing(run_dir: Any, ck: Any) -> Any:
        path = real(run_dir, ck)
        calls[0] += 1
        if calls[0] == n:
            raise Crash
        return path

    monkeypatch.setattr(runner, "save_checkpoint", crashing)


def record_checkpoints(monkeypatch: Any) -> list[str]:
    """Where each checkpoint of the runs that follow was written (``describe()``)."""
    real = runner.save_checkpoint
    seen: list[str] = []

    def spy(run_dir: Any, ck: Any) -> Any:
        seen.append(ck.describe())
        return real(run_dir, ck)

    monkeypatch.setattr(runner, "save_checkpoint", spy)
    return seen
