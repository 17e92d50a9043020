"""The package's shape: layers that import downwards only, no import cycles, no imports of
icarl modules hidden inside functions, small files and functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "icarl"

# bottom to top; a module may import its own layer and the layers below it
LAYERS = [
    ("version", "errors", "config", "registry", "timing", "threads", "distributed"),
    ("files",),
    ("nets",),
    ("data",),
    ("train",),
    ("algorithm",),
    ("methods",),
    ("deploy",),
    ("experiment",),
    ("serve",),
    ("cli", "tools", "__main__", "__init__"),
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def resolve(module: str, path: Path, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The icarl modules an import statement names (a submodule where it is one)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "icarl"]
    if node.level:
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for _ in range(node.level - 1):
            package = package.rsplit(".", 1)[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    if base.split(".")[0] != "icarl":
        return []
    out = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        out.append(sub if sub in MODULES else base)
    return out


def imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported icarl module, line, inside a function) for every import in ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.extend((m, child.lineno, in_function) for m in resolve(module, path, child))
            visit(child, inner)

    visit(tree, False)
    return found


GRAPH = {m: sorted({target for target, _, _ in imports(m) if target != m}) for m in MODULES}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def test_every_module_is_in_a_layer() -> None:
    assert {layer(m) for m in MODULES} <= set(RANK), sorted({layer(m) for m in MODULES} - set(RANK))


def test_the_import_graph_has_no_cycle() -> None:
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None


def test_layers_import_downwards_only() -> None:
    upward = [
        f"{m} imports {t}"
        for m, targets in GRAPH.items()
        for t in targets
        if t != "icarl" and RANK[layer(t)] > RANK[layer(m)]
    ]
    assert not upward, upward
    below_top = [m for m, targets in GRAPH.items() if "icarl" in targets]
    assert not below_top, f"modules importing the package root: {below_top}"


def test_the_learner_knows_nothing_of_runs_reports_or_model_loading() -> None:
    reach: set[str] = set()
    todo = ["icarl.algorithm.learner"]
    while todo:
        m = todo.pop()
        for t in GRAPH[m]:
            if t not in reach:
                reach.add(t)
                todo.append(t)
    assert not {layer(m) for m in reach} & {"experiment", "deploy", "methods", "cli"}, sorted(reach)


def test_no_icarl_import_inside_a_function() -> None:
    hidden = [f"{m}:{line} imports {t}" for m in MODULES for t, line, inner in imports(m) if inner]
    assert not hidden, hidden


def code_lines(text: str) -> set[int]:
    """Line numbers that hold code: not blank, not only a comment, not part of a docstring.
    The caps count these, so explanations never have to be cut to fit (issue 24)."""
    tree = ast.parse(text)
    docs: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docs.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    lines = text.splitlines()
    return {
        i
        for i, line in enumerate(lines, 1)
        if line.strip() and not line.strip().startswith("#") and i not in docs
    }


MAX_FILE, MAX_FUNCTION = 400, 60  # lines of code (see code_lines)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_files_and_functions_are_small(module: str) -> None:
    text = MODULES[module].read_text()
    code = code_lines(text)
    assert len(code) <= MAX_FILE, f"{module}: {len(code)} lines of code"
    long = [
        f"{node.name} ({n} lines of code)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (n := len(code & set(range(node.lineno, (node.end_lineno or node.lineno) + 1)))) > MAX_FUNCTION
    ]
    assert not long, f"{module}: {long}"


def test_code_lines_leave_out_comments_and_docstrings() -> None:
    text = 'def f():\n    """Doc\n    more."""\n    # why\n\n    return 1  # trailing\n'
    assert code_lines(text) == {1, 6}


def test_no_user_facing_precondition_is_an_assert() -> None:
    """``assert`` is for internal invariants only, marked as such on the line."""
    bare = [
        f"{module_name(p)}:{n.lineno}"
        for p in MODULES.values()
        for n in ast.walk(ast.parse(p.read_text()))
        if isinstance(n, ast.Assert) and "internal" not in p.read_text().splitlines()[n.lineno - 1]
    ]
    assert not bare, bare
