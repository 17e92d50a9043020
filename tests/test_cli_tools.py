"""icarl list, --help naming choices and defaults, icarl pack / export-images as
subcommands (the python -m forms kept), the LICENSE file."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from icarl import load_dataset, methods
from icarl.cli import COMMANDS, build_parser, catalogue, main
from icarl.config import preset_names
from icarl.data import registry as formats
from icarl.nets import registry

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_list_prints_every_registered_name_with_a_description(capsys):
    """The built-in names (tests register more in this process; ``icarl list`` reads the
    catalogue, which test_cli_startup.py checks against a fresh process's registries)."""
    assert main(["list", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert set(table["datasets"]) <= set(formats.available()) and "cifar100" in table["datasets"]
    assert set(table["methods"]) <= set(methods.available()) and "hybrid1" in table["methods"]
    assert sorted(table["backbones"]) == registry.available()
    assert sorted(table["presets"]) == preset_names()
    assert all(text.strip() for entries in table.values() for text in entries.values())
    assert table["methods"]["icarl"] == methods.descriptions()["icarl"]
    assert main(["list", "backbones"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "backbones:" and [ln.split()[0] for ln in lines[1:]] == registry.available()


def _help(*command):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([*command, "--help"])
    assert done.value.code == 0


def test_help_lists_commands_choices_and_defaults(capsys):
    _help()
    text = capsys.readouterr().out
    assert all(name in text for name in COMMANDS)
    assert {"list", "pack", "export-images", "export"} <= set(COMMANDS)
    _help("run")
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    builtin = [*catalogue.DATASETS, *catalogue.METHODS, *catalogue.BACKBONES]  # = the registries
    for name in [*builtin, *preset_names()]:
        assert name in text, name
    assert "(default: from --config; digits: 30)" in text  # --epochs
    _help("learn")
    assert "imagefolder, mnist" in " ".join(capsys.readouterr().out.split())


def test_export_images_and_pack_as_subcommands(tmp_path, capsys, digits):
    out = tmp_path / "png"
    assert main(["export-images", str(out), "--classes", "3", "--splits", "test"]) == 0
    pngs = list((out / "test" / "3").glob("*.png"))
    assert len(pngs) == int((digits.test.y == 3).sum()) and not (out / "train").exists()
    assert main(["export-images", str(out), "--classes", "3,x"]) == 2
    assert "not a comma-separated list" in capsys.readouterr().err
    packed = tmp_path / "digits.npz"
    assert main(["pack", str(packed), "--dataset", "digits", "--quality", "95"]) == 0
    back = load_dataset("npz", packed)
    assert len(back.train) == len(digits.train) and back.image_shape == digits.image_shape
    capsys.readouterr()
    assert main(["pack", str(packed), "--dataset", "digits"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "exists; pass --force" in err
    done = subprocess.run(  # the python -m form still works, with the same one-line error
        [sys.executable, "-m", "icarl.tools.pack", str(packed), "--dataset", "digits"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "exists; pass --force" in done.stderr


def test_license_file_is_mit_and_named_by_pyproject():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) 2026 the icarl authors" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"file": "LICENSE"}
