"""The quick subset's list of left-out tests names tests that exist (a renamed or removed test
would otherwise silently join the quick subset)."""

from __future__ import annotations

import ast
from pathlib import Path

from heavy_tests import HEAVY

TESTS = Path(__file__).resolve().parent


def functions_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def test_every_left_out_test_exists():
    for file, names in HEAVY.items():
        assert (TESTS / file).is_file(), f"tests/heavy_tests.py names {file}, which is gone"
        missing = set(names) - functions_in(TESTS / file)
        assert not missing, f"tests/heavy_tests.py names {sorted(missing)} in {file}, which are gone"
