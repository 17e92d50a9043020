"""The command line starts fast (issue 25): ``icarl --help``, ``--version``, ``icarl list``,
``icarl COMMAND --help`` and argument errors parse and answer without importing torch (or
numpy), which alone takes seconds on a loaded machine. Checked by what a fresh process has
imported, not by timing. The catalogue those answers come from must say what the registries
say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from icarl.cli import catalogue
from icarl.cli.listing import first_sentence
from icarl.deploy import export
from icarl.experiment import paper, plots
from icarl.methods import plugins

PROBE = """
import sys
from icarl.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
heavy = sorted(m for m in ("torch", "numpy") if m in sys.modules)
sys.stderr.write("\\nIMPORTED " + ",".join(heavy) + "\\n")
sys.exit(code)
"""


def icarl(*argv: str, path: Path | None = None) -> tuple[int, str, str, list[str]]:
    """``icarl ARGV`` in a fresh interpreter (``path``: put first on its PYTHONPATH): exit
    status, stdout, stderr, heavy modules loaded."""
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    err, _, last = done.stderr.rstrip("\n").rpartition("\n")
    assert last.startswith("IMPORTED "), done.stderr
    return done.returncode, done.stdout, err, [m for m in last[len("IMPORTED ") :].split(",") if m]


@pytest.mark.parametrize(
    ("argv", "status", "says"),
    [
        (["--help"], 0, "list the datasets, methods, backbones and presets"),
        (["--version"], 0, "icarl 0."),
        (["list"], 0, "resnet32"),
        (["list", "methods", "--json"], 0, '"icarl": "iCaRL: exemplars by herding'),
        (["run", "--help"], 0, "--classes-per-step"),
        (["run", "--epochs", "x"], 2, "argument --epochs: invalid int value: 'x'"),
        (["compare", "--no-such-flag"], 2, "unrecognized arguments: --no-such-flag"),
        (["predict", "m.icarl", "x.png", "--classifier", "knn"], 2, "invalid choice: 'knn'"),
        (["paper", "cifar100", "--budget", "huge"], 2, "invalid choice: 'huge'"),
        (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
        (["serve", "--help"], 0, "--unknown-sd"),
        (["serve", "m.icarl", "--port", "x"], 2, "argument --port: invalid int value: 'x'"),
        (["list", "--help"], 0, "--plugin MODULE"),
        (["run", "--plugin", "p", "--threads", "none"], 2, "argument --threads"),
        ([], 2, "usage: icarl"),
    ],
)
def test_parsing_and_listing_import_neither_torch_nor_numpy(argv, status, says) -> None:
    code, out, err, heavy = icarl(*argv)
    assert code == status and says in out + err, (out, err)
    assert heavy == [], f"icarl {' '.join(argv)} imported {heavy}"


def test_a_command_that_computes_still_loads_torch(tmp_path) -> None:
    code, _, err, heavy = icarl("info", str(tmp_path / "missing.icarl"))
    assert code == 2 and "missing.icarl" in err and err.startswith("icarl: error: ")
    assert "torch" in heavy  # the command ran: its module (and torch) were imported


PLUGIN = """
from pathlib import Path

from icarl.methods import Method, register

Path(__file__).with_name("imported.txt").write_text("the plugin ran")
STEADY = register(Method("steady", "iCaRL training, network outputs", settings={"classifier": "cnn"}))
"""


def test_installed_plugins_are_listed_without_importing_them(tmp_path: Path) -> None:
    """An entry point of the group icarl.methods is listed by name (neither it nor torch is
    imported); ``--plugin`` imports the module, and the list is then the registry's."""
    (tmp_path / "steady_plugin.py").write_text(PLUGIN)
    info = tmp_path / "steady_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: steady-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{catalogue.PLUGIN_GROUP}]\nsteady = steady_plugin:STEADY\n")
    code, out, err, heavy = icarl("list", "methods", path=tmp_path)
    assert code == 0 and heavy == [], err
    listed = " ".join(out.split())
    assert "steady plugin steady_plugin:STEADY (not loaded; --method steady" in listed
    assert "icarl iCaRL" in listed and not (tmp_path / "imported.txt").exists()
    code, out, err, heavy = icarl("list", "methods", "--plugin", "steady_plugin", path=tmp_path)
    assert code == 0 and "torch" in heavy, err
    listed = " ".join(out.split())
    assert "steady iCaRL training, network outputs" in listed and "not loaded" not in listed
    assert (tmp_path / "imported.txt").exists()


LIVE = """
import json
from icarl import methods
from icarl.algorithm import classifiers
from icarl.data import registry as formats
from icarl.experiment import loggers
from icarl.nets import registry
print(json.dumps({
    "datasets": formats.descriptions(),
    "methods": methods.descriptions(),
    "backbones": registry.descriptions(),
    "loggers": loggers.LOGGERS.names(),
    "predicting": [r.name for r in classifiers.predicting()],
}))
"""


def live_registries() -> dict[str, Any]:
    """The built-in registries as a fresh process has them (tests register more in this one)."""
    done = subprocess.run(
        [sys.executable, "-c", LIVE], capture_output=True, text=True, timeout=120, check=True
    )
    live: dict[str, Any] = json.loads(done.stdout)
    return live


def test_the_catalogue_says_what_the_registries_say() -> None:
    live = live_registries()
    assert {k: first_sentence(v) for k, v in live["datasets"].items()} == {
        k: first_sentence(v) for k, v in catalogue.DATASETS.items()
    }
    assert live["methods"] == catalogue.METHODS
    assert live["backbones"] == catalogue.BACKBONES
    assert tuple(live["loggers"]) == catalogue.LOGGERS
    assert tuple(live["predicting"]) == catalogue.PREDICTING
    assert plugins.GROUP == catalogue.PLUGIN_GROUP
    assert tuple(export.FORMATS) == catalogue.EXPORT_FORMATS
    assert tuple(plots.FORMATS) == catalogue.FIGURE_FORMATS
    assert tuple(paper.PAPER_METHODS) == catalogue.PAPER_METHODS
    assert tuple(sorted(paper.BUDGETS)) == catalogue.PAPER_BUDGETS
