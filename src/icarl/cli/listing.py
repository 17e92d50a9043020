"""``icarl list``: the datasets, methods, backbones and presets this icarl knows."""

from __future__ import annotations

import argparse
import itertools
import json
import re
from importlib import resources

from .. import methods
from ..config import preset_names
from ..data import registry as formats
from ..methods import plugins
from ..nets import registry

HELP = "list the datasets, methods, backbones and presets, with one line on each"
KINDS = ("datasets", "methods", "backbones", "presets")


def first_sentence(text: str) -> str:
    """The first sentence of ``text`` (``"Sec. 4"`` does not end one; at most 140
    characters), without rst quotes."""
    text = " ".join(text.replace("``", "").split())
    first = re.split(r"(?<!Sec)(?<!al)(?<!e\.g)\.\s+", text, maxsplit=1)[0].rstrip(".:,;")
    return first if len(first) <= 140 else first[:137].rsplit(" ", 1)[0] + " ..."


def preset_descriptions() -> dict[str, str]:
    """preset -> the first sentence of the comment block that opens its TOML file."""
    folder = resources.files("icarl") / "configs"
    out: dict[str, str] = {}
    for name in preset_names():
        lines = (folder / f"{name}.toml").read_text().splitlines()
        block = itertools.takewhile(lambda ln: ln.startswith("#"), lines)
        out[name] = first_sentence(" ".join(ln.lstrip("#") for ln in block))
    return out


def everything() -> dict[str, dict[str, str]]:
    datasets = {k: first_sentence(v) for k, v in formats.descriptions().items()}
    return {
        "datasets": datasets,
        "methods": {**methods.descriptions(), **_installed_plugins()},
        "backbones": registry.descriptions(),
        "presets": preset_descriptions(),
    }


def _installed_plugins() -> dict[str, str]:
    """The methods of installed entry points not loaded yet (named, not imported)."""
    return {
        name: f"plugin {ep.value} (not loaded; --method {name} or --plugin {ep.module} loads it)"
        for name, ep in plugins.installed().items()
        if name not in methods.available()
    }


def build(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", nargs="?", choices=KINDS, help="list only these (default: all four)")
    p.add_argument("--json", action="store_true", help="print one JSON document")


def main(args: argparse.Namespace) -> int:
    table = everything()
    if args.kind:
        table = {args.kind: table[args.kind]}
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    for kind, entries in table.items():
        print(f"{kind}:")
        width = max(len(n) for n in entries)
        for name, text in entries.items():
            print(f"  {name:<{width}}  {text}".rstrip())
    return 0
