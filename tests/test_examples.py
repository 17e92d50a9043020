"""Every script in examples/ runs as a user would run it (a fresh process, its own folder),
on a tiny budget (--epochs 1), and prints what it says it does."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, cwd: Path, *args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(EXAMPLES / name), "--epochs", "1", *args]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_every_example_is_tested():
    tested = set(re.findall(r'run_example\("([\w.]+)"', Path(__file__).read_text()))
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_own_network_and_data(tmp_path):
    out = run_example("own_network_and_data.py", tmp_path)
    accs = [float(a) for a in re.findall(r"accuracy on \d+ classes: ([\d.]+)", out)]
    assert len(accs) == 2 and all(0.0 <= a <= 1.0 for a in accs)
    predicted = re.findall(r"predicted: +(.*)", out)[-1].split()
    assert len(predicted) == 8 and set(predicted) <= {"zero", "one", "two", "three", "four", "five"}
    held = re.search(r"classes: (.*); exemplars held: (\d+)", out)
    assert held is not None and held.group(1) == "five four one three two zero"
    assert 0 < int(held.group(2)) <= 100  # K = 100


def test_benchmark_object(tmp_path):
    out = run_example("benchmark_object.py", tmp_path)
    rows = re.findall(r"experience (\d): classes \[(\d), (\d)\], accuracy on (\d+) classes ([\d.]+)", out)
    assert [int(r[0]) for r in rows] == [0, 1, 2, 3, 4]
    assert sorted(int(c) for r in rows for c in r[1:3]) == list(range(10))  # each class arrives once
    assert [int(r[3]) for r in rows] == [2, 4, 6, 8, 10]
    accs = [float(r[4]) for r in rows]
    final = re.search(r"average incremental accuracy ([\d.]+), final ([\d.]+)", out)
    assert final is not None and float(final.group(2)) == accs[-1]
    assert float(final.group(1)) == pytest.approx(sum(accs) / 5, abs=1e-3)


def test_field_benchmarks_says_which_library_it_skipped(tmp_path):
    """Without avalanche and continuum installed it trains nothing and says so for each
    (tests/test_field_benchmarks.py runs its functions on stand-ins of both libraries' objects)."""
    if any(importlib.util.find_spec(lib) for lib in ("avalanche", "continuum")):
        pytest.skip("a benchmark library is installed: the example would train on CIFAR-100")
    out = run_example("field_benchmarks.py", tmp_path)
    assert out.splitlines() == ["avalanche is not installed: skipped", "continuum is not installed: skipped"]


def test_sweep_runs_and_a_second_call_continues_the_same_grid(tmp_path):
    out = run_example("sweep.py", tmp_path, "--out", "grid")
    rows = re.findall(r"^(\d+) +icarl NME +([\d.]+) ± ([\d.]+) +([\d.]+) ± ([\d.]+) +(\d+)$", out, flags=re.M)
    assert [(r[0], r[5]) for r in rows] == [("40", "2"), ("200", "2")]  # two K, two seeds each
    assert (tmp_path / "grid" / "aggregate.html").is_file()
    assert len(list((tmp_path / "grid").glob("*/seed-*/results.json"))) == 4
    again = run_example("sweep.py", tmp_path, "--out", "grid")  # resumes: everything finished, kept
    assert again == out


def test_deploy_and_learn_later(tmp_path):
    out = run_example("deploy_and_learn_later.py", tmp_path, "--model", "m.icarl")
    assert "classes five four one three two zero" in out
    assert "same answers as before saving: True" in out
    learned = re.search(
        r"learned 'six': accuracy on 7 classes ([\d.]+).*exemplars held (\d+) \(K = 120\)", out
    )
    assert learned is not None and 0 < int(learned.group(2)) <= 120
    assert (tmp_path / "m.icarl").is_file()
    import icarl

    model = icarl.load(tmp_path / "m.icarl")
    assert sorted(model.class_names_.values()) == sorted(
        ["zero", "one", "two", "three", "four", "five", "six"]
    )
