"""Outputs stay where they belong (issue 22, findings 3 and 4): ``export-images`` writes only
inside OUT (class names that would leave it are refused, not rewritten) and replaces existing
files only with --force; no command writes onto a file it reads (compared with samefile, so a
link or hard link to the input is caught too). Each refusal: exit 2, one stderr line, the
input unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
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
