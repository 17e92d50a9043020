"""SIGKILL a deterministic ``icarl run`` at random moments (one in the middle of a
checkpoint write), resume each time, and compare the final results.json with an
uninterrupted run's: identical except for timings."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from icarl.files.atomic import PAUSE_ENV, temp_path
from icarl.files.checkpoint import CHECKPOINT_NAME, load_checkpoint

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")

ARGS = ["--quiet", "--deterministic", "--epochs", "3", "--checkpoint-every", "1", "--memory", "100"]
RANDOM_KILLS = 5


def launch(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "icarl", "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=full_env,
    )


def wait_for_table(proc: subprocess.Popen[str]) -> None:
    """Block until the run prints its table header: the data are loaded, training starts."""
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        if line.startswith("step  classes"):
            return
        lines.append(line)
    raise AssertionError(f"run ended before training (exit {proc.wait()}): {''.join(lines)}")


def checkpoint_id(path: Path) -> tuple[int, int]:
    """Changes with every replacement (inode numbers can be reused: the mtime tells apart)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return (-1, -1)
    return (st.st_ino, st.st_mtime_ns)


def wait_for_writes(proc: subprocess.Popen[str], path: Path, count: int, then: float = 0.0) -> None:
    """Block until ``path`` has been replaced ``count`` times, then up to ``then`` seconds
    more, but not past one further replacement (or the end of the run)."""
    last, seen = checkpoint_id(path), 0
    deadline = None
    while proc.poll() is None:
        time.sleep(0.002)
        now = checkpoint_id(path)
        seen += now != last
        last = now
        if seen == count and deadline is None:
            deadline = time.monotonic() + then
        if seen > count or (deadline is not None and time.monotonic() >= deadline):
            return


def kill(proc: subprocess.Popen[str]) -> bool:
    """SIGKILL; False when the run had already finished."""
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def finish(proc: subprocess.Popen[str]) -> str:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    return out


def comparable(path: Path) -> dict[str, Any]:
    results = json.loads(path.read_text())
    del results["environment"]  # the process that finished the run: its command line differs
    results["config"].pop("out", None)  # the run's own folder
    for step in results["steps"]:
        del step["train_seconds"], step["eval_seconds"]
        step.pop("phase_seconds", None)
    return results


def kill_during_third_write(run_dir: Path) -> None:
    """Fresh run whose writes pause halfway; SIGKILL while the third is in flight."""
    proc = launch(*ARGS, "--out", str(run_dir), env={PAUSE_ENV: "0.4"})
    tmp, appearances, present = temp_path(run_dir / CHECKPOINT_NAME), 0, False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        now = tmp.exists()
        appearances += now and not present
        present = now
        if appearances == 3:
            break
        time.sleep(0.005)
    assert kill(proc), "the run ended before its third checkpoint write"
    assert tmp.exists(), "killed outside the write"
    # the half-written temporary file never replaced the good checkpoint
    assert load_checkpoint(run_dir).describe() == "step 1, epoch 1"


def test_sigkill_at_random_moments_and_resume_gives_identical_results(tmp_path):
    reference = tmp_path / "reference"
    proc = launch(*ARGS, "--out", str(reference))
    wait_for_table(proc)
    t0 = time.monotonic()
    finish(proc)
    epoch = (time.monotonic() - t0) / 21  # 21 checkpoint writes: before step 1, 4 per step
    expected = comparable(reference / "results.json")

    run_dir = tmp_path / "killed"
    kill_during_third_write(run_dir)
    rng = random.Random(6)
    stops = ["step 1, epoch 1 (killed in a write)"]
    for _ in range(RANDOM_KILLS):
        proc = launch("--quiet", "--resume", str(run_dir))
        wait_for_table(proc)
        # a random moment after 1-2 more checkpoints, before the next one but one: at most
        # 3 + 5 * 3 = 18 of the 21 writes happen before the last kill, so each kill lands
        wait_for_writes(proc, run_dir / CHECKPOINT_NAME, rng.randint(1, 2), rng.uniform(0.0, epoch))
        assert kill(proc), f"the run finished before the kill; stops so far: {stops}"
        stops.append(load_checkpoint(run_dir).describe())  # always readable
    assert not (run_dir / "results.json").exists()
    out = finish(launch("--quiet", "--resume", str(run_dir)))
    assert "resuming from the checkpoint" in out
    print("killed at:", stops)
    assert comparable(run_dir / "results.json") == expected, f"kills at {stops}"
