"""Code only by consent (issue 22, finding 1): a model file or checkpoint whose backbone is an
import path (``module:factory``) makes icarl import and call it only when the user allows it
(``--trust-backbone``, ``icarl.load(path, trust_backbone=True)``) or passes the module itself.
The standard library and malformed specs are refused even then, before anything is imported.
The import tests run ``python -m icarl`` in a folder holding the module: a fresh process with
that folder on ``sys.path``, where an import would succeed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import icarl
from icarl.cli import main
from icarl.errors import IcarlError
from icarl.files.model import read_model, write_model
from icarl.nets.registry import create_backbone

TINY = ["--quiet", "--epochs", "1", "--memory", "40", "--classes", "0,1,2,3"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
EVIL = """
import pathlib
pathlib.Path(__file__).with_name("MARKER").write_text("imported")
from icarl.nets.registry import create_backbone

def make(in_channels, image_size):
    pathlib.Path(__file__).with_name("CALLED").write_text("called")
    return create_backbone("small_cnn", in_channels, image_size)
"""


def one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("icarl: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A finished tiny run and its model, and copies whose backbone spec names ``evil_mod:make``
    (a module in the same folder that leaves MARKER when imported)."""
    root = tmp_path_factory.mktemp("consent")
    run, model = root / "run", root / "m.icarl"
    assert main(["run", *TINY, "--out", str(run), "--save", str(model)]) == 0
    (root / "evil_mod.py").write_text(textwrap.dedent(EVIL))
    state = read_model(model)
    state["config"]["backbone"] = "evil_mod:make"
    write_model(root / "evil.icarl", state)
    evil_run = root / "evil_run"
    evil_run.mkdir()
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    ck["config"]["learner"]["backbone"] = "evil_mod:make"
    torch.save(ck, evil_run / "checkpoint.pt")
    np.savez(root / "x.npz", x=np.zeros((2, 8, 8), np.uint8))
    return {"root": root, "run": run, "model": model, "evil": root / "evil.icarl", "evil_run": evil_run}


def _fresh(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "icarl", *argv], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300
    )


def _check_refused(proc: subprocess.CompletedProcess[str], where: str) -> None:
    err = proc.stderr
    assert proc.returncode == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{where} asks to import the module evil_mod and call make" in err
    assert "--trust-backbone" in err and "install" not in err


def test_python_m_icarl_predict_and_resume_in_the_modules_folder_import_nothing(hostile):
    root = hostile["root"]
    _check_refused(_fresh(["predict", "evil.icarl", "x.npz"], root), "evil.icarl")
    _check_refused(_fresh(["run", "--resume", "evil_run"], root), "the checkpoint in evil_run")
    assert not (root / "MARKER").exists() and not (root / "CALLED").exists()


def test_icarl_load_imports_only_with_consent_or_uses_the_module_given(hostile, monkeypatch):
    root = hostile["root"]
    monkeypatch.syspath_prepend(str(root))  # the module is importable here
    monkeypatch.delitem(sys.modules, "evil_mod", raising=False)
    with pytest.raises(IcarlError, match=r"asks to import the module evil_mod .* trust_backbone=True"):
        icarl.load(hostile["evil"])
    assert "evil_mod" not in sys.modules and not (root / "MARKER").exists()
    x = np.zeros((3, 8, 8), np.uint8)
    expected = icarl.load(hostile["model"]).predict(x)
    given = icarl.load(hostile["evil"], backbone=create_backbone("small_cnn", 1, 8))
    assert np.array_equal(given.predict(x), expected)  # the module passed instead of any import
    assert "evil_mod" not in sys.modules and not (root / "MARKER").exists()
    trusted = icarl.load(hostile["evil"], trust_backbone=True)  # consent: imported and called
    assert (root / "MARKER").exists() and (root / "CALLED").exists()
    assert np.array_equal(trusted.predict(x), expected)
    for name in ("MARKER", "CALLED"):
        (root / name).unlink()


