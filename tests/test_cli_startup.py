"""The command line starts fast (issue 25): ``icarl --help``, ``--version``, ``icarl list``,
``icarl COMMAND --help`` and argument errors parse and answer without importing torch (or
numpy), which alone takes seconds on a loaded machine. Checked by what a fresh process has
imported, not by timing. The catalogue those answers come from must say what the registries
say."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from icarl.cli import catalogue
from icarl.cli.listing import first_sentence
from icarl.deploy import export
from icarl.experiment import loggers, paper, plots, results

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


def icarl(*argv: str) -> tuple[int, str, str, list[str]]:
    """``icarl ARGV`` in a fresh interpreter: exit status, stdout, stderr, heavy modules loaded."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120, check=False
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


LIVE = """
import json
from icarl import methods
from icarl.data import registry as formats
from icarl.nets import registry
print(json.dumps([formats.descriptions(), methods.descriptions(), registry.descriptions()]))
"""


def live_registries() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """The built-in registries as a fresh process has them (tests register more in this one)."""
    done = subprocess.run(
        [sys.executable, "-c", LIVE], capture_output=True, text=True, timeout=120, check=True
    )
    datasets, methods, backbones = json.loads(done.stdout)
    return datasets, methods, backbones


def test_the_catalogue_says_what_the_registries_say() -> None:
    datasets, methods, backbones = live_registries()
    assert {k: first_sentence(v) for k, v in datasets.items()} == {
        k: first_sentence(v) for k, v in catalogue.DATASETS.items()
    }
    assert methods == catalogue.METHODS
    assert backbones == catalogue.BACKBONES
    assert tuple(loggers.LOGGERS) == catalogue.LOGGERS
    assert tuple(export.FORMATS) == catalogue.EXPORT_FORMATS
    assert tuple(plots.FORMATS) == catalogue.FIGURE_FORMATS
    assert tuple(c for c in results.CLASSIFIERS if c != "incm") == catalogue.PREDICTING
    assert tuple(paper.PAPER_METHODS) == catalogue.PAPER_METHODS
    assert tuple(sorted(paper.BUDGETS)) == catalogue.PAPER_BUDGETS
