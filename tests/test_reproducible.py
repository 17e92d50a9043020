"""One thread count per run (icarl.threads): the default command keeps its count whatever the
machine's load, ``--threads auto`` records each epoch's count and ``icarl rerun`` replays
it, ``--resume`` continues with the recorded count, and ``icarl rerun`` repeats a run
from its record with identical accuracies.

The machine's load is what ``threads._sample`` reads from ``/proc/stat``; the tests replace
it by a schedule in which other processes keep every CPU busy, so that the governor of
``--threads auto`` (and the old default policy) would drop to one thread."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from icarl import threads
from icarl.cli import main

SHORT = ["--classes", "0,1,2,3", "--classes-per-step", "2", "--epochs", "3", "--quiet"]


@pytest.fixture
def two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default count is 2 on any machine (CI may have one CPU), and no OMP_NUM_THREADS."""
    monkeypatch.setattr(threads, "cpus_available", lambda: 2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def busy_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each look at /proc/stat finds one second passed with every CPU busy with others' work."""
    clock = {"t": 0.0, "busy": 0.0, "own": 0.0}
    others = (os.cpu_count() or 2) + 2.0

    def sample(*_: Any) -> tuple[float, float, float]:
        clock["t"] += 1.0
        clock["own"] += 1.0
        clock["busy"] += 1.0 + others
        return clock["t"], clock["busy"], clock["own"]

    monkeypatch.setattr(threads, "_sample", sample)


def results(run: Path) -> dict[str, Any]:
    return json.loads((run / "results.json").read_text())


def accuracies(res: dict[str, Any]) -> list[dict[str, Any]]:
    return [s["accuracy"] for s in res["steps"]]


def epoch_threads(res: dict[str, Any]) -> list[int]:
    return [e["threads"] for s in res["steps"] for e in s["epochs"]]


def test_default_run_keeps_one_count_when_the_machine_is_busy(tmp_path, monkeypatch, two_cpus) -> None:
    assert main(["run", *SHORT, "--out", str(tmp_path / "idle")]) == 0
    busy_machine(monkeypatch)
    assert main(["run", *SHORT, "--out", str(tmp_path / "busy")]) == 0
    idle, busy = results(tmp_path / "idle"), results(tmp_path / "busy")
    assert accuracies(idle) == accuracies(busy)  # identical, to the last bit
    assert epoch_threads(idle) == epoch_threads(busy) == [2] * 6
    env = busy["environment"]
    assert env["threads_policy"] == "fixed" and env["threads"] == 2
    assert env["load_others"] >= 2.0  # the load is recorded beside the result


def test_threads_auto_records_each_epoch_and_rerun_replays_the_schedule(
    tmp_path, monkeypatch, two_cpus, capsys
) -> None:
    busy = monkeypatch.context()
    with busy as m:
        busy_machine(m)
        assert main(["run", *SHORT, "--threads", "auto", "--out", str(tmp_path / "auto")]) == 0
    res = results(tmp_path / "auto")
    counts = epoch_threads(res)
    assert res["environment"]["threads_policy"] == "auto" and 1 in counts  # it gave CPUs up
    assert res["environment"]["threads_used"] == sorted(set(counts) | {2})
    with open(tmp_path / "auto" / "epochs.csv") as f:
        assert [int(r["threads"]) for r in csv.DictReader(f)] == counts
    capsys.readouterr()
    code = main(["rerun", str(tmp_path / "auto"), "--out", str(tmp_path / "again"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    again = results(tmp_path / "again")
    assert epoch_threads(again) == counts and again["environment"]["threads_policy"] == "replay"
    assert accuracies(again) == accuracies(res) and "identical: every accuracy" in out


def test_rerun_reports_a_difference_and_refuses_other_data(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["run", *SHORT, "--threads", "1", "--out", str(run)]) == 0
    doc = results(run)
    doc["steps"][1]["accuracy"]["nme"] = 0.123  # as if the run had given another number
    (run / "results.json").write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["rerun", str(run), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "   2  nme" in out and out.rstrip().endswith("DIFFERENT: see the rows marked NO")
    assert results(tmp_path / "run-rerun")["environment"]["threads"] == 1  # the recorded count
    doc["data_fingerprint"] = "0" * 64
    (run / "results.json").write_text(json.dumps(doc))
    assert main(["rerun", str(run), "--out", str(tmp_path / "other"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "differ from those the run was trained on" in err
    doc["config"]["learner"]["backbone"] = "mypkg.nets:factory"
    (run / "results.json").write_text(json.dumps(doc))
    assert main(["rerun", str(run), "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "--trust-backbone" in capsys.readouterr().err
    assert main(["rerun", str(tmp_path / "nothing")]) == 2
    assert "has no results.json" in capsys.readouterr().err


def test_resume_continues_with_the_recorded_count(tmp_path, monkeypatch, capsys) -> None:
    from run_helpers import Crash, crash_after

    ref, run = tmp_path / "ref", tmp_path / "run"
    assert main(["run", *SHORT, "--threads", "1", "--out", str(ref)]) == 0
    with monkeypatch.context() as m:
        crash_after(m, 3)  # before step 1, then after its epochs 1 and 2 (checkpoint_every 1)
        with pytest.raises(Crash):
            main(["run", *SHORT, "--threads", "1", "--out", str(run), "--checkpoint-every", "1"])
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # what a new shell might have: the record wins
    before = torch.get_num_threads()
    assert main(["run", "--resume", str(run), "--quiet"]) == 0
    assert torch.get_num_threads() == before  # the command's count did not outlive it
    assert accuracies(results(run)) == accuracies(results(ref))
    assert epoch_threads(results(run)) == [1] * 6
    capsys.readouterr()
    # another count on resume: said, and recorded with the step it applies from
    with monkeypatch.context() as m:
        crash_after(m, 2)
        with pytest.raises(Crash):
            main(["run", *SHORT, "--threads", "1", "--out", str(tmp_path / "b"), "--checkpoint-every", "1"])
    assert main(["run", "--resume", str(tmp_path / "b"), "--threads", "2", "--quiet"]) == 0
    assert "resuming with --threads 2 where the run used 1" in capsys.readouterr().out
    assert results(tmp_path / "b")["resumed"][0]["changed"] == {"threads": [1, 2]}
