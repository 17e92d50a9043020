"""Each decompression and size case under a 4 GB address-space cap (as ``ulimit -v 4000000``):
a one-line error and exit status 2 from the CLI, never a kill by signal or a MemoryError."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import hostile_files as hf
import pytest

CAP = 4_000_000 * 1024  # bytes, as ulimit -v 4000000 (KiB)

# case: (dataset, builder of the hostile file under a folder, the limit the refusal names)
CASES: dict[str, tuple[str, Callable[[Path], Path], str]] = {
    "npz-label-1e9": ("npz", lambda d: hf.huge_label_npz(d / "l.npz"), "ICARL_MAX_CLASSES"),
    "mnist-gz-4.7GB": ("mnist", lambda d: hf.mnist_bomb(d / "m"), "ICARL_MAX_RATIO"),
    "npz-header-1TB": ("npz", lambda d: hf.huge_header_npz(d / "h.npz"), "declares shape"),
    "npz-zip-bomb": ("npz", lambda d: hf.npz_bomb(d / "b.npz"), "ICARL_MAX_RATIO"),
    "tinyimagenet-zip-bomb": ("tinyimagenet", lambda d: hf.tinyimagenet_bomb(d / "t.zip"), "ICARL_MAX_RATIO"),
    "png-144MP": ("tinyimagenet", lambda d: hf.tinyimagenet_big_png(d / "tiny"), "ICARL_MAX_PIXELS"),
}
SLOW = set(CASES) - {"npz-label-1e9"}  # all of them run in the loop test


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    return {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


LOOP = """
import sys
from icarl.data import DataError, load_dataset
for arg in sys.argv[1:]:
    dataset, path = arg.split("=", 1)
    try:
        load_dataset(dataset, path)
        print("LOADED", path)
    except DataError as e:
        print("REFUSED", str(e).replace("\\n", "<NL>"))
"""


def test_every_case_is_refused_under_a_4gb_cap(tmp_path: Path) -> None:
    for name in CASES:
        (tmp_path / name).mkdir()
    args = [f"{ds}={build(tmp_path / name)}" for name, (ds, build, _) in CASES.items()]
    proc = subprocess.run(
        [sys.executable, "-c", LOOP, *args],
        capture_output=True,
        text=True,
        env=_env(),
        preexec_fn=_capped,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == len(CASES)
    for line, (name, (_, _, limit)) in zip(lines, CASES.items(), strict=True):
        assert line.startswith("REFUSED") and limit in line and "<NL>" not in line, (name, line)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in CASES])
def test_cli_refuses_with_one_line_and_exit_2_under_a_4gb_cap(tmp_path: Path, name: str) -> None:
    dataset, build, limit = CASES[name]
    (tmp_path / "d").mkdir()
    path = build(tmp_path / "d")
    cmd = [sys.executable, "-m", "icarl", "run", "--dataset", dataset, "--data", str(path)]
    cmd += ["--out", str(tmp_path / "out"), "--epochs", "1", "--quiet", "data.storage=memory"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), preexec_fn=_capped, timeout=300)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])  # not -9 (killed)
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("icarl: error:") and limit in err[0], proc.stderr
    assert "Traceback" not in proc.stderr
