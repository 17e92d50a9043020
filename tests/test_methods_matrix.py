"""Every registered method, the same contract: its settings are what the run records, its
mid-step checkpoints resume exactly, and a saved model loads back as the same method and
learns one more step exactly as the live learner does."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from run_helpers import TINY, Crash, crash_after, record_checkpoints, strip_timings

import icarl
from icarl import ICaRL, load_config, methods
from icarl.cli import main
from icarl.errors import NotFittedError
from icarl.experiment import runner
from icarl.files.checkpoint import load_checkpoint

METHODS = ["icarl", "hybrid1", "hybrid2", "hybrid3", "incm", "lwf", "finetune", "fixed", "joint"]


def tiny(**extra: Any) -> icarl.RunConfig:
    return load_config("digits", [TINY, extra])


def test_the_matrix_covers_every_registered_method() -> None:
    assert set(METHODS) <= set(methods.available())
    assert not {m for m in methods.available() if not m.startswith("test-")} - set(METHODS)


@pytest.mark.parametrize("name", METHODS)
def test_every_method_resumes_from_a_mid_step_checkpoint_exactly(name, tmp_path, monkeypatch, digits):
    seen = record_checkpoints(monkeypatch)
    expected = strip_timings(runner.run(tiny(method=name), tmp_path / "ref", data=digits))
    # mid-step checkpoints in every step, not only the first (fixed once lost them after step 1)
    assert {"step 2, epoch 1", "step 3, epoch 1", "step 3, epoch 2"} <= set(seen), seen
    monkeypatch.undo()
    crash_after(monkeypatch, seen.index("step 3, epoch 1") + 1)
    with pytest.raises(Crash):
        runner.run(tiny(method=name), tmp_path / "run", data=digits)
    monkeypatch.undo()
    ck = load_checkpoint(tmp_path / "run")
    assert ck.describe() == "step 3, epoch 1" and ck.training is not None
    resumed = runner.run(tiny(method=name), tmp_path / "run", data=digits, resume=ck)
    assert strip_timings(resumed) == expected


@pytest.mark.parametrize("name", METHODS)
def test_every_method_saves_loads_and_learns_one_more_step(name, tmp_path, capsys, digits):
    cfg = methods.resolve(tiny(method=name))
    stream = runner.make_stream(cfg, digits)
    live = methods.create(name, cfg.learner)
    for step in list(stream)[:2]:
        live.partial_fit(step.train.x, step.train.y)
    path = live.save(tmp_path / "model.icarl")
    back = icarl.load(path)
    assert type(back) is type(live) and back.method == name and back.config == live.config
    test = stream[2].test_seen.x
    assert np.array_equal(back.predict(test), live.predict(test))
    last = stream[2].train
    for learner in (live, back):
        learner.partial_fit(last.x, last.y)
    assert back.classes_.tolist() == live.classes_.tolist() and back.memory_.counts() == live.memory_.counts()
    assert np.array_equal(back.predict(test), live.predict(test))
    assert main(["info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["method"] == name


def test_finetune_run_records_the_settings_it_trained_with(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["run", "--method", "finetune", "--epochs", "1", "--quiet", "data.classes=[0,1,2,3]"]
    assert main([*args, "--out", str(out)]) == 0
    recorded = json.loads((out / "results.json").read_text())["config"]["learner"]
    assert (recorded["memory_size"], recorded["distillation"], recorded["classifier"]) == (0, "none", "cnn")
    capsys.readouterr()
    assert main([*args, "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "memory_size = 0" in dry and 'distillation = "none"' in dry and 'classifier = "cnn"' in dry


def test_a_run_records_the_config_of_the_learner_it_was_given(tmp_path, digits):
    learner = methods.create("lwf", tiny().learner)
    results = runner.run(tiny(method="lwf"), None, data=digits, learner=learner)
    assert results["config"]["learner"]["memory_size"] == 0 == learner.config.memory_size
    assert results["config"]["learner"]["distillation"] == "bce"


@pytest.mark.parametrize(
    "call",
    [
        lambda m, x: m.predict(x),
        lambda m, x: m.score(x, torch.zeros(len(x), dtype=torch.long)),
        lambda m, x: m.decision_scores(x),
        lambda m, x: m.features(x),
    ],
)
def test_an_unfitted_learner_says_so_in_one_line(call) -> None:
    x = torch.zeros(2, 1, 8, 8, dtype=torch.uint8)
    with pytest.raises(
        NotFittedError, match=r"^this learner has not learned any classes yet; call partial_fit"
    ):
        call(ICaRL(backbone="small_cnn", device="cpu"), x)
