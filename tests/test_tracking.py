"""Logs that suit a file, per-epoch records and loggers, the run's environment, several seeds,
figure formats (issue 14)."""

import csv
import json
import math
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from run_helpers import TINY, Crash, crash_after, strip_timings

import icarl
from icarl.cli import main
from icarl.config import ConfigError, load_config
from icarl.experiment import aggregate, report, runner
from icarl.experiment.loggers import EPOCHS_NAME, LogOptions, parse_log
from icarl.experiment.plots import parse_formats
from icarl.files.checkpoint import load_checkpoint

SMALL = ["--classes", "0,1,2,3", "--classes-per-step", "2", "--epochs", "2", "--memory", "20"]


def _epochs_csv(path: Path) -> list[tuple[int, int, float, float]]:
    with open(path, newline="") as f:
        return [
            (int(r["step"]), int(r["epoch"]), float(r["loss"]), float(r["lr"])) for r in csv.DictReader(f)
        ]


def _from_results(results: dict) -> list[tuple[int, int, float, float]]:
    return [(s["step"], e["epoch"], e["loss"], e["lr"]) for s in results["steps"] for e in s["epochs"]]


def test_a_log_file_has_plain_lines_only(tmp_path):
    """Progress on (no --quiet) but output to a file: no carriage return, no escape code,
    one line per epoch with --verbose, the summary at the start of a line."""
    log = tmp_path / "log.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(icarl.__file__).parents[1])}
    with open(log, "w") as f:
        cmd = [sys.executable, "-m", "icarl", "run", *SMALL, "--verbose", "--out", str(tmp_path / "r")]
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=300)
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "\r" not in text and "\x1b" not in text
    assert re.search(r"^average incremental accuracy: NME \d", text, re.MULTILINE)
    epoch_lines = re.findall(r"^  step (\d) epoch +(\d)/2  loss [\d.]+  lr [\d.]+$", text, re.MULTILINE)
    assert epoch_lines == [("1", "1"), ("1", "2"), ("2", "1"), ("2", "2")]


def test_epochs_in_results_and_csv_survive_a_kill_and_resume(tmp_path, monkeypatch, digits):
    cfg = load_config("digits", [TINY])
    ref = runner.run(cfg, tmp_path / "ref", data=digits, deterministic=True)
    epochs = cfg.learner.epochs
    for s in ref["steps"]:
        assert [e["epoch"] for e in s["epochs"]] == list(range(1, epochs + 1))
        assert all(math.isfinite(e["loss"]) and e["loss"] > 0 for e in s["epochs"])
        assert s["epochs"][0]["lr"] == cfg.learner.lr
    assert _epochs_csv(tmp_path / "ref" / EPOCHS_NAME) == _from_results(ref)

    crash_after(monkeypatch, 2)  # checkpoints: before step 1, step 1 epoch 1 -> killed
    with pytest.raises(Crash):
        runner.run(cfg, tmp_path / "run", data=digits, deterministic=True)
    ck = load_checkpoint(tmp_path / "run")
    assert ck.training is not None and [e["epoch"] for e in ck.training["epochs"]] == [1]
    monkeypatch.undo()
    resumed = runner.run(cfg, tmp_path / "run", data=digits, resume=ck)
    assert strip_timings(resumed)["steps"] == strip_timings(ref)["steps"]
    assert _epochs_csv(tmp_path / "run" / EPOCHS_NAME) == _from_results(ref)


def test_results_record_the_environment(tmp_path, digits):
    cfg = load_config("digits", [TINY])
    env = runner.run(cfg, None, data=digits)["environment"]
    assert env["threads"] == torch.get_num_threads()
    assert env["torch"] == torch.__version__ and env["device"] == "cpu"
    assert env["world_size"] == 1 and env["command"] == sys.argv
    assert isinstance(env["bf16_autocast"], bool) and env["python"].count(".") == 2


def test_tensorboard_event_file_holds_the_losses(tmp_path, digits):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = load_config("digits", [TINY])
    res = runner.run(cfg, tmp_path, data=digits, log=LogOptions(("tensorboard",)))
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    losses = [(ev.step, ev.value) for ev in acc.Scalars("train/loss")]
    expected = [
        (s["step"] * cfg.learner.epochs + e["epoch"], e["loss"]) for s in res["steps"] for e in s["epochs"]
    ]
    assert [st for st, _ in losses] == [st for st, _ in expected]
    assert [v for _, v in losses] == pytest.approx([v for _, v in expected], rel=1e-6)
    nme = [(ev.step, ev.value) for ev in acc.Scalars("accuracy/nme")]
    assert nme == [(s["seen_classes"], pytest.approx(s["accuracy"]["nme"])) for s in res["steps"]]


