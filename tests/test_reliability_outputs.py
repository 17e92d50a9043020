"""Outputs stay where they belong (issue 22, findings 3 and 4): ``export-images`` writes only
inside OUT (class names that would leave it are refused, not rewritten) and replaces existing
files only with --force; no command writes onto a file it reads (compared with samefile, so a
link or hard link to the input is caught too). Each refusal: exit 2, one stderr line, the
input unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from data_writers import tinyimagenet_files, write_zip

from icarl.cli import main

TINY = ["--quiet", "--epochs", "1", "--memory", "40", "--classes", "0,1,2,3"]


def one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("icarl: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _npz(path: Path, names: list[str]) -> Path:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(len(names)), 6)
    np.savez(path, x=rng.integers(0, 255, (len(y), 8, 8), dtype=np.uint8), y=y, class_names=np.array(names))
    return path


# ------------------------------------------------------------------ export-images
@pytest.mark.parametrize("bad", ["../escaped", "/tmp/icarl-abs-escape", "a/b", "..", "back\\slash", "."])
def test_export_images_refuses_class_names_that_leave_out(tmp_path, capsys, bad):
    data = _npz(tmp_path / "d.npz", ["fine", bad])
    out = tmp_path / "deep" / "out"
    err = one_line(capsys, ["export-images", str(out), "--dataset", "npz", "--data", str(data)])
    assert f"class 1 is named {bad!r}, which is not a plain folder name" in err
    assert not out.exists() and not (tmp_path / "deep" / "escaped").exists()
    assert not Path("/tmp/icarl-abs-escape").exists()
    assert main(["export-images", str(out), "--dataset", "npz", "--data", str(data), "--classes", "0"]) == 0
    assert {p.parent.name for p in _files_under(out)} == {"fine"}  # the other classes still export


def test_export_images_refuses_a_words_txt_name_that_climbs_out(tmp_path, capsys):
    files = tinyimagenet_files(2, 2, 1)
    wnid = files["wnids.txt"].decode().split()[0]
    files["words.txt"] = f"{wnid}\t../../../climbed\n".encode()
    zipped = write_zip(tmp_path / "tiny.zip", files)
    out = tmp_path / "a" / "b" / "out"
    err = one_line(capsys, ["export-images", str(out), "--dataset", "tinyimagenet", "--data", str(zipped)])
    assert "'../../../climbed', which is not a plain folder name" in err
    assert not (tmp_path / "climbed").exists() and not out.exists()


def test_export_images_replaces_files_only_with_force_and_never_leaves_out(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["export-images", str(out), "--classes", "3", "--splits", "test"]
    assert main(argv) == 0
    first = _files_under(out)[0]
    first.write_bytes(b"mine")
    err = one_line(capsys, argv)
    assert f"{first} (and " in err and "exists; pass --force" in err and first.read_bytes() == b"mine"
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"precious")
    first.unlink()
    first.symlink_to(victim)  # a link at a target: replaced with --force, never followed
    assert main([*argv, "--force"]) == 0
    assert victim.read_bytes() == b"precious" and not first.is_symlink() and first.read_bytes() != b"mine"
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = first.parent
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()
    folder.symlink_to(outside, target_is_directory=True)  # a class folder that is a link
    assert "is a link or a file, not a folder" in one_line(capsys, [*argv, "--force"])
    assert not list(outside.iterdir())


# ------------------------------------------------------------------ no command replaces its input
@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    assert main(["run", *TINY, "--out", str(root / "run"), "--save", str(root / "m.icarl")]) == 0
    return root / "m.icarl"


def test_export_never_writes_onto_the_model_it_reads(model, tmp_path, capsys):
    m = tmp_path / "m.icarl"
    m.write_bytes(model.read_bytes())
    before = m.read_bytes()
    alias = tmp_path / "alias.icarl"
    alias.symlink_to(m)
    hard = tmp_path / "hard.icarl"
    os.link(m, hard)
    cases = [
        ["export", str(m), str(tmp_path / "m"), "--no-exemplars", "--force"],
        ["export", str(m), str(m), "--format", "icarl", "--force"],
        ["export", str(alias), str(tmp_path / "m"), "--no-exemplars", "--force"],
        ["export", str(m), str(tmp_path / "hard"), "--format", "icarl", "--force"],
    ]
    for argv in cases:
        err = one_line(capsys, argv)
        assert "is the model, which this command reads; choose another file" in err, argv
    assert m.read_bytes() == before and hard.read_bytes() == before


def test_learn_never_writes_onto_its_model_or_data_without_in_place(model, tmp_path, capsys):
    m = tmp_path / "m.icarl"
    m.write_bytes(model.read_bytes())
    before = m.read_bytes()
    hard = tmp_path / "hard.icarl"
    os.link(m, hard)
    err = one_line(capsys, ["learn", str(m), "--data", str(tmp_path), "--out", str(hard), "--force"])
    assert "is the model this command reads; pass --in-place" in err
    data = _npz(tmp_path / "new.npz", ["p", "q"])
    data_before = data.read_bytes()
    argv = ["learn", str(m), "--dataset", "npz", "--data", str(data), "--out", str(data), "--force"]
    assert "is the data (--data), which this command reads" in one_line(capsys, argv)
    assert m.read_bytes() == before and data.read_bytes() == data_before


def test_run_save_and_pack_never_write_onto_their_inputs(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text('[data]\ndataset = "digits"\n')
    weights = tmp_path / "w.pt"
    torch.save({}, weights)
    data = _npz(tmp_path / "d.npz", ["p", "q", "r", "s"])
    order = tmp_path / "order.txt"
    order.write_text("0\n1\n2\n3\n")
    kept = {p: p.read_bytes() for p in (config, weights, data, order)}
    out = tmp_path / "run"
    cases = [
        (["--config", str(config), "--save", str(config)], "the --config file"),
        (["--dataset", "npz", "--data", str(data), "--save", str(data)], "the data (data.path)"),
        (["--class-order", str(order), "--save", str(order)], "the class order file"),
        ([f"learner.init_weights='{weights}'", "--save", str(weights)], "learner.init_weights"),
    ]
    for args, what in cases:
        err = one_line(capsys, ["run", *TINY, "--out", str(out), "--force", *args])
        assert f"is {what}, which this command reads" in err, args
    err = one_line(capsys, ["pack", str(data), "--dataset", "npz", "--data", str(data), "--force"])
    assert "is the data this command reads (--data)" in err
    assert all(p.read_bytes() == b for p, b in kept.items()) and not out.exists()
