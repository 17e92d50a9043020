"""Repetitions over class orders and seeds, A/B comparisons with paired statistics, and
resuming killed grids and comparisons (icarl.experiment.grid, .aggregate, .stats)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest
from run_helpers import Crash, crash_after, strip_timings

from icarl.cli import main
from icarl.experiment import stats

TINY = ["--classes", "0,1,2,3", "--classes-per-step", "2", "--epochs", "2", "--quiet", "--memory", "40"]


def test_summary_and_per_step_match_the_statistics_module() -> None:
    values = [0.61, 0.65, 0.58, 0.70]
    s = stats.summary(values)
    assert s["mean"] == pytest.approx(statistics.mean(values)) and s["n"] == 4
    assert s["sd"] == pytest.approx(statistics.stdev(values))
    assert s["se"] == pytest.approx(statistics.stdev(values) / 2)
    steps = stats.per_step([[1.0, 0.5], [0.8, 0.3], [0.9, 0.4]])
    assert steps["mean"] == pytest.approx([0.9, 0.4]) and steps["sd"] == pytest.approx([0.1, 0.1])
    assert stats.summary([0.5])["sd"] == 0.0


def test_paired_difference_its_interval_and_verdict() -> None:
    a = [0.60, 0.62, 0.58, 0.64, 0.61]
    b = [x + d for x, d in zip(a, [0.021, 0.019, 0.020, 0.022, 0.018], strict=True)]
    p = stats.paired(a, b)
    diffs = [y - x for x, y in zip(a, b, strict=True)]
    assert p["mean_diff"] == pytest.approx(statistics.mean(diffs))
    assert p["se_diff"] == pytest.approx(statistics.stdev(diffs) / math.sqrt(5))
    half = 2.776 * p["se_diff"]  # t(0.975, 4)
    assert p["ci95"] == pytest.approx([p["mean_diff"] - half, p["mean_diff"] + half])
    assert p["distinguishable"] and "distinguishable" in stats.verdict(p)
    # the pairs share most of their spread: the paired se is far below the unpaired one
    assert p["se_diff"] < p["se_unpaired"] / 5
    noisy = stats.paired(a, [x + d for x, d in zip(a, [0.03, -0.02, 0.01, -0.03, 0.0], strict=True)])
    assert not noisy["distinguishable"] and stats.verdict(noisy).endswith("not distinguishable")
    assert "one pair estimates no noise" in stats.verdict(stats.paired([0.5], [0.6]))
    assert stats.t975(1) == 12.706 and stats.t975(22) == 2.086 and stats.t975(500) == 1.96


def _results(path: Path) -> dict[str, Any]:
    return json.loads((path / "results.json").read_text())


def test_orders_and_seeds_grid_aggregates_per_step_and_a_killed_repetition_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    ref, out = tmp_path / "ref", tmp_path / "grid"
    grid = ["run", *TINY, "--orders", "2", "--seeds", "1,2"]
    assert main([*grid, "--out", str(ref)]) == 0
    folders = ["order-0-seed-1", "order-0-seed-2", "order-1-seed-1", "order-1-seed-2"]
    runs = {f: _results(ref / f) for f in folders}
    # the order is drawn per K from the base seed's generator: shared by both seeds, new per K
    assert runs["order-0-seed-1"]["class_order"] == runs["order-0-seed-2"]["class_order"]
    assert runs["order-0-seed-1"]["class_order"] != runs["order-1-seed-1"]["class_order"]
    assert runs["order-1-seed-2"]["config"]["data"]["class_order"] == "seed:1993:1"
    agg = json.loads((ref / "aggregate.json").read_text())
    nme = agg["methods"]["icarl"]["nme"]
    avgs = [r["average_incremental_accuracy"]["nme"] for r in runs.values()]
    assert nme["average_incremental_accuracy"]["values"] == pytest.approx(avgs)
    assert nme["average_incremental_accuracy"]["se"] == pytest.approx(statistics.stdev(avgs) / 2)
    step2 = [r["steps"][1]["accuracy"]["nme"] for r in runs.values()]
    assert nme["accuracy"]["sd"][1] == pytest.approx(statistics.stdev(step2))
    assert "over 4 repetitions" in capsys.readouterr().out
    # killed in its third repetition, after a mid-step checkpoint; then --resume OUT
    with monkeypatch.context() as m:
        crash_after(m, 2 * 7 + 2)  # 7 checkpoint writes per repetition (checkpoint_every 1)
        with pytest.raises(Crash):
            main(
                [
                    "run",
                    *TINY,
                    "--orders",
                    "2",
                    "--seeds",
                    "1,2",
                    "--out",
                    str(out),
                    "--checkpoint-every",
                    "1",
                ]
            )
    assert not (out / "order-1-seed-1" / "results.json").exists()
    assert (out / "order-1-seed-1" / "checkpoint.pt").exists()
    assert main(["run", "--resume", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("finished, kept") == 2
    for f in folders:  # the same numbers as the uninterrupted grid, every repetition
        assert strip_timings(_results(out / f))["steps"] == strip_timings(runs[f])["steps"]
    again = json.loads((out / "aggregate.json").read_text())
    assert again["methods"] == agg["methods"]
    assert main(["run", *TINY, "--orders", "2", "--out", str(out)]) == 2  # not over it without --force
    assert "--resume" in capsys.readouterr().err


def test_ab_compare_pairs_orders_and_reports_the_difference(tmp_path: Path, capsys) -> None:
    out = tmp_path / "ab"
    args = ["compare", *TINY, "--ab", "learner.lr=1.0", "--orders", "2", "--seeds", "1,2", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "A/B: B - A, paired" in printed and "distinguishable" in printed
    agg = json.loads((out / "aggregate.json").read_text())
    assert set(agg["groups"]) == {"A", "B"} and len(agg["ab"]["pairs"]) == 4
    b = json.loads((out / "B" / "order-1-seed-2" / "icarl" / "results.json").read_text())
    a = json.loads((out / "A" / "order-1-seed-2" / "icarl" / "results.json").read_text())
    assert (a["config"]["learner"]["lr"], b["config"]["learner"]["lr"]) == (0.5, 1.0)
    assert a["class_order"] == b["class_order"]  # paired by order
    p = agg["ab"]["methods"]["icarl"]["nme"]["average_incremental_accuracy"]
    want = [
        json.loads((out / v / f / "icarl" / "results.json").read_text())["average_incremental_accuracy"][
            "nme"
        ]
        for f in ("order-0-seed-1", "order-0-seed-2", "order-1-seed-1", "order-1-seed-2")
        for v in ("A", "B")
    ]
    assert p["mean_diff"] == pytest.approx(statistics.mean(want[1::2]) - statistics.mean(want[0::2]))
    html = (out / "aggregate.html").read_text()
    assert "A/order-0-seed-1/report.html" in html and "A/B" in html
    capsys.readouterr()
    assert main(["report", str(out)]) == 0  # the aggregate again, printed
    assert "A/B: B - A" in capsys.readouterr().out


def test_a_killed_compare_resumes_keeping_finished_methods(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    ref, out = tmp_path / "ref", tmp_path / "cmp"
    assert main(["compare", *TINY, "--methods", "icarl,finetune", "--out", str(ref)]) == 0
    with monkeypatch.context() as m:
        crash_after(m, 3 + 1)  # icarl's 3 checkpoint writes, then finetune's first
        with pytest.raises(Crash):
            main(["compare", *TINY, "--methods", "icarl,finetune", "--out", str(out)])
    assert not json.loads((out / "compare.json").read_text())["finished"]
    assert main(["compare", *TINY, "--methods", "icarl", "--out", str(out)]) == 2  # not over it
    capsys.readouterr()
    assert main(["compare", "--resume", str(out)]) == 0
    assert "finished before: kept" in capsys.readouterr().out
    done, want = (json.loads((p / "compare.json").read_text()) for p in (out, ref))
    assert done["finished"] and done["methods"] == want["methods"] == ["icarl", "finetune"]
    for name in ("icarl", "finetune"):
        got = done["summary"][name]
        assert got["accuracy"] == want["summary"][name]["accuracy"], name
    capsys.readouterr()
    assert main(["compare", *TINY, "--methods", "icarl,finetune", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "finetune" in printed and "'memory_size': 0" in printed and not (tmp_path / "runs").exists()


def test_report_aggregates_folders_made_one_by_one(tmp_path: Path, capsys) -> None:
    for v, lr in (("A", "2.0"), ("B", "1.0")):
        for k in (0, 1):
            order = f"data.class_order=seed:7:{k}"
            assert (
                main(["run", *TINY, "--out", str(tmp_path / v / f"order-{k}"), order, f"learner.lr={lr}"])
                == 0
            )
    capsys.readouterr()
    assert main(["report", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "A/B: B - A" in printed and "n = 2 pairs" in printed
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_sweep_over_two_values_with_two_seeds_killed_and_resumed_gives_the_same_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    sweep = ["run", *TINY, "--epochs", "1", "--sweep", "learner.lr=0.5,2.0", "--seeds", "1,2"]
    ref, out = tmp_path / "ref", tmp_path / "sweep"
    assert main([*sweep, "--out", str(ref)]) == 0
    table = capsys.readouterr().out.split("over 2 repetitions", 1)[1].split("aggregate:")[0]
    with monkeypatch.context() as m:
        crash_after(m, 2 * 3 + 2)  # 3 checkpoint writes a repetition: dies in the third
        with pytest.raises(Crash):
            main([*sweep, "--out", str(out)])
    assert main(["run", "--resume", str(out)]) == 0
    again = capsys.readouterr().out.split("over 2 repetitions", 1)[1].split("aggregate:")[0]
    assert again == table and "learner.lr=2.0: icarl" in table  # the same table
    agg = json.loads((out / "aggregate.json").read_text())
    assert set(agg["groups"]) == {"learner.lr=0.5", "learner.lr=2.0"}
    assert agg["sweep"]["keys"] == ["learner.lr"]
    lr = [json.loads((out / "learner.lr=0.5" / f"seed-{s}" / "results.json").read_text()) for s in (1, 2)]
    assert [r["config"]["learner"]["lr"] for r in lr] == [0.5, 0.5]
    assert (out / "sweep_learner.lr.png").is_file()
    capsys.readouterr()
    assert main(["run", *TINY, "--sweep", "learner.lr=0.5", "--out", str(tmp_path / "x")]) == 2
    assert "two or more distinct values" in capsys.readouterr().err
    assert main(["run", *TINY, "--sweep", "learner.lr=0.5,1", "--sweep", "learner.lr=2,3"]) == 2
    assert "names the same key twice" in capsys.readouterr().err and not (tmp_path / "x").exists()
