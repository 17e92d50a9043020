"""Run-wide policies that speed depends on: CPU threads and how they follow a busy machine
(icarl.threads), the automatic batch size, and the per-phase timer. No timings asserted:
those live in benchmarks/e2e.py and benchmarks/RESULTS.md."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import torch

from icarl import threads, timing
from icarl.algorithm.learner import ICaRL
from icarl.cli import main
from icarl.config import LearnerConfig, load_config, resolve_learner
from icarl.experiment import runner


def test_importing_the_package_does_not_load_torch() -> None:
    code = "import sys, icarl; print('torch' in sys.modules, icarl.__version__); icarl.ICaRL"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "False"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = __import__("icarl").nothing


def test_cpus_from_the_cgroup_quota(tmp_path, monkeypatch) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert threads._cgroup_cpus(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads._cgroup_cpus(tmp_path) is None
    assert threads._cgroup_cpus(tmp_path / "missing") is None
    monkeypatch.setattr(threads, "_cgroup_cpus", lambda: 1.5)
    assert threads.cpus_available() == 1
    monkeypatch.setattr(threads, "_cgroup_cpus", lambda: None)
    assert threads.cpus_available() == len(os.sched_getaffinity(0))


def test_default_threads_are_shared_among_torchrun_processes(monkeypatch) -> None:
    monkeypatch.setattr(threads, "cpus_available", lambda: 16)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert threads.default_threads() == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "32")
    assert threads.default_threads() == 1


def test_apply_fixes_one_count_from_the_flag_then_omp_num_threads(monkeypatch) -> None:
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(threads, "cpus_available", lambda: 3)
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        assert threads.apply() == 3 and torch.get_num_threads() == 3
        assert threads.policy()["threads_policy"] == "fixed" and threads.policy()["threads"] == 3
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert threads.apply() == 2 and torch.get_num_threads() == 2  # the user's variable stands
        assert threads.apply(1) == 1 and torch.get_num_threads() == 1  # --threads wins over it
        assert threads.policy()["threads"] == 1
        assert threads.apply("auto") == 3 and threads.policy()["threads_policy"] == "auto"
        assert threads.apply(schedule=[2, 1, 2]) == 2 and threads.current() == "replay"
        seen = []
        for _ in range(4):
            threads.adjust()
            seen.append(torch.get_num_threads())
        assert seen == [2, 1, 2, 2]  # the recorded counts in order, then the last one kept
    finally:
        torch.set_num_threads(before)


def test_threads_values_parse() -> None:
    assert threads.parse("3") == 3 and threads.parse("AUTO") == "auto"
    for bad in ("0", "-1", "two", ""):
        with pytest.raises(ValueError, match="not a positive whole number"):
            threads.parse(bad)


def test_governor_gives_up_the_cpus_others_keep_busy_and_takes_them_back(monkeypatch) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        gov = threads.Governor(4, spare=0)
        assert threads.Governor(4, spare=8).target(others=9.0) == 3  # 8 busy CPUs are not ours
        clock = {"t": 0.0, "busy": 0.0, "own": 0.0}
        monkeypatch.setattr(threads, "_sample", lambda: (clock["t"], clock["busy"], clock["own"]))
        gov.last = threads._sample()

        def second(busy: float, own: float) -> int:
            clock["t"] += 1.0
            clock["busy"] += busy
            clock["own"] += own
            return gov.adjust()

        assert second(busy=4.0, own=3.9) == 4  # alone
        assert second(busy=4.0, own=1.0) == 1 and torch.get_num_threads() == 1  # 3 CPUs taken
        assert second(busy=3.0, own=1.0) == 2  # now 2 taken
        assert second(busy=2.0, own=2.0) == 4 and torch.get_num_threads() == 4  # free again
        assert gov.used == {1, 2, 4}
        clock["t"] += threads.MIN_INTERVAL / 10
        assert gov.adjust() == 4  # too soon to look again
        torch.set_num_threads(3)  # someone else set the count (e.g. --deterministic): left alone
        assert second(busy=4.0, own=1.0) == 3 and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_others_busy_from_two_samples(tmp_path) -> None:
    assert threads.others_busy((0.0, 10.0, 1.0), (2.0, 14.0, 2.0)) == 1.5
    assert threads.others_busy((0.0, 10.0, 1.0), (2.0, 10.0, 3.0)) == 0.0  # never negative
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 ...\n")
    _, busy, own = threads._sample(stat)
    assert busy == pytest.approx(150 / os.sysconf("SC_CLK_TCK")) and own > 0
    stat.write_text("garbage\n")
    assert threads._sample(stat) is None


def test_threads_flag_sets_torch_threads_for_the_command_only(capsys, monkeypatch) -> None:
    before = torch.get_num_threads()
    during: list[int] = []
    real = threads.apply
    monkeypatch.setattr(threads, "apply", lambda n=None, **k: during.append(real(n, **k)) or during[-1])
    monkeypatch.setattr("icarl.cli.run.dry_run", lambda cfg: during.append(torch.get_num_threads()) or 0)
    assert main(["run", "--threads", "1", "--dry-run", "--epochs", "1"]) == 0
    assert during == [1, 1] and torch.get_num_threads() == before  # restored afterwards
    assert threads.current() is None  # no policy outlives the command
    with pytest.raises(SystemExit) as e:
        main(["run", "--threads", "0"])
    assert e.value.code == 2
    assert "not a positive whole number of threads" in capsys.readouterr().err


def test_auto_batch_size_follows_the_first_step() -> None:
    auto = LearnerConfig(batch_size=0)
    assert resolve_learner(auto, first_step_images=500).batch_size == 64
    assert resolve_learner(auto, first_step_images=12_000).batch_size == 128
    assert resolve_learner(LearnerConfig(batch_size=32), first_step_images=12_000).batch_size == 32
    with pytest.raises(Exception, match="batch_size is -1"):
        LearnerConfig(batch_size=-1).check()


def test_auto_batch_size_is_resolved_by_the_learner_and_recorded_by_runs(digits) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=g)
    learner = ICaRL(backbone="mlp", memory_size=20, epochs=1, batch_size=0, progress=False)
    learner.partial_fit(x, torch.arange(40) % 2)
    assert learner.config.batch_size == 64
    cfg = load_config("digits", [{"data": {"classes": [0, 1, 2, 3]}, "learner": {"epochs": 1}}])
    assert cfg.learner.batch_size == 0  # the digits preset asks for auto
    res = runner.run(replace(cfg, learner=replace(cfg.learner, progress=False)), None, data=digits)
    assert res["config"]["learner"]["batch_size"] == 64  # digits' first step is small
    stream = runner.make_stream(cfg, digits)
    assert [stream.train_size(i) for i in range(len(stream))] == [len(s.train) for s in stream]


def test_phase_timer_adds_nested_and_repeated_phases() -> None:
    before = timing.totals()
    with timing.phase("t-outer"):
        time.sleep(0.01)
        with timing.phase("t-inner"):
            time.sleep(0.01)
    with timing.phase("t-inner"):
        time.sleep(0.01)
    spent = timing.since(before)
    assert spent["t-inner"] >= 0.02 and spent["t-outer"] >= 0.02
    assert spent["t-outer"] < spent["t-inner"] + 0.02  # the outer one once, the inner twice
    assert "train" not in spent
