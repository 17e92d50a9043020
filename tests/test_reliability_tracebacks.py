"""Tracebacks that became one line (issue 22, finding 9): initial weights of the wrong shape or
not tensors, a device nothing runs on, export to a read-only folder, a damaged aggregate.json
given to ``icarl report``, and a user's Dataset with bad labels (Python API). Each refusal
leaves nothing that blocks the corrected command (no run folder, no partial export)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch

from icarl import ClassIncrementalStream, Dataset, Split
from icarl.cli import main
from icarl.errors import IcarlError
from icarl.experiment import preflight
from icarl.files import atomic
from icarl.nets.registry import create_backbone

TINY = ["--quiet", "--epochs", "1", "--memory", "40", "--classes", "0,1,2,3"]


def one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("icarl: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tracebacks")
    assert main(["run", *TINY, "--out", str(root / "run"), "--save", str(root / "m.icarl")]) == 0
    return root / "m.icarl"


def _weights(tmp: Path) -> dict[str, Path]:
    own = create_backbone("small_cnn", 1, 8).state_dict()
    first = next(k for k, v in own.items() if v.ndim > 1)
    files = {
        "shape": {**own, first: torch.zeros(3, 3)},
        "value": {**own, first: 3},
        "list": [1, 2, 3],
        "extra": {**own, "not.a.layer": torch.zeros(1)},
    }
    out = {}
    for name, obj in files.items():
        torch.save(obj, tmp / f"{name}.pt")
        out[name] = tmp / f"{name}.pt"
    (tmp / "legacy.pt").write_bytes(b"\x80\x02}q\x00.")  # a bare pickle, not a torch archive
    out["legacy"] = tmp / "legacy.pt"
    return out


WEIGHT_CASES = {
    "shape": "does not fit the backbone exactly (learner.init_weights_strict): ",
    "value": "holds int, not a tensor; save model.state_dict() with torch.save",
    "list": "holds list, not a state dict",
    "extra": "1 unexpected (e.g. not.a.layer)",
    "legacy": "is not a plain state dict",
}
STRICT_ONLY = ("shape", "extra")  # loaded with a one-line note unless init_weights_strict (issue 25)


@pytest.mark.parametrize("case", sorted(WEIGHT_CASES))
def test_bad_initial_weights_are_one_line_before_the_run_folder(tmp_path, capsys, case):
    path = _weights(tmp_path)[case]
    out = tmp_path / "out"
    strict = ["learner.init_weights_strict=true"] if case in STRICT_ONLY else []
    err = one_line(capsys, ["run", *TINY, "--out", str(out), f"learner.init_weights='{path}'", *strict])
    assert WEIGHT_CASES[case] in err and str(path) in err
    if case == "shape":
        assert "1 of another shape (e.g. " in err and " (3, 3) in the file, " in err
    assert not out.exists()  # the corrected command needs no --force
    assert main(["run", *TINY, "--out", str(out)]) == 0


def test_devices_nothing_runs_on_are_refused(model, tmp_path, capsys):
    message = "on which icarl cannot train or predict; use auto, cpu, cuda, cuda:N, mps or xpu"
    out = tmp_path / "out"
    for argv in (
        ["run", *TINY, "--out", str(out), "--device", "meta"],
        ["run", *TINY, "--out", str(out), "--device", "xla"],
        ["predict", str(model), str(tmp_path), "--device", "meta"],
        ["learn", str(model), "--data", str(tmp_path), "--device", "meta"],
    ):
        assert f"is '{argv[-1]}', {message}" in one_line(capsys, argv), argv
    assert not out.exists()


def test_export_to_a_read_only_folder_is_one_line_and_writes_nothing(model, tmp_path, capsys, monkeypatch):
    def read_only(*_a: object, **_k: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(preflight.tempfile, "mkstemp", read_only)
    out = tmp_path / "ro" / "m"
    err = one_line(capsys, ["export", str(model), str(out)])
    assert "OUT" in err and "Read-only file system" in err
    monkeypatch.undo()
    monkeypatch.setattr(atomic, "create_new", lambda path: read_only())  # the file system turns read-only
    err = one_line(capsys, ["export", str(model), str(out), "--format", "icarl", "--no-exemplars"])
    assert "cannot write" in err and "read-only file system" in err
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


GOOD = '"grid_version": 1, "kind": "run", "argv": []'
GRIDS = {
    "not_json": ("{cells", "cannot be read (Expecting"),
    "list": ("[1, 2]", "is not a grid manifest of this version"),
    "no_cells": ("{" + GOOD + "}", "is not a grid manifest of this version"),
    "cell_str": ("{" + GOOD + ', "cells": ["seed-1"]}', "is not a grid manifest of this version"),
    "labels_list": ("{" + GOOD + ', "cells": [{"folder": "s", "labels": [1]}]}', "is not a grid manifest"),
    "overrides_int": ("{" + GOOD + ', "cells": [{"folder": "s", "overrides": 5}]}', "is not a grid manifest"),
    "outside": ("{" + GOOD + ', "cells": [{"folder": "../x"}]}', "names the cell folder '../x', outside"),
    "nested": ('{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}", "cannot be read (nested too deeply)"),
}


@pytest.mark.parametrize("case", sorted(GRIDS))
def test_a_damaged_grid_json_is_one_line(tmp_path, capsys, case):
    """The grid manifest ``icarl report`` reads (aggregate.json, which the issue's case
    named, is now only written: main's grids read grid.json)."""
    text, message = GRIDS[case]
    (tmp_path / "grid.json").write_text(text)
    assert message in one_line(capsys, ["report", str(tmp_path)])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes (POSIX)")
def test_a_grid_or_results_json_that_is_a_fifo_is_refused(tmp_path, capsys):
    os.mkfifo(tmp_path / "grid.json")
    assert "is a FIFO (named pipe), not a file" in one_line(capsys, ["report", str(tmp_path)])
    os.unlink(tmp_path / "grid.json")
    os.mkfifo(tmp_path / "results.json")
    assert "is a FIFO (named pipe), not a file" in one_line(capsys, ["report", str(tmp_path)])


def test_a_users_dataset_with_bad_labels_is_one_line(digits):
    x = digits.train.x[:20]
    good = torch.arange(20) % 4
    cases = {
        "out of range": (good + 5, "labels range 5..8 but there are 4 class names"),
        "negative": (good - 1, "labels range -1..2"),
        "float": (good.float(), "labels have dtype torch.float32; expected int64"),
        "length": (good[:10], "has 20 images but labels of shape (10,)"),
        "numpy": (good.numpy(), "holds Tensor images and ndarray labels; give torch tensors"),
    }
    for name, (y, message) in cases.items():
        data = Dataset("mine", Split(x, y), Split(x, good), ("a", "b", "c", "d"))
        with pytest.raises(IcarlError) as e:
            ClassIncrementalStream(data, classes_per_step=2)
        assert message in str(e.value) and "\n" not in str(e.value), name


def test_a_compare_json_naming_a_folder_outside_is_refused(tmp_path, capsys):
    (tmp_path / "compare.json").write_text('{"methods": ["icarl"], "folders": {"icarl": "../elsewhere"}}')
    assert "names the folder '../elsewhere', not one inside" in one_line(capsys, ["report", str(tmp_path)])
