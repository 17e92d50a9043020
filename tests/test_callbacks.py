"""One list of callbacks (icarl.train.callbacks): a user's callback object and a user's logger
object hear a run's events, in order, with the numbers the run records; callbacks observe
(a run with them gives the same results); one owner of the configuration."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import torch
from run_helpers import strip_timings
from torch import nn
from torch.nn import functional as F

import icarl
from icarl import ICaRL
from icarl.config import DataConfig, LearnerConfig, RunConfig, load_config
from icarl.errors import IcarlError
from icarl.experiment import runner
from icarl.experiment.estimate import forward_flops
from icarl.registry import Registry
from icarl.train import TrainingDiverged
from icarl.train.callbacks import Callback, EpochEnd, RunInfo

TINY = {"learner": {"backbone": "mlp", "epochs": 2, "progress": False}, "data": {"classes": [0, 1, 2, 3]}}


class Recorder(Callback):
    """A user's callback: every event, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_run_start(self, run: RunInfo) -> None:
        self.events.append(("run_start", run.steps, run.config.method))

    def on_step_start(self, run: RunInfo) -> None:
        self.events.append(("step_start", run.step))

    def on_epoch_end(self, epoch: EpochEnd) -> None:
        self.events.append(("epoch", epoch.step, epoch.epoch, epoch.epochs, epoch.loss, epoch.lr))

    def on_step_end(self, run: RunInfo) -> None:
        assert run.record is not None
        self.events.append(("step_end", run.step, run.record["accuracy"]["nme"]))

    def on_checkpoint(self, run: RunInfo) -> None:
        self.events.append(("checkpoint", run.checkpoint))

    def on_run_end(self, run: RunInfo) -> None:
        self.events.append(("run_end", run.finished))


