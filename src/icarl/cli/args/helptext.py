"""``--help`` texts that name the choices of a flag and its default (from the catalogue and
the presets: no torch)."""

from __future__ import annotations

from functools import cache
from typing import Any

from ...config import RunConfig, from_table, preset_names, read_toml, to_dict
from .. import catalogue

DEFAULT_PRESET = "digits"


def choices(key: str) -> list[str]:
    """The names a configuration key takes (empty for free values)."""
    table = {
        "data.dataset": catalogue.datasets,
        "method": catalogue.methods,
        "learner.backbone": catalogue.backbones,
        "config": preset_names,
    }
    return table[key]() if key in table else []


@cache
def _preset() -> dict[str, Any]:
    """The default preset as a plain dict, read once per process (not once per flag); its
    values are shown, not run, so they are not checked here (a run checks its own)."""
    return to_dict(from_table(RunConfig, read_toml(DEFAULT_PRESET), ""))


def preset_default(key: str) -> Any:
    """``key``'s value in the default preset (``digits``), or ``None`` where it has none."""
    node: Any = _preset()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def flag_help(key: str) -> str:
    """``sets KEY; one of: A, B (default: from --config; digits: V)`` (argparse-escaped)."""
    text = f"sets {key}"
    names = choices(key)
    if names:
        text += f"; one of: {', '.join(names)}"
        if key == "learner.backbone":
            text += ", or package.module:factory"
    value = preset_default(key)
    if value is not None:
        text += f" (default: from --config; {DEFAULT_PRESET}: {value})"
    return text.replace("%", "%%")


def config_help() -> str:
    return f"preset name or TOML file; presets: {', '.join(preset_names())} (default: {DEFAULT_PRESET})"


TRUST_BACKBONE_HELP = (
    "allow a model file or checkpoint whose backbone is an import path (package.module:factory) to "
    "import that module and call the factory, which runs its code: only for files you trust"
)


def add_trust_backbone(p: Any) -> None:
    """``--trust-backbone``: the consent a command that loads a model file or checkpoint needs
    before it imports the backbone module the file names (:func:`icarl.nets.adapt.check_consent`)."""
    p.add_argument("--trust-backbone", action="store_true", help=TRUST_BACKBONE_HELP)


PLUGIN_HELP = (
    "import MODULE first: its methods (registered with icarl.methods.register, or its entry points "
    "in the group icarl.methods) become usable; repeatable. Also what allows a model file, "
    "checkpoint or results.json naming a plugin's method to import it"
)
