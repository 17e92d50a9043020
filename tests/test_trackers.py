"""Trackers (issue 26): W&B offline, MLflow's file store and TensorBoard, read back after a tiny
digits run, a killed and resumed run continuing the same tracker runs, and the one-line errors
when an extra is missing. Each library's tests are skipped where it is not installed."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from run_helpers import TINY, Crash, crash_after

from icarl.cli import main
from icarl.config import ConfigError, load_config
from icarl.experiment import metrics, runner, trackers
from icarl.experiment.loggers import LogOptions, parse_log
from icarl.files.checkpoint import load_checkpoint
from icarl.train.callbacks import RunInfo

LIBRARIES = {"wandb": "wandb", "mlflow": "mlflow", "tensorboard": "tensorboard"}
INSTALLED = tuple(n for n, lib in LIBRARIES.items() if importlib.util.find_spec(lib) is not None)
TRACKER_ENV = ("WANDB_MODE", "WANDB_DIR", "WANDB_PROJECT", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")


def _clean_env(mp: pytest.MonkeyPatch) -> None:
    """The defaults under test: no tracker settings from the caller's environment."""
    for name in TRACKER_ENV:
        mp.delenv(name, raising=False)
    mp.setenv("WANDB_SILENT", "true")


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, digits) -> tuple[dict[str, Any], Path, Any]:
    """One tiny run logged to every installed tracker at once (one run to read back three ways)."""
    if not INSTALLED:
        pytest.skip("none of wandb, mlflow, tensorboard is installed")
    cfg = load_config("digits", [TINY])
    out = tmp_path_factory.mktemp("tracked") / "run"
    with pytest.MonkeyPatch.context() as mp:
        _clean_env(mp)
        res = runner.run(cfg, out, data=digits, log=LogOptions(INSTALLED))
    return res, out, cfg


def _epochs(res: dict[str, Any], epochs: int) -> list[tuple[int, float, float]]:
    """(epoch counted over the run, loss, lr) of every epoch in results.json."""
    return [(s["step"] * epochs + e["epoch"], e["loss"], e["lr"]) for s in res["steps"] for e in s["epochs"]]


def _expected_summary(res: dict[str, Any]) -> dict[str, float]:
    """The summary metrics, forgetting recomputed here from the recorded accuracy rows."""
    out = {}
    for k in ("nme", "cnn"):
        a = metrics.accuracy_matrix([s["accuracy_row"][k] for s in res["steps"]])
        accs = [s["accuracy"][k] for s in res["steps"]]
        out[f"forgetting/{k}"] = metrics.forgetting(a)
        out[f"backward_transfer/{k}"] = metrics.backward_transfer(a)
        out[f"average_incremental_accuracy/{k}"] = metrics.average_incremental_accuracy(accs)
        out[f"final_accuracy/{k}"] = metrics.final_accuracy(accs)
    assert all(math.isfinite(v) for v in out.values())  # internal: the tiny run has 3 steps
    return out


