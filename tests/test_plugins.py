"""Methods from outside icarl (icarl.methods.plugins): a module named with --plugin and an
installed entry point (group icarl.methods), usable from the command line; a method that a
model file names never imports its plugin without the user's consent."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from icarl import methods
from icarl.cli import main
from icarl.methods import plugins

TINY = ["--classes", "0,1,2,3", "--classes-per-step", "2", "--epochs", "1", "--quiet", "--memory", "20"]

COUNTING = """
from icarl import ICaRL
from icarl.methods import Method, register

CALLS = []


class Counting(ICaRL):
    \"\"\"iCaRL that counts its steps.\"\"\"

    def partial_fit(self, *args, **kwargs):
        CALLS.append(len(self.classes_))
        return super().partial_fit(*args, **kwargs)


register(Method("counting", "iCaRL without distillation, counting", Counting, {"distillation": "none"}))
"""

STEADY = """
from pathlib import Path

from icarl.methods import Method

Path(__file__).with_name("imported.txt").write_text("the plugin ran")
STEADY = Method("steady", "iCaRL training, network outputs", settings={"classifier": "cnn"})
"""


@pytest.fixture
def registry(monkeypatch, tmp_path):
    """A private copy of the method registry; ``tmp_path`` importable, its modules forgotten after."""
    monkeypatch.setattr(methods.METHODS, "_entries", dict(methods.METHODS._entries))
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith(("counting_", "steady_")):
            del sys.modules[name]


def write_plugin(folder: Path, module: str, code: str, entry_points: dict[str, str] | None = None) -> None:
    (folder / f"{module}.py").write_text(textwrap.dedent(code))
    if entry_points:  # an installed distribution, as pip leaves it: dist-info on sys.path
        info = folder / f"{module}_dist-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}-dist\nVersion: 0.1\n")
        lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text(f"[{plugins.GROUP}]\n{lines}")
    importlib.invalidate_caches()  # the folder is on sys.path already


def test_a_plugin_module_named_with_plugin_runs_its_method(registry):
    write_plugin(registry, "counting_a", COUNTING)
    out = registry / "run"
    assert main(["run", *TINY, "--plugin", "counting_a", "--method", "counting", "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["method"] == "counting" and res["config"]["learner"]["distillation"] == "none"
    assert sys.modules["counting_a"].CALLS == [0, 2]  # its learner class learned both steps


def test_a_method_of_an_installed_entry_point_loads_when_named(registry, capsys):
    write_plugin(registry, "steady_b", STEADY, {"steady": "steady_b:STEADY"})
    marker = registry / "imported.txt"
    assert main(["list", "methods"]) == 0
    assert "steady" in capsys.readouterr().out and not marker.exists()  # listed, not imported
    out = registry / "run"
    assert (
        main(["run", *TINY, "--method", "steady", "--out", str(out), "--save", str(registry / "m.icarl")])
        == 0
    )
    assert marker.exists()
    res = json.loads((out / "results.json").read_text())
    assert res["method"] == "steady" and res["classifier"] == "cnn"


def test_a_model_file_naming_a_plugin_method_imports_it_only_with_consent(registry, digits):
    write_plugin(registry, "steady_c", STEADY, {"steady": "steady_c:STEADY"})
    model = registry / "m.icarl"
    assert main(["run", *TINY, "--method", "steady", "--out", str(registry / "r"), "--save", str(model)]) == 0
    marker = registry / "imported.txt"
    marker.unlink()
    images = registry / "x.npz"
    np.savez(images, x=digits.test.x[:3].numpy())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(registry), os.environ.get("PYTHONPATH", "")])}

    def icarl(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "icarl", *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)

    refused = icarl("predict", str(model), str(images))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "plugin steady_c" in refused.stderr and "--plugin steady_c" in refused.stderr
    assert not marker.exists()  # nothing of the plugin ran
    allowed = icarl("predict", str(model), str(images), "--plugin", "steady_c")
    assert allowed.returncode == 0, allowed.stderr
    assert marker.exists() and len(allowed.stdout.strip().splitlines()) >= 3
    code = f"import icarl; icarl.load({str(model)!r})"
    python = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert "PluginConsentError" in python.stderr and "import steady_c first" in python.stderr


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("os", "standard library module, never a plugin"),
        ("not a module", "not a module name"),
        ("no_such_module_here", "cannot import it (ModuleNotFoundError"),
        ("steady_d", "registered no method"),
    ],
)
def test_bad_plugins_are_one_line_errors(registry, capsys, module, message):
    (registry / "steady_d.py").write_text("X = 1\n")  # imports, registers nothing
    assert main(["run", *TINY, "--plugin", module, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("icarl: error: ")


def test_an_entry_point_that_gives_no_method_is_refused(registry):
    write_plugin(registry, "steady_e", "NOT_A_METHOD = 42\n", {"broken": "steady_e:NOT_A_METHOD"})
    with pytest.raises(plugins.PluginError, match=r"gives int, not an icarl\.methods\.Method"):
        plugins.for_user("broken")
    assert "broken" not in methods.available()
