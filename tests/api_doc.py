"""docs/api.md from the code: every name ``icarl.__all__`` exports, its signature and the first
sentence of its docstring; for a class, its public methods and properties the same way.

    python tests/api_doc.py      # rewrite docs/api.md after changing the public API

tests/test_api_doc.py fails when docs/api.md and this output differ (names, signatures or
first sentences), so the reference cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import icarl

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"

PREFACE = """# Python API

Generated from the code by `python tests/api_doc.py` (tests/test_api_doc.py fails when this
page and the code differ). Every name below is importable from `icarl`
(`from icarl import ICaRL, load`); anything else is internal and may change. Longer guides:
the [README](../README.md#python-api), [examples/](../examples/), [deploy.md](deploy.md),
[data.md](data.md). Methods registered from other packages: `icarl.methods.register` and the
entry point group `icarl.methods` ([experiments.md](experiments.md#your-own-method-plugins)).
"""


def first_sentence(obj: Any) -> str:
    """The first sentence of ``obj``'s own docstring (not one inherited from outside icarl)."""
    doc = inspect.getdoc(obj) or ""
    if re.match(rf"{re.escape(getattr(obj, '__name__', ''))}\(", doc):  # a dataclass's generated doc
        doc = ""
    paragraph = " ".join(doc.split("\n\n")[0].split())
    paragraph = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", paragraph.replace("``", "`"))  # rst -> markdown
    match = re.match(r"(.+?\.)(\s|$)", paragraph)
    return (match.group(1) if match else paragraph) or "(no docstring)"


def signature(obj: Any, name: str, multiline: bool = False) -> str:
    """``name(a: int = 1, *, b: str | None = None) -> T``: annotations as written in the code,
    defaults as their ``repr``."""
    sig = inspect.signature(obj)
    parts, star = [], False
    for p in sig.parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
        star = star or p.kind in (p.KEYWORD_ONLY, p.VAR_POSITIONAL)
        text = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
        if p.annotation is not p.empty:
            text += f": {_annotation(p.annotation)}"
        if p.default is not p.empty:
            text += f" = {_default(p.default)}"
        parts.append(text)
    result = ""
    if sig.return_annotation is not sig.empty and not inspect.isclass(obj):
        result = f" -> {_annotation(sig.return_annotation)}"
    one_line = f"{name}({', '.join(parts)}){result}"
    if len(one_line) <= 100 or not multiline:
        return one_line
    return f"{name}(\n" + "".join(f"    {p},\n" for p in parts) + f"){result}"


def _annotation(a: Any) -> str:
    return a if isinstance(a, str) else getattr(a, "__name__", repr(a))


def _default(v: Any) -> str:
    if dataclasses.is_dataclass(v) or type(v).__name__ == "_HAS_DEFAULT_FACTORY_CLASS":
        return "<factory>"
    return repr(v)


def members(cls: type) -> list[tuple[str, Any]]:
    """Public methods and properties defined in icarl's classes along ``cls``'s MRO; not the
    dataclass fields (they are in the signature) nor scikit-learn's generated ``set_*_request``."""
    fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    out = []
    for name in sorted(dir(cls)):
        if name.startswith("_") or name in fields or re.fullmatch(r"set_\w+_request", name):
            continue
        owner = next((c for c in cls.__mro__ if name in c.__dict__), None)
        if owner is None or not owner.__module__.startswith("icarl"):
            continue
        value = owner.__dict__[name]
        if isinstance(value, property | staticmethod | classmethod) or inspect.isfunction(value):
            out.append((name, value))
    return out


def member_line(name: str, value: Any) -> str:
    """A table row; ``|`` escaped (``str | None`` would split the cell)."""
    if isinstance(value, property):
        cells = (f"`{name}` (property)", first_sentence(value))
    else:
        fn = value.__func__ if isinstance(value, staticmethod | classmethod) else value
        sig = signature(fn, name).replace("(self, ", "(").replace("(self)", "()")
        cells = (f"`{sig}`", first_sentence(fn))
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def section(name: str) -> str:
    obj = getattr(icarl, name)
    if not callable(obj):
        return f"## `{name}`\n\n`{obj!r}`: the installed version of icarl.\n"
    sig = signature(obj, name, multiline=True)
    lines = [f"## `{name}`", "", f"```python\n{sig}\n```", "", first_sentence(obj), ""]
    if inspect.isclass(obj):
        rows = [member_line(n, v) for n, v in members(obj)]
        if rows:
            lines += ["| member | what it does |", "|---|---|", *rows, ""]
    return "\n".join(lines)


def render() -> str:
    names = sorted(icarl.__all__, key=lambda n: (n.startswith("_"), n.lower()))
    toc = ", ".join(f"[`{n}`](#{n.lower()})" for n in names)
    return "\n".join([PREFACE, toc, "", *(section(n) for n in names)]).rstrip() + "\n"


if __name__ == "__main__":
    DOC.write_text(render())
    sys.stdout.write(f"wrote {DOC}\n")