# ------------------------------------------------------------------ MLflow
def _mlflow_client(out: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 reads its file store only so
    return MlflowClient(tracking_uri=(out / "mlruns").resolve().as_uri())


def test_mlflow_file_store_holds_params_metrics_tags_and_figures(tracked, monkeypatch):
    res, out, cfg = tracked
    client = _mlflow_client(out, monkeypatch)
    rid = json.loads((out / "trackers.json").read_text())["mlflow"]["run_id"]
    run = client.get_run(rid)
    assert run.info.status == "FINISHED" and run.info.run_name == out.name
    params = run.data.params
    assert float(params["learner.lr"]) == cfg.learner.lr and params["learner.epochs"] == "2"
    assert json.loads(params["data.classes"]) == [0, 1, 2, 3, 4, 5]
    assert params["learner.batch_size"] == str(res["config"]["learner"]["batch_size"])  # resolved
    loss = [(m.step, m.value) for m in client.get_metric_history(rid, "train/loss")]
    lr = [(m.step, m.value) for m in client.get_metric_history(rid, "train/lr")]
    expected = _epochs(res, cfg.learner.epochs)
    assert loss == [(at, pytest.approx(v, rel=1e-6)) for at, v, _ in expected]
    assert lr == [(at, pytest.approx(v)) for at, _, v in expected]
    nme = [(m.step, m.value) for m in client.get_metric_history(rid, "accuracy/nme")]
    assert nme == [(s["seen_classes"], pytest.approx(s["accuracy"]["nme"])) for s in res["steps"]]
    for key, value in _expected_summary(res).items():
        assert run.data.metrics[key] == pytest.approx(value), key
        assert run.data.metrics[key] == pytest.approx(res[key.split("/")[0]][key.split("/")[1]])
    tags = run.data.tags
    assert tags["environment.threads"] == str(res["environment"]["threads"])
    assert tags["versions.torch"] == res["versions"]["torch"]
    artifacts = {a.path for a in client.list_artifacts(rid)}
    assert {"accuracy.png", "accuracy_matrix.png", "results.json"} <= artifacts


# ------------------------------------------------------------------ W&B
def _inspect(path: Path, *options: str) -> str:
    """The records of an offline run's .wandb transaction log as JSON. wandb 0.31 writes no
    config.yaml or wandb-summary.json offline and has no Python reader of the log any more
    (wandb.sdk.internal.datastore is gone); ``wandb leet inspect --json`` is its own reader
    (wandb-core, the code ``wandb sync`` uploads with), one JSON object per record."""
    cmd = [sys.executable, "-m", "wandb", "leet", "inspect", "--json", *options, str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _records(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _inspect(run_dir).splitlines() if line.strip()]


def _offline_runs(out: Path) -> list[Path]:
    return sorted((out / "wandb").glob("offline-run-*"))


def test_wandb_offline_run_holds_config_history_summary_and_figures(tracked):
    pytest.importorskip("wandb")
    res, out, cfg = tracked
    (run_dir,) = _offline_runs(out)
    run_id = json.loads((out / "trackers.json").read_text())["wandb"]["id"]
    assert run_dir.name.endswith(f"-{run_id}")
    summary = json.loads(_inspect(run_dir, "--summary"))
    assert summary["state"] == "finished" and summary["project"] == "icarl"
    config = summary["config"]
    assert config["learner.lr"] == cfg.learner.lr and config["data.classes"] == [0, 1, 2, 3, 4, 5]
    assert config["environment.threads"] == res["environment"]["threads"]
    assert config["versions.torch"] == res["versions"]["torch"]
    for key, value in _expected_summary(res).items():
        assert summary["summary"][key] == pytest.approx(value), key
    history = [r["history"]["item"] for r in _records(run_dir) if r["type"] == "history"]
    epochs = [(h["train/epoch"], h["train/loss"], h["train/lr"]) for h in history if "train/loss" in h]
    expected = _epochs(res, cfg.learner.epochs)
    assert epochs == [(at, pytest.approx(loss, rel=1e-6), pytest.approx(lr)) for at, loss, lr in expected]
    accs = [(h["classes_seen"], h["accuracy/nme"]) for h in history if "accuracy/nme" in h]
    assert accs == [(s["seen_classes"], pytest.approx(s["accuracy"]["nme"])) for s in res["steps"]]
    (images,) = [h for h in history if "figures/accuracy.path" in h]
    assert (run_dir / "files" / images["figures/accuracy.path"]).stat().st_size > 1000


# ------------------------------------------------------------------ TensorBoard
def test_tensorboard_gets_hparams_summary_metrics_and_figures(tracked):
    pytest.importorskip("tensorboard")
    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    res, out, cfg = tracked
    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hp = start.session_start_info.hparams
    assert hp["learner.lr"].number_value == cfg.learner.lr
    assert json.loads(hp["data.classes"].string_value) == [0, 1, 2, 3, 4, 5]
    assert hp["method"].string_value == "icarl"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    expected = _expected_summary(res)
    assert {m.name.tag for m in experiment.metric_infos} == set(expected)
    for key, value in expected.items():
        assert [e.value for e in acc.Scalars(key)] == [pytest.approx(value)], key
    for name in ("accuracy", "accuracy_matrix"):
        (image,) = acc.Images(f"figures/{name}")
        with Image.open(out / f"{name}.png") as png:
            assert (image.width, image.height) == png.size


# ------------------------------------------------------------------ resume
def test_a_resumed_run_continues_the_same_tracker_runs(tmp_path, monkeypatch, digits):
    names = tuple(n for n in ("wandb", "mlflow") if n in INSTALLED)
    if not names:
        pytest.skip("neither wandb nor mlflow is installed")
    _clean_env(monkeypatch)
    cfg = load_config("digits", [TINY])
    out = tmp_path / "run"
    crash_after(monkeypatch, 3)  # before step 1, step 1 epoch 1, step 1 epoch 2 -> killed
    with pytest.raises(Crash):
        runner.run(cfg, out, data=digits, log=LogOptions(names))
    first = json.loads((out / "trackers.json").read_text())
    monkeypatch.undo()
    _clean_env(monkeypatch)
    res = runner.run(cfg, out, data=digits, resume=load_checkpoint(out), log=LogOptions(names))
    assert json.loads((out / "trackers.json").read_text()) == first
    all_epochs = [at for at, _, _ in _epochs(res, cfg.learner.epochs)]
    if "mlflow" in names:
        client = _mlflow_client(out, monkeypatch)
        (exp,) = [e for e in client.search_experiments() if e.name == "icarl"]
        (run,) = client.search_runs([exp.experiment_id])  # one run, continued
        assert run.info.run_id == first["mlflow"]["run_id"] and run.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")]
        assert sorted(set(steps)) == all_epochs  # epochs trained before and after the kill
        assert run.data.metrics["final_accuracy/nme"] == pytest.approx(res["final_accuracy"]["nme"])
    if "wandb" in names:
        killed, resumed = _offline_runs(out)  # one folder per process, one run id: wandb sync joins them
        runs = [next(r["run"] for r in _records(d) if r["type"] == "run") for d in (killed, resumed)]
        assert [r["run_id"] for r in runs] == [first["wandb"]["id"]] * 2
        exits = [
            [r["exit"].get("exit_code", 0) for r in _records(d) if r["type"] == "exit"]
            for d in (killed, resumed)
        ]
        assert exits == [[1], [0]]
        history = [
            r["history"]["item"] for d in (killed, resumed) for r in _records(d) if r["type"] == "history"
        ]
        assert sorted({h["train/epoch"] for h in history if "train/epoch" in h}) == all_epochs


# ------------------------------------------------------------------ settings, errors
def test_wandb_is_offline_in_the_run_folder_unless_the_environment_says_otherwise(tmp_path, monkeypatch):
    _clean_env(monkeypatch)
    args = trackers.wandb_init_args(tmp_path, None)
    assert args["mode"] == "offline" and args["dir"] == str(tmp_path) and args["project"] == "icarl"
    assert "id" not in args and "resume" not in args
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("WANDB_PROJECT", "mine")
    args = trackers.wandb_init_args(tmp_path, "abc123")
    assert "mode" not in args and "dir" not in args  # wandb reads WANDB_MODE and WANDB_DIR itself
    assert args["project"] == "mine" and (args["id"], args["resume"]) == ("abc123", "allow")


def test_mlflow_uses_a_file_store_in_the_run_folder_unless_a_tracking_uri_is_set(tmp_path, monkeypatch):
    _clean_env(monkeypatch)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    assert trackers.mlflow_uri(tmp_path) == (tmp_path / "mlruns").resolve().as_uri()
    assert os.environ["MLFLOW_ALLOW_FILE_STORE"] == "true"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert trackers.mlflow_uri(tmp_path) == "http://127.0.0.1:5000"


def _info(out_dir: Path | None, resumed: bool) -> RunInfo:
    results = {"config": {"learner": {"lr": 2.0}}, "steps": []}
    return RunInfo(load_config("digits", []), out_dir, None, 3, results, resumed=resumed)


def test_only_a_resumed_run_continues_a_recorded_tracker_run(tmp_path):
    trackers.write_id(tmp_path, "wandb", {"id": "abc123"})
    trackers.write_id(tmp_path, "mlflow", {"run_id": "r1", "tracking_uri": "file:///x"})
    assert trackers.continued(_info(tmp_path, resumed=True), "wandb") == {"id": "abc123"}
    assert trackers.continued(_info(tmp_path, resumed=True), "mlflow")["run_id"] == "r1"
    assert trackers.continued(_info(tmp_path, resumed=False), "wandb") == {}  # fresh or --force: a new run
    (tmp_path / "trackers.json").write_text("{not json")
    assert trackers.continued(_info(tmp_path, resumed=True), "wandb") == {}


@pytest.mark.parametrize("name", ["wandb", "mlflow"])
def test_a_missing_extra_is_a_one_line_error_naming_it(name, tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr("importlib.util.find_spec", lambda n, *a: None if n == name else real(n, *a))
    message = f"--log {name} needs the {name} package; pip install 'icarl[{name}]'"
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_log(f"csv,{name}")
    out = tmp_path / "r"
    assert main(["run", "--classes", "0,1", "--epochs", "1", "--log", name, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"icarl: error: {message}"]
    assert not out.exists()
    # from Python, a logger object given without the extra says the same when the run starts
    monkeypatch.setitem(sys.modules, name, None)  # import fails
    logger = trackers.WandbLogger() if name == "wandb" else trackers.MLflowLogger()
    with pytest.raises(ConfigError, match=re.escape(message)):
        logger.on_run_start(_info(tmp_path, resumed=False))


def test_without_a_run_folder_the_trackers_do_nothing(tmp_path, monkeypatch):
    """No run folder (``icarl.run`` without one; every rank but 0 under DDP): nothing is
    imported, started or written, not even where the process runs."""
    monkeypatch.chdir(tmp_path)
    for name in ("wandb", "mlflow"):
        monkeypatch.setitem(sys.modules, name, None)  # an import would fail
    info = _info(None, resumed=False)
    for logger in (trackers.WandbLogger(), trackers.MLflowLogger()):
        logger.on_run_start(info)
        logger.on_step_end(info)
        logger.on_run_end(info)
    assert list(tmp_path.iterdir()) == []
