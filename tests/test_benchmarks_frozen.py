"""benchmarks/frozen_cifar100.py --quick on a tiny CIFAR-100 archive written here (100 classes,
random pixels): pretraining, the three variants, the table, and a second call that keeps the
finished runs. The figures on real data are the benchmark's, not this test's."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import torch
from data_writers import write_cifar100

from icarl.files.checkpoint import load_checkpoint

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "frozen_cifar100.py"
ROW = r"^\| (.+?) \| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.-]+) \| ([\d.-]+) \| (\d+) \|$"


def bench(cwd: Path, archive: Path, *extra: str) -> str:
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    cmd = [sys.executable, str(SCRIPT), "--quick", "--data", str(archive), "--checksum", md5, "--out", "out"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*cmd, *extra], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_quick_mode_runs_the_three_variants_and_keeps_finished_runs(tmp_path: Path) -> None:
    archive, _ = write_cifar100(tmp_path, n_train=200, n_test=100, num_classes=100)
    out = bench(tmp_path, archive, "--threads", "1")
    rows = re.findall(ROW, out, flags=re.M)
    names = ["frozen pretrained", "pretrained, head only", "from scratch"]
    assert [r[0].split(" (")[0] for r in rows] == names and all(r[1] == "1" for r in rows)
    assert [r[4] == "-" for r in rows] == [True, False, False]  # no CNN figure for the untrained head
    assert rows[0][2:4] == rows[1][2:4]  # the same frozen features: the same exemplars and NME
    assert "Machine: " in out and "threads 1 (fixed)" in out and "Command: frozen_cifar100.py --quick" in out
    assert re.search(r"Pretraining: classes 50-99 \(100 images\), 1 epochs", out)
    root = tmp_path / "out"
    weights = torch.load(root / "pretrained" / "backbone.pt", weights_only=True)
    for variant, mode in (("frozen", "none"), ("head", "head"), ("scratch", "all")):
        res = json.loads((root / variant / "order-0" / "results.json").read_text())
        learner = res["config"]["learner"]
        assert learner["train"] == mode and res["config"]["data"]["classes"] == list(range(50))
        assert (learner["init_weights"] != "") == (variant != "scratch")
        assert [s["seen_classes"] for s in res["steps"]] == [10, 20, 30, 40, 50]
        assert all(c < 50 for s in res["steps"] for c in s["classes"])
        net = load_checkpoint(root / variant / "order-0").learner["net"]  # after the last step
        kept = all(torch.equal(net[f"backbone.{k}"], v) for k, v in weights.items())
        assert kept == (variant != "scratch")  # frozen: the pretrained weights and statistics, bit for bit
    again = bench(tmp_path, archive, "--threads", "1")
    assert again.count("(kept, ") == 3 and "(ran, " not in again
    assert re.findall(ROW, again, flags=re.M) == rows  # read back: the same figures and times
    assert (root / "table.md").read_text().startswith("| variant |")
