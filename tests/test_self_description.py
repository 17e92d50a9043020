"""A run describes itself as it is: the header counts the classes and images it will learn,
results.json records the run folder given, and a class split that does not fit names the
step sizes that do, before any folder is made."""

from __future__ import annotations

import json
from pathlib import Path

from icarl.cli import main


def test_header_counts_the_chosen_classes_and_config_records_the_folder(
    tmp_path: Path, capsys, digits
) -> None:
    out = tmp_path / "r1"
    assert main(["run", "--classes", "0,1,2,3", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    train = int(sum((digits.train.y == c).sum() for c in range(4)))
    test = int(sum((digits.test.y == c).sum() for c in range(4)))
    assert f"4 of 10 classes in 2 steps of 2, {train} train / {test} test images" in header
    assert json.loads((out / "results.json").read_text())["config"]["out"] == str(out)


def test_a_class_split_that_does_not_fit_names_the_sizes_that_do(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r"
    assert main(["run", "--classes", "0,1,2,3,4", "--quiet", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "--classes-per-step 1 or --classes-per-step 5" in err
    assert "run folder" not in captured.out and not out.exists()  # nothing printed as made, none made
