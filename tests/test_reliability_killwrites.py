"""Results survive a kill at any write (issue 22, finding 5): a tiny run is stopped at each of
its file writes in turn (a simulated kill raised in place of the k-th rename, which leaves
the temporary file as a real kill would), then ``icarl run --resume`` ends it; results.json
(timings and environment aside), metrics.csv, epochs.csv and the set of files in the run
folder are those of an uninterrupted run. One real SIGKILL case kills a ``python -m icarl``
process while results.json is being written (between the last checkpoint and the results)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from icarl.cli import main
from icarl.files import atomic
from icarl.files.atomic import PAUSE_ENV, temp_path
from icarl.files.checkpoint import load_checkpoint

ARGS = ["--quiet", "--epochs", "1", "--memory", "40", "--classes", "0,1,2,3", "--threads", "1"]
RESUME = ["run", "--quiet", "--threads", "1", "--resume"]  # the run's thread count: identical sums
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1] / "src")}


class Kill(Exception):
    """Stands in for a kill at a write: raised instead of the rename that would finish it."""


def comparable(run: Path) -> dict[str, Any]:
    results = json.loads((run / "results.json").read_text())
    del results["environment"]  # the process that finished the run
    results["config"].pop("out", None)  # the run's own folder
    for step in results["steps"]:
        del step["train_seconds"], step["eval_seconds"]
        step.pop("phase_seconds", None)
    return results


def rows(path: Path) -> list[dict[str, str]]:
    """A CSV file's rows, timing columns aside."""
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if not k.endswith("_seconds")} for r in csv.DictReader(f)]


def state(run: Path) -> tuple[Any, ...]:
    names = sorted(p.name for p in run.iterdir())
    return comparable(run), names, rows(run / "metrics.csv"), rows(run / "epochs.csv")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple[Any, ...], list[str]]:
    """An uninterrupted run's results and files, and the names its writes replaced, in order."""
    run = tmp_path_factory.mktemp("killwrites") / "reference"
    writes: list[str] = []
    real = atomic._commit
    mp = pytest.MonkeyPatch()
    mp.setattr(atomic, "_commit", lambda tmp, path: (writes.append(path.name), real(tmp, path)))
    assert main(["run", *ARGS, "--out", str(run)]) == 0
    mp.undo()
    return state(run), writes


def _kill_at(monkeypatch: pytest.MonkeyPatch, k: int) -> list[str]:
    real, seen = atomic._commit, []

    def commit(tmp: Path, path: Path) -> None:
        seen.append(path.name)
        if len(seen) == k:
            raise Kill(path.name)
        real(tmp, path)

    monkeypatch.setattr(atomic, "_commit", commit)
    return seen


def test_the_reference_run_writes_the_checkpoints_then_the_results_and_report(reference):
    (_, files, _, _), writes = reference
    assert writes[:2] == ["epochs.csv", "checkpoint.pt"] and writes.count("checkpoint.pt") == 3
    assert writes[4:] == [
        "metrics.csv",
        "exemplars.png",
        "results.json",
        "accuracy.png",
        "confusion.png",
        "accuracy_matrix.png",
        "loss.png",
        "metrics.csv",  # again, by the report
        "report.html",
    ]
    assert set(writes) <= set(files)


def test_a_kill_at_every_write_then_resume_gives_the_uninterrupted_results(reference, tmp_path, capsys):
    expected, writes = reference
    for k, name in enumerate(writes, 1):
        run = tmp_path / f"killed-at-{k}"
        mp = pytest.MonkeyPatch()
        _kill_at(mp, k)
        with pytest.raises(Kill, match=name):
            main(["run", *ARGS, "--out", str(run)])
        mp.undo()
        if (run / "checkpoint.pt").exists():
            assert main([*RESUME, str(run)]) == 0, f"write {k} ({name})"
        else:  # killed before the first checkpoint: nothing to resume, the message says so
            assert main(["run", "--resume", str(run)]) == 2
            err = capsys.readouterr().err  # the folder was left empty (removed) or holds no checkpoint
            assert "does not exist" in err or "start it again with --force" in err
            assert main(["run", *ARGS, "--out", str(run), "--force"]) == 0
        got = state(run)
        assert got[0] == expected[0], f"results.json after a kill at write {k} ({name})"
        assert got[1:] == expected[1:], f"files after a kill at write {k} ({name})"


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_while_results_json_is_written_then_resume(reference, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "icarl", "run", *ARGS, "--out", str(run)],
        env={**ENV, PAUSE_ENV: "0.15"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    tmp, deadline = temp_path(run / "results.json"), time.monotonic() + 240
    while not tmp.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, f"the run ended before results.json was written: {proc.stderr}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "results.json").exists() and load_checkpoint(run).finished
    assert main([*RESUME, str(run)]) == 0
    assert state(run) == reference[0]
