"""Checkpoint and resume under DDP: a two-process torchrun run killed mid-run and
resumed with ``--resume`` ends exactly as one uninterrupted single process.

Needs the checkpoint code of the reliability branch (skipped without it). The
mlp / batch 45 / 3 epoch setting is the one where two processes match one
process exactly (see tests/test_distributed.py), so the comparison is equality.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from icarl.config import load_config
from icarl.experiment import runner

pytest.importorskip("icarl.files.checkpoint")

# fp32: the digits preset turns bf16 on, where two processes and one round differently
ARGS = ["--quiet", "--epochs", "3", "--backbone", "mlp", "--batch-size", "45", "learner.amp=off"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def _accuracies(results: dict) -> list[tuple[float | None, float | None]]:
    return [(s["accuracy"]["nme"], s["accuracy"]["cnn"]) for s in results["steps"]]


@pytest.mark.slow
def test_torchrun_killed_and_resumed_matches_one_process(tmp_path: Path) -> None:
    learner = {"backbone": "mlp", "epochs": 3, "batch_size": 45, "progress": False, "amp": "off"}
    single = runner.run(load_config("digits", [{"learner": learner}]))
    run_dir = tmp_path / "run"
    cmd = [*TORCHRUN, "-m", "icarl", "run", *ARGS, "--checkpoint-every", "1", "--out", str(run_dir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV)
    assert proc.stdout is not None
    rows = 0
    for line in proc.stdout:  # rank 0's table: kill once two steps are done
        words = line.split()
        rows += bool(words) and words[0].isdigit()
        if rows >= 2:
            break
    proc.terminate()
    proc.wait(timeout=120)
    assert rows == 2 and not (run_dir / "results.json").exists()  # it was interrupted
    resumed = subprocess.run(
        [*TORCHRUN, "-m", "icarl", "run", "--resume", str(run_dir), "--quiet"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from the checkpoint" in resumed.stdout
    assert _accuracies(json.loads((run_dir / "results.json").read_text())) == _accuracies(single)