class PlainLogger:
    """A user's logger: no base class, only the two hooks it needs."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []
        self.steps: list[int] = []

    def on_epoch_end(self, epoch: EpochEnd) -> None:
        self.rows.append({"step": epoch.step, "epoch": epoch.epoch, "loss": epoch.loss, "lr": epoch.lr})

    def on_step_end(self, run: RunInfo) -> None:
        self.steps.append(run.step)


def test_a_user_callback_hears_every_event_in_order(digits, tmp_path) -> None:
    cfg = load_config("digits", [TINY, {"checkpoint_every": 1}])
    rec = Recorder()
    res = runner.run(cfg, tmp_path / "run", data=digits, callbacks=[rec])
    kinds = [e[0] for e in rec.events]
    # per step: its start (the run's first checkpoint before the first step), each epoch and the
    # checkpoint after it (checkpoint_every = 1), its end and the checkpoint after it
    per_step = ["step_start", "epoch", "checkpoint", "epoch", "checkpoint", "step_end", "checkpoint"]
    assert kinds == ["run_start", *per_step[:1], "checkpoint", *per_step[1:], *per_step, "run_end"]
    assert rec.events[0] == ("run_start", 2, "icarl") and rec.events[-1] == ("run_end", True)
    epochs = [e[1:] for e in rec.events if e[0] == "epoch"]
    recorded = [(s["step"], e["epoch"], 2, e["loss"], e["lr"]) for s in res["steps"] for e in s["epochs"]]
    assert epochs == recorded  # the numbers results.json records
    ends = [e for e in rec.events if e[0] == "step_end"]
    assert [e[2] for e in ends] == [s["accuracy"]["nme"] for s in res["steps"]]
    plain = runner.run(cfg, tmp_path / "plain", data=digits)
    assert strip_timings(res) == strip_timings(plain)  # callbacks observe: the same run


def test_a_user_logger_object_receives_epoch_events(digits) -> None:
    logger = PlainLogger()
    res = icarl.run(load_config("digits", [TINY]), data=digits, callbacks=[logger])
    assert [(r["step"], r["epoch"]) for r in logger.rows] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert [r["loss"] for r in logger.rows] == [e["loss"] for s in res["steps"] for e in s["epochs"]]
    assert logger.steps == [0, 1]


def test_partial_fit_tells_its_callbacks_each_epoch_with_the_learner_step(digits) -> None:
    logger = PlainLogger()
    learner = ICaRL(backbone="mlp", memory_size=40, epochs=3, progress=False)
    x, y = digits.train.x, digits.train.y
    learner.partial_fit(x[y < 2], y[y < 2], callbacks=[logger])
    learner.partial_fit(x[(y == 2) | (y == 3)], y[(y == 2) | (y == 3)], callbacks=[logger])
    assert [(r["step"], r["epoch"]) for r in logger.rows] == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)]
    assert logger.steps == []  # step events belong to a run, not to partial_fit


def test_a_failed_run_still_ends_and_an_object_without_hooks_is_refused(digits) -> None:
    rec = Recorder()
    diverging = load_config("digits", [TINY, {"learner": {"lr": 1e30}}])
    with pytest.raises(TrainingDiverged):
        runner.run(diverging, None, data=digits, callbacks=[rec])
    assert rec.events[-1] == ("run_end", False)  # loggers close their files either way
    with pytest.raises(IcarlError, match="has none of the hooks on_run_start"):
        runner.run(load_config("digits", [TINY]), None, data=digits, callbacks=[object()])


# ------------------------------------------------------------- one owner of the config
def test_set_params_memory_size_then_partial_fit_uses_the_new_budget(digits) -> None:
    x, y = digits.train.x, digits.train.y
    learner = ICaRL(memory_size=20, backbone="mlp", epochs=1, progress=False).set_params(memory_size=100)
    learner.partial_fit(x[y < 2], y[y < 2])  # issue 24: "memory holds 50 exemplars, over its budget K=20"
    assert learner.memory_.counts() == {0: 50, 1: 50} and learner.config.memory_size == 100
    learner.set_params(memory_size=40)  # a fitted learner: the next step's budget
    learner.partial_fit(x[(y == 2) | (y == 3)], y[(y == 2) | (y == 3)])
    assert learner.memory_.counts() == {0: 10, 1: 10, 2: 10, 3: 10}
    assert learner.state_dict()["memory"]["memory_size"] == 40


def test_set_params_on_a_fitted_learner_refuses_another_network(digits) -> None:
    keep = digits.train.y < 2
    learner = ICaRL(backbone="mlp", memory_size=20, epochs=1, progress=False)
    learner.partial_fit(digits.train.x[keep], digits.train.y[keep])
    with pytest.raises(IcarlError, match="backbone describes how the network is built"):
        learner.set_params(backbone="small_cnn")
    assert learner.config.backbone == "mlp"  # a refused change leaves the learner as it was
    learner.set_params(channels_last=False, device="cpu", lr=0.1)  # carried over: the same network
    assert learner.config.lr == 0.1 and learner.predict(digits.test.x[:5]).shape == (5,)


def test_a_given_learner_keeps_its_configuration_and_the_run_records_what_it_trains_with(digits) -> None:
    learner = ICaRL(backbone="mlp", memory_size=40, epochs=1, batch_size=0, progress=False)
    before = learner.config
    res = runner.run(load_config("digits", [TINY]), None, data=digits, learner=learner)
    assert before.batch_size == 0 and learner.config.batch_size == 64  # resolved by the learner itself
    assert res["config"]["learner"]["batch_size"] == 64 and res["config"]["learner"]["epochs"] == 1


def test_a_run_checks_each_configuration_value_once(digits, monkeypatch) -> None:
    calls = {"learner": 0, "run": 0, "data": 0}
    for name, cls in (("learner", LearnerConfig), ("run", RunConfig), ("data", DataConfig)):

        def counted(self: Any, _orig: Any = cls.check, _name: str = name) -> Any:
            calls[_name] += 1
            return _orig(self)

        monkeypatch.setattr(cls, "check", counted)
    # values no other test checked (an equal value checked before counts as checked: a WeakSet)
    unique = {"seed": 4242, "data": {"memory_budget": 0.4242}, "learner": {"temperature": 2.4242}}
    cfg = load_config("digits", [TINY, unique])
    runner.run(replace(cfg, checkpoint_every=3), None, data=digits)
    # the command line's value once (load_config), the runner's (another checkpoint_every) once,
    # the resolved learner once (the learner it builds from that same value is not checked again)
    assert calls == {"learner": 2, "run": 2, "data": 1}


# ------------------------------------------------------------------------ registries
def test_registering_a_name_twice_warns_and_unknown_names_list_the_known() -> None:
    reg: Registry[int] = Registry("widget", IcarlError)
    reg.register("a", 1)
    reg.register("a", 1)  # the same entry again: no warning
    with pytest.warns(UserWarning, match="widget 'a' was registered before; replacing it"):
        reg.register("a", 2)
    reg.register("a", 3, replace=True)  # meant: silent
    assert reg.get("a") == 3 and reg.names() == ["a"]
    with pytest.raises(IcarlError, match="unknown widget 'b'; choose one of: a"):
        reg.get("b")


def test_flops_are_counted_by_torch_whatever_the_module_calls() -> None:
    class Functional(nn.Module):
        """A user's backbone that calls the functional ops itself (no Conv2d, no Linear)."""

        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(8, 3, 3, 3))
            self.fc = nn.Parameter(torch.randn(8 * 8 * 8, 5))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.conv2d(x, self.w, padding=1).flatten(1) @ self.fc

    conv = 2 * (8 * 8 * 8) * (3 * 9)
    fc = 2 * 5 * (8 * 8 * 8)
    assert forward_flops(Functional(), torch.zeros(2, 3, 8, 8)) == 2 * (conv + fc)
