"""Folder readers stay inside their root: ``..`` and absolute names refused, symbolic links
refused rather than followed (Tiny-ImageNet folders and annotations, image folders in memory
and streamed, the folder tree, icarl predict's input folders)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from data_writers import jpeg, open_splits, tinyimagenet_files, write_folder

from icarl.data import DataError, load_dataset
from icarl.data.formats.files import FolderTree
from icarl.deploy.inputs import InputError, read_inputs


def _tiny(root: Path) -> Path:
    return write_folder(root, tinyimagenet_files(2, 2, 1))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../../../secret.JPEG", r"line 1 names '\.\./\.\./\.\./secret\.JPEG', which climbs out"),
        ("/etc/hostname", r"line 1 names '/etc/hostname', an absolute or empty path; refused"),
    ],
)
def test_annotation_line_outside_the_folder_is_refused(tmp_path: Path, name: str, message: str) -> None:
    root = _tiny(tmp_path / "tiny")
    (tmp_path / "secret.JPEG").write_bytes(jpeg((1, 2, 3)))
    ann = root / "val" / "val_annotations.txt"
    lines = ann.read_text().splitlines()
    lines[0] = name + "\t" + lines[0].split("\t", 1)[1]
    ann.write_text("\n".join(lines) + "\n")
    for load in (lambda: load_dataset("tinyimagenet", root), lambda: open_splits("tinyimagenet", root)):
        with pytest.raises(DataError, match=message):
            load()


def test_symlinked_image_in_a_tinyimagenet_folder_is_refused(tmp_path: Path) -> None:
    root = _tiny(tmp_path / "tiny")
    (tmp_path / "outside.JPEG").write_bytes(jpeg((9, 9, 9)))
    victim = next((root / "val" / "images").iterdir())
    victim.unlink()
    victim.symlink_to(tmp_path / "outside.JPEG")
    with pytest.raises(
        DataError, match=rf"{victim} is a symbolic link; refused \(icarl reads only regular files"
    ):
        load_dataset("tinyimagenet", root)


def test_folder_tree_refuses_names_that_leave_it(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "secret").write_bytes(b"s")
    (tmp_path / "root" / "sub").symlink_to(tmp_path, target_is_directory=True)
    tree = FolderTree(tmp_path / "root")
    with pytest.raises(DataError, match="climbs out of its folder"):
        tree.read("../secret")
    with pytest.raises(DataError, match="an absolute or empty path"):
        tree.read(str(tmp_path / "secret"))
    with pytest.raises(DataError, match="sub is a symbolic link"):
        tree.read("sub/secret")  # a linked folder on the way
    with pytest.raises(DataError, match="sub is a symbolic link"):
        tree.names()


def _image_folder(root: Path) -> Path:
    for c, colour in (("a", (200, 0, 0)), ("b", (0, 200, 0))):
        for k in range(3):
            (root / c).mkdir(parents=True, exist_ok=True)
            (root / c / f"{k}.jpg").write_bytes(jpeg(colour, size=8))
    return root


def test_symlinks_in_an_image_folder_are_refused_in_memory_and_streamed(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "imgs")
    assert load_dataset("imagefolder", root).num_classes == 2
    (tmp_path / "elsewhere.jpg").write_bytes(jpeg((1, 1, 1), size=8))
    (root / "a" / "link.jpg").symlink_to(tmp_path / "elsewhere.jpg")
    for load in (lambda: load_dataset("imagefolder", root), lambda: open_splits("imagefolder", root)):
        with pytest.raises(DataError, match=r"a/link\.jpg is a symbolic link; refused"):
            load()
    (root / "a" / "link.jpg").unlink()
    other = _image_folder(tmp_path / "other")
    (root / "c").symlink_to(other / "a", target_is_directory=True)
    with pytest.raises(DataError, match=r"imgs/c is a symbolic link; refused"):
        load_dataset("imagefolder", root)


def test_symlink_in_a_predict_folder_is_refused(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "in")
    assert len(read_inputs([str(root)], (3, 8, 8)).ids) == 6
    os.symlink(tmp_path / "in" / "a" / "0.jpg", root / "b" / "linked.jpg")
    with pytest.raises(InputError, match=r"b/linked\.jpg is a symbolic link; refused"):
        read_inputs([str(root)], (3, 8, 8))
