"""The README's Python snippet gives the numbers of `icarl run --threads 1`, step by step: the
code is read from README.md and run as it stands (slow, the preset's full budget) and with
fewer epochs (quick); its spelled-out keywords are the preset's learner."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from pathlib import Path

import pytest
import torch

from icarl import ICaRL, load_config
from icarl.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_snippet() -> str:
    """The first Python block under "## Python API"."""
    text = README.read_text()
    section = text[text.index("## Python API") :]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match is not None
    return match.group(1)


def run_snippet(code: str, where: Path) -> list[tuple[int, float]]:
    """Run ``code`` with one torch thread in ``where``; the (step, score) lines it prints."""
    threads, cwd = torch.get_num_threads(), os.getcwd()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        torch.set_num_threads(1)
        os.chdir(where)
        try:
            exec(compile(code, str(README), "exec"), {"__name__": "readme"})
        finally:
            os.chdir(cwd)
            torch.set_num_threads(threads)
    lines = [ln.split() for ln in out.getvalue().splitlines() if re.fullmatch(r"\d+ [\d.]+", ln.strip())]
    return [(int(a), float(b)) for a, b in lines]


def cli_steps(where: Path, *extra: str) -> list[float]:
    out = where / "run"
    assert main(["run", "--threads", "1", "--quiet", "--out", str(out), *extra]) == 0
    res = json.loads((out / "results.json").read_text())
    return [s["accuracy"]["nme"] for s in res["steps"]]


def test_readme_snippet_with_fewer_epochs_gives_the_cli_numbers(tmp_path):
    code = readme_snippet()
    assert 'load_config("digits")' in code
    code = code.replace('load_config("digits")', 'load_config("digits", [{"learner": {"epochs": 2}}])')
    printed = run_snippet(code, tmp_path)
    assert [i for i, _ in printed] == [0, 1, 2, 3, 4]
    assert (tmp_path / "digits.icarl").is_file()
    assert [a for _, a in printed] == cli_steps(tmp_path, "--epochs", "2")


@pytest.mark.slow
def test_readme_snippet_as_it_stands_gives_the_cli_numbers(tmp_path):
    printed = run_snippet(readme_snippet(), tmp_path)
    assert [a for _, a in printed] == cli_steps(tmp_path)


def test_the_spelled_out_keywords_are_the_presets_learner():
    text = README.read_text()
    match = re.search(r"`(ICaRL\(backbone=[^`]*\))`", text)
    assert match is not None
    learner = eval(match.group(1), {"ICaRL": ICaRL})  # our own README's expression
    assert learner.config == load_config("digits").learner