def test_bad_logger_and_format_names_are_one_line_errors(monkeypatch):
    with pytest.raises(
        ConfigError, match=r"unknown logger.*neptune.*choose from: csv, tensorboard, wandb, mlflow"
    ):
        parse_log("csv,neptune")
    with pytest.raises(ConfigError, match=r"unknown figure format.*jpg"):
        parse_formats("png,jpg")
    assert parse_formats("svg,pdf") == ("png", "svg", "pdf")  # PNG is always written
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"pip install 'icarl\[tensorboard\]'"):
        parse_log("tensorboard")


def _fake(accs: dict[str, list[float]]) -> dict:
    steps = [{"seen_classes": 2 * (i + 1), "accuracy": {k: v[i] for k, v in accs.items()}} for i in range(3)]
    return {"classifier": "nme", "steps": steps}


def test_aggregate_mean_and_sample_std_over_seeds():
    per_seed = {
        1: {"icarl": _fake({"nme": [0.9, 0.8, 0.7], "cnn": [0.9, 0.6, 0.5], "incm": [None, 0.1, 0.1]})},
        2: {"icarl": _fake({"nme": [1.0, 0.7, 0.4], "cnn": [0.8, 0.6, 0.2], "incm": [0.1, 0.1, 0.1]})},
        3: {"icarl": _fake({"nme": [0.8, 0.9, 0.6], "cnn": [0.7, 0.5, 0.3], "incm": [0.1, 0.1, 0.1]})},
    }
    got = aggregate.aggregate(list(per_seed.values()))["icarl"]
    assert "incm" not in got  # one seed lacks it at some step
    for k in ("nme", "cnn"):
        curves = [per_seed[s]["icarl"]["steps"] for s in per_seed]
        avgs = [statistics.mean(st["accuracy"][k] for st in c) for c in curves]
        finals = [c[-1]["accuracy"][k] for c in curves]
        assert got[k]["average_incremental_accuracy"]["mean"] == pytest.approx(statistics.mean(avgs))
        assert got[k]["average_incremental_accuracy"]["sd"] == pytest.approx(statistics.stdev(avgs))
        assert got[k]["average_incremental_accuracy"]["se"] == pytest.approx(statistics.stdev(avgs) / 3**0.5)
        assert got[k]["final_accuracy"]["sd"] == pytest.approx(statistics.stdev(finals))
        assert got[k]["accuracy"]["mean"][1] == pytest.approx(
            statistics.mean(c[1]["accuracy"][k] for c in curves)
        )


def test_run_with_seeds_writes_a_folder_per_seed_and_the_aggregate(tmp_path, capsys):
    out = tmp_path / "seeds"
    args = ["run", *SMALL, "--quiet", "--seeds", "3,4", "--figure-format", "png,svg", "--out", str(out)]
    assert main(args) == 0
    agg = json.loads((out / "aggregate.json").read_text())
    assert agg["groups"][""]["folders"] == ["seed-3", "seed-4"]
    runs = [json.loads((out / f"seed-{s}" / "results.json").read_text()) for s in (3, 4)]
    assert [r["config"]["seed"] for r in runs] == [3, 4]
    avgs = [r["average_incremental_accuracy"]["nme"] for r in runs]
    nme = agg["methods"]["icarl"]["nme"]["average_incremental_accuracy"]
    assert nme["values"] == pytest.approx(avgs) and nme["sd"] == pytest.approx(statistics.stdev(avgs))
    for f in ("aggregate.html", "accuracy_repeats.png", "accuracy_repeats.svg", "seed-3/accuracy_matrix.svg"):
        assert (out / f).is_file(), f
    assert "over 2 repetitions" in capsys.readouterr().out
    (out / "aggregate.json").unlink()
    (out / "grid.json").unlink()  # seeds run one by one: report finds the seed folders
    assert main(["report", str(out), "--figure-format", "pdf"]) == 0
    assert json.loads((out / "aggregate.json").read_text())["methods"] == agg["methods"]
    assert (out / "accuracy_repeats.pdf").is_file() and (out / "seed-4" / "confusion.pdf").is_file()
    assert main(["run", "--seeds", "1,1", "--out", str(tmp_path / "x")]) == 2
    assert main(["run", "--seeds", "1,2", "--seed", "3", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_report_writes_every_figure_format(tmp_path, digits):
    runner.run(load_config("digits", [TINY]), tmp_path, data=digits)
    report.build(tmp_path, ("png", "pdf"))
    for name in ("accuracy", "confusion", "accuracy_matrix"):
        assert (tmp_path / f"{name}.pdf").read_bytes().startswith(b"%PDF")
