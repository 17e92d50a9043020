"""`icarl run` and results.json: the contract, reproducibility, errors."""

import json
import subprocess
import sys

import pytest

from icarl import methods
from icarl.cli import main
from icarl.config import ConfigError, load_config, parse_override

QUICK = ["--epochs", "2", "--quiet"]


def _strip_timings(results):
    results.get("environment", {}).pop("load_others", None)  # other processes' load
    results["config"].pop("out", None)  # each run's own folder
    for s in results["steps"]:
        s.pop("train_seconds")
        s.pop("eval_seconds")
        s.pop("phase_seconds", None)
    return results


def test_run_writes_results_json_contract(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", *QUICK, "--out", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())
    for key in ("method", "dataset", "class_order", "config", "versions", "steps"):
        assert key in r
    assert r["method"] == "icarl" and r["dataset"] == "digits"
    assert sorted(r["class_order"]) == list(range(10))
    assert [s["seen_classes"] for s in r["steps"]] == [2, 4, 6, 8, 10]
    for s in r["steps"]:
        assert {"step", "classes", "seen_classes", "accuracy", "memory_size", "train_seconds"} <= set(s)
        assert 0.0 <= s["accuracy"]["nme"] <= 1.0 and 0.0 <= s["accuracy"]["cnn"] <= 1.0
        assert s["memory_size"] <= r["config"]["learner"]["memory_size"]
    nme = [s["accuracy"]["nme"] for s in r["steps"]]
    assert r["average_incremental_accuracy"]["nme"] == pytest.approx(sum(nme) / len(nme))
    assert r["final_accuracy"]["nme"] == nme[-1]
    printed = capsys.readouterr().out
    assert "average incremental accuracy" in printed and str(out) in printed


def test_same_seed_same_results_other_seed_other_order(tmp_path):
    runs = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        out = tmp_path / name
        assert main(["run", *QUICK, "--seed", str(seed), "--out", str(out)]) == 0
        runs[name] = _strip_timings(json.loads((out / "results.json").read_text()))
    assert runs["a"] == runs["b"]
    assert runs["a"]["class_order"] != runs["c"]["class_order"]


def test_flags_and_dotted_overrides_reach_the_config(tmp_path):
    out = tmp_path / "r"
    args = ["run", *QUICK, "--memory", "50", "--lr", "0.5", "--out", str(out), "learner.momentum=0.8"]
    assert main(args) == 0
    cfg = json.loads((out / "results.json").read_text())["config"]
    assert cfg["learner"]["memory_size"] == 50
    assert cfg["learner"]["lr"] == 0.5 and cfg["learner"]["momentum"] == 0.8


def test_finetune_method_has_no_exemplars(tmp_path):
    out = tmp_path / "ft"
    assert main(["run", *QUICK, "--method", "finetune", "--out", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())
    assert all(s["memory_size"] == 0 and s["accuracy"]["nme"] is None for s in r["steps"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dataset", "nope"], "unknown dataset 'nope'"),
        (["--memory", "5"], "smaller than the 10 classes"),
        (["--classes-per-step", "3"], "do not split"),
        (["learner.lr=-1"], "learner.lr is -1.0"),
        (["learner.bogus=1"], "unknown config key 'learner.bogus'"),
        (["--config", "no-such-preset"], "no config file or preset"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    proc = subprocess.run(
        [sys.executable, "-m", "icarl", "run", *QUICK, "--out", str(tmp_path / "x"), *args],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("icarl: error:") and message in err[0]
    assert "Traceback" not in proc.stderr


def test_existing_run_folder_is_not_overwritten(tmp_path):
    out = tmp_path / "keep"
    out.mkdir()
    (out / "results.json").write_text("precious")
    assert main(["run", *QUICK, "--out", str(out)]) == 2
    assert (out / "results.json").read_text() == "precious"


def test_config_toml_and_overrides(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("seed = 3\n[data]\nclasses_per_step = 5\n[learner]\nlr_milestones = [2, 4]\n")
    cfg = load_config(str(f), [parse_override("learner.epochs=6")])
    assert cfg.seed == 3 and cfg.data.classes_per_step == 5
    assert cfg.learner.milestones() == (2, 4) and cfg.learner.epochs == 6
    assert methods.resolve(cfg).learner.seed == 3  # the run's one seed reaches the learner
    with pytest.raises(ConfigError, match="one seed drives a run"):
        load_config(str(f), [parse_override("learner.seed=4")])
    with pytest.raises(ConfigError, match="must be an integer"):
        load_config(str(f), [parse_override("learner.epochs='many'")])
    # the paper's schedule by default: 70 epochs, divided by 5 at 49 and 63
    assert load_config(None).learner.milestones() == (49, 63)