def test_learn_export_and_resume_refuse_without_consent(hostile, capsys, tmp_path):
    evil = str(hostile["evil"])
    for argv in (
        ["learn", evil, "--data", str(tmp_path)],
        ["export", evil, str(tmp_path / "out")],
        ["predict", evil, str(hostile["root"] / "x.npz")],
        ["run", "--resume", str(hostile["evil_run"])],
    ):
        err = one_line(capsys, argv)
        assert "asks to import the module evil_mod" in err and "--trust-backbone" in err, argv
    assert not list(tmp_path.iterdir()) and not (hostile["root"] / "MARKER").exists()


STDLIB = ["os:truncate", "os:kill", "builtins:exec", "subprocess:call", "__main__:main", "shutil:rmtree"]
MALFORMED = [
    "../evil_mod:make",
    "evil_mod:make:x",
    "evil mod:make",
    "evil_mod:",
    "/abs/evil:make",
    "a.b:__init__",
]


@pytest.mark.parametrize("spec", STDLIB + MALFORMED)
def test_stdlib_and_malformed_specs_are_refused_before_import_even_with_consent(
    hostile, tmp_path, capsys, monkeypatch, spec
):
    called: list[tuple[object, ...]] = []
    for name in ("truncate", "kill"):
        monkeypatch.setattr(os, name, lambda *a, _n=name: called.append((_n, *a)))
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    state = read_model(hostile["model"])
    state["config"]["backbone"] = spec
    write_model(tmp_path / "m.icarl", state)
    err = one_line(capsys, ["predict", str(tmp_path / "m.icarl"), str(victim), "--trust-backbone"])
    assert "never a backbone" in err or "is not an import path" in err, err
    run = tmp_path / "run"
    run.mkdir()
    ck = torch.load(hostile["run"] / "checkpoint.pt", weights_only=True)
    ck["config"]["learner"]["backbone"] = spec
    torch.save(ck, run / "checkpoint.pt")
    err = one_line(capsys, ["run", "--resume", str(run), "--trust-backbone"])
    assert "never a backbone" in err or "is not an import path" in err, err
    err = one_line(capsys, ["run", *TINY, "--out", str(tmp_path / "new"), "--backbone", spec])
    assert "never a backbone" in err or "is not an import path" in err, err
    assert not called and victim.read_text() == "keep me" and not (tmp_path / "new").exists()


def test_a_spec_typed_for_a_new_run_needs_no_consent_and_a_failing_factory_is_one_line(
    tmp_path, capsys, monkeypatch
):
    (tmp_path / "nets_here.py").write_text(
        "def boom(c, s):\n    raise RuntimeError('no weights here')\n\ndef two():\n    return None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "run"
    err = one_line(capsys, ["run", *TINY, "--out", str(out), "--backbone", "nets_here:boom"])
    assert "factory 'nets_here:boom' failed when called as boom(1, 8) (RuntimeError: no weights" in err
    err = one_line(capsys, ["run", *TINY, "--out", str(out), "--backbone", "nets_here:two"])
    assert "failed when called as two(1, 8) (TypeError" in err and "(in_channels, image_size)" in err
    assert not out.exists()  # refused before the run folder was made


def test_rerun_of_a_record_naming_a_module_needs_consent_and_never_takes_the_stdlib(
    hostile, tmp_path, capsys
):
    run = tmp_path / "run"
    run.mkdir()
    results = json.loads((hostile["run"] / "results.json").read_text())
    for spec, flags, message in (
        ("evil_mod:make", [], "--trust-backbone"),
        ("os:kill", ["--trust-backbone"], "names the standard library module os, which is never a backbone"),
    ):
        results["config"]["learner"]["backbone"] = spec
        (run / "results.json").write_text(json.dumps(results))
        assert message in one_line(capsys, ["rerun", str(run), "--out", str(tmp_path / "again"), *flags])
    assert not (tmp_path / "again").exists() and not (hostile["root"] / "MARKER").exists()
