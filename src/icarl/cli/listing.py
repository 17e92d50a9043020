"""``icarl list``: the datasets, methods, backbones and presets this icarl knows (from the
catalogue and the presets, without importing torch: :mod:`icarl.cli.catalogue`), and the
methods of installed plugins (entry points in the group ``icarl.methods``), named, not
imported. ``icarl list --plugin MODULE`` imports MODULE first (and torch), then lists what the
registries hold."""

from __future__ import annotations

import argparse
import itertools
import json
import re
from importlib import resources
from importlib.metadata import entry_points

from ..config import preset_names
from . import catalogue


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
    methods = catalogue.method_descriptions()
    return {
        "datasets": {k: first_sentence(v) for k, v in catalogue.dataset_descriptions().items()},
        "methods": {**methods, **installed_plugins(set(methods))},
        "backbones": catalogue.backbone_descriptions(),
        "presets": preset_descriptions(),
    }


def installed_plugins(loaded: set[str]) -> dict[str, str]:
    """The methods of installed entry points (group ``icarl.methods``) not loaded yet, named,
    not imported; the first of two distributions giving one name wins, as when it loads."""
    out: dict[str, str] = {}
    for ep in entry_points(group=catalogue.PLUGIN_GROUP):
        if ep.name not in loaded and ep.name not in out:
            out[ep.name] = (
                f"plugin {ep.value} (not loaded; --method {ep.name} or --plugin {ep.module} loads it)"
            )
    return out


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
