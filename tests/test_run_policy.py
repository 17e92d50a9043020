"""Run-wide policies that speed depends on: CPU threads and the OpenMP wait policy
(icarl.threads), the automatic batch size, and the per-phase timer. No timings asserted:
those live in benchmarks/e2e.py."""

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
from icarl.config import LearnerConfig, load_config, resolve_batch_size
from icarl.experiment import runner

# torch must not be loaded when the command line sets OMP_WAIT_POLICY: record the value
# the environment holds at the moment something first imports torch
PROBE = """
import os, sys
seen = []
class Probe:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not seen:
            seen.append(os.environ.get("OMP_WAIT_POLICY"))
        return None
sys.meta_path.insert(0, Probe())
import icarl.cli
print(seen[0] if seen else "torch never imported")
"""


def _probe(env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | env_extra
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


def test_command_line_sets_a_passive_wait_policy_before_torch_loads() -> None:
    assert _probe({}) == threads.WAIT_POLICY
    assert _probe({"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"  # the user's choice stands


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


def test_apply_respects_the_flag_then_omp_num_threads(monkeypatch) -> None:
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(threads, "cpus_available", lambda: 3)
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        assert threads.apply() == 3 and torch.get_num_threads() == 3
        torch.set_num_threads(2)
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert threads.apply() == 2 and torch.get_num_threads() == 2  # the user's variable stands
        assert threads.apply(1) == 1 and torch.get_num_threads() == 1  # --threads wins over it
    finally:
        torch.set_num_threads(before)


def test_threads_flag_sets_torch_threads_and_refuses_nonsense(capsys) -> None:
    before = torch.get_num_threads()
    try:
        assert main(["run", "--threads", "1", "--dry-run", "--epochs", "1"]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(SystemExit) as e:
        main(["run", "--threads", "0"])
    assert e.value.code == 2
    assert "not a positive whole number of threads" in capsys.readouterr().err


def test_auto_batch_size_follows_the_first_step() -> None:
    auto = LearnerConfig(batch_size=0)
    assert resolve_batch_size(auto, 500).batch_size == 64
    assert resolve_batch_size(auto, 12_000).batch_size == 128
    assert resolve_batch_size(LearnerConfig(batch_size=32), 12_000).batch_size == 32
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
