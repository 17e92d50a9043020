"""Checkpoints and resuming, in process: a crash after any checkpoint write, resumed,
gives exactly the results of an uninterrupted run; config/version/data checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from run_helpers import TINY, Crash, crash_after, strip_timings

from icarl import ICaRL, load_config, methods
from icarl.cli import main
from icarl.data.source import TensorSource
from icarl.experiment import runner
from icarl.files import checkpoint
from icarl.files.checkpoint import CheckpointError, load_checkpoint


def tiny_cfg(**extra: Any):
    return load_config("digits", [TINY, extra])


@pytest.fixture(scope="module")
def reference(tmp_path_factory, digits):
    """An uninterrupted run: its folder, its results (timings removed), its checkpoint writes."""
    out = tmp_path_factory.mktemp("ref")
    seen: list[str] = []
    real = runner.save_checkpoint

    def spy(run_dir, ck):
        seen.append(ck.describe())
        return real(run_dir, ck)

    runner.save_checkpoint = spy
    try:
        results = runner.run(tiny_cfg(), out, data=digits)
    finally:
        runner.save_checkpoint = real
    return out, strip_timings(results), seen


def test_checkpoints_are_written_before_each_step_every_epoch_and_after_each_step(reference):
    out, results, seen = reference
    assert seen == [
        "before step 1",
        "step 1, epoch 1",
        "step 1, epoch 2",
        "after step 1",
        "step 2, epoch 1",
        "step 2, epoch 2",
        "after step 2",
        "step 3, epoch 1",
        "step 3, epoch 2",
        "after step 3",
    ]
    ck = load_checkpoint(out)
    assert ck.finished and ck.steps_done == 3
    assert strip_timings(json.loads((out / "results.json").read_text())) == results


@pytest.mark.parametrize("n", [1, 3, 4, 9, 10])
def test_crash_after_any_checkpoint_then_resume_gives_identical_results(
    tmp_path, monkeypatch, digits, reference, n
):
    crash_after(monkeypatch, n)
    with pytest.raises(Crash):
        runner.run(tiny_cfg(), tmp_path, data=digits)
    monkeypatch.undo()
    ck = load_checkpoint(tmp_path)
    assert not (tmp_path / "results.json").exists()
    assert (ck.training is not None) == (n in (2, 3, 5, 6, 8, 9))
    results = runner.run(tiny_cfg(), tmp_path, data=digits, resume=ck)
    assert strip_timings(results) == reference[1]
    assert strip_timings(json.loads((tmp_path / "results.json").read_text())) == reference[1]


def test_checkpoint_is_plain_tensors_loadable_with_weights_only(reference):
    state = torch.load(reference[0] / "checkpoint.pt", weights_only=True)
    assert state["kind"] == "icarl-run-checkpoint"
    assert state["checkpoint_version"] == checkpoint.CHECKPOINT_VERSION
    assert state["learner"]["net"] is not None and state["training"] is None
    assert state["results"]["class_order"] == reference[1]["class_order"]


def test_resume_refuses_another_configuration(reference):
    from icarl.config import to_dict

    ck = load_checkpoint(reference[0])
    with pytest.raises(CheckpointError, match=r"another configuration \(learner.lr: 0.5 in the checkpoint"):
        checkpoint.check_config(ck, to_dict(tiny_cfg(learner={"lr": 0.25})), reference[0])
    # harmless differences are allowed
    checkpoint.check_config(
        ck, to_dict(tiny_cfg(checkpoint_every=5, learner={"progress": True})), reference[0]
    )


def test_resume_refuses_changed_data(tmp_path, digits, reference):
    (tmp_path / "checkpoint.pt").write_bytes((reference[0] / "checkpoint.pt").read_bytes())
    ck = load_checkpoint(tmp_path)
    changed = type(digits)(
        digits.name,
        type(digits.train)(digits.train.x.flip(3), digits.train.y),
        digits.test,
        digits.class_names,
    )
    with pytest.raises(CheckpointError, match="data differ from those the checkpoint"):
        runner.run(tiny_cfg(), tmp_path, data=changed, resume=ck)
    assert (tmp_path / "checkpoint.pt").read_bytes() == (reference[0] / "checkpoint.pt").read_bytes()


def test_incompatible_version_and_foreign_file(tmp_path, reference):
    state = torch.load(reference[0] / "checkpoint.pt", weights_only=True)
    state["checkpoint_version"] = 99
    torch.save(state, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="checkpoint format version 99, this icarl reads version 1"):
        load_checkpoint(tmp_path)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="is not an icarl run checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes((reference[0] / "checkpoint.pt").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="is unreadable"):
        load_checkpoint(tmp_path)


def test_checkpoint_with_pickled_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    torch.save({"kind": "icarl-run-checkpoint", "x": Evil()}, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="is unreadable"):
        load_checkpoint(tmp_path)
    assert not (tmp_path / "pwned").exists()


# ------------------------------------------------------------------ CLI
def cli(*args: str) -> int:
    return main(["run", "--quiet", *args])


def test_cli_never_overwrites_a_run_without_force_and_reports_a_finished_one(tmp_path, capsys, reference):
    out = reference[0]
    before = (out / "checkpoint.pt").read_bytes()
    assert cli("--out", str(out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists and is not empty; continue it with --resume" in err
    assert (out / "checkpoint.pt").read_bytes() == before
    assert cli("--resume", str(out)) == 0
    text = capsys.readouterr().out
    assert "is already finished; nothing to train" in text
    avg = reference[1]["average_incremental_accuracy"]["nme"]
    assert f"NME {100 * avg:.2f}%" in text
    assert (out / "checkpoint.pt").read_bytes() == before


def test_cli_resume_with_other_options_is_refused(tmp_path, capsys, reference):
    assert cli("--resume", str(reference[0]), "--memory", "70") == 2  # K changes what is kept
    err = capsys.readouterr().err
    assert (
        "was written with another configuration" in err
        and "learner.memory_size: 30 in the checkpoint, 70 now" in err
        and "may change only lr, lr_milestones" in err
    )
    assert cli("--resume", str(tmp_path)) == 2
    assert f"{tmp_path} holds no checkpoint.pt" in capsys.readouterr().err


def test_cli_force_replaces_only_after_validation(tmp_path, capsys, reference):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes((reference[0] / "checkpoint.pt").read_bytes())
    (out / "notes.txt").write_text("mine")
    # invalid: K=3 < 10 classes; nothing may be deleted
    assert cli("--out", str(out), "--force", "--memory", "3") == 2
    assert "memory size K=3 is smaller than the 10 classes" in capsys.readouterr().err
    assert (out / "checkpoint.pt").read_bytes() == (reference[0] / "checkpoint.pt").read_bytes()
    assert (out / "notes.txt").read_text() == "mine"


# ------------------------------------------------ methods with more learned state
class _Rehearsal(ICaRL):
    """Like the joint baseline: overrides _update_representation(source, n_old, hooks) and keeps
    every training image seen so far in ``seen_`` (state the base state_dict does not hold)."""

    def _update_representation(self, source, n_old, hooks):
        x, y = source.take(torch.arange(len(source))).cpu(), source.labels.cpu()
        if not hasattr(self, "seen_"):
            self.seen_ = (x[:0], y[:0])
        self.seen_ = (torch.cat([self.seen_[0], x]), torch.cat([self.seen_[1], y]))
        super()._update_representation(TensorSource(*self.seen_), n_old, hooks)


class _ResumableRehearsal(_Rehearsal):
    def state_dict(self):
        return {**super().state_dict(), "seen": list(getattr(self, "seen_", ()))}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        if state["seen"]:
            self.seen_ = tuple(state["seen"])
        return self


methods.register(methods.Method("test-rehearsal", "test only", _Rehearsal))
methods.register(methods.Method("test-rehearsal-resumable", "test only", _ResumableRehearsal))


def test_subclass_with_extra_state_resumes_exactly(tmp_path, monkeypatch, digits):
    cfg = tiny_cfg(method="test-rehearsal-resumable")
    expected = strip_timings(runner.run(cfg, tmp_path / "ref", data=digits))
    crash_after(monkeypatch, 6)  # step 2, epoch 2: seen_ holds step 1's data
    with pytest.raises(Crash):
        runner.run(cfg, tmp_path / "run", data=digits)
    monkeypatch.undo()
    ck = load_checkpoint(tmp_path / "run")
    assert ck.describe() == "step 2, epoch 2" and len(ck.learner["seen"][1]) > 0
    assert strip_timings(runner.run(cfg, tmp_path / "run", data=digits, resume=ck)) == expected


def test_subclass_with_unsaved_state_is_not_resumed_silently(tmp_path, monkeypatch, digits):
    cfg = tiny_cfg(method="test-rehearsal")
    crash_after(monkeypatch, 4)  # after step 1
    with pytest.raises(Crash):
        runner.run(cfg, tmp_path, data=digits)
    monkeypatch.undo()
    with pytest.raises(
        CheckpointError, match=r"method test-rehearsal keeps state .* \(seen_\), so its run cannot"
    ):
        runner.run(cfg, tmp_path, data=digits, resume=load_checkpoint(tmp_path))
