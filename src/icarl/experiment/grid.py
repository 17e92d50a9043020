"""Repetitions of one experiment: over seeds (``--seeds``), class orders (``--orders N``) and,
for an A/B comparison, two configurations (``icarl compare --ab``). Each repetition is an
ordinary run (or compare) folder, a *cell*; ``grid.json`` in the folder above lists the
cells, the command that made them and how each differs from the base configuration, so that
a killed grid continues where it stopped (``--resume OUT``) and ``icarl report OUT``
aggregates whatever has finished (:mod:`.aggregate`).

Layout: ``OUT/seed-S``, ``OUT/order-K``, ``OUT/order-K-seed-S``, each under ``OUT/A`` and
``OUT/B`` for an A/B, or under ``OUT/KEY=VALUE[,KEY2=VALUE2]`` for each combination of a sweep
(``--sweep KEY=V1,V2``). A cell with only a configuration is that folder itself.

Class order ``K`` is the ``K``-th order drawn from the generator behind
``data.class_order`` seeded by the base configuration's seed (:func:`icarl.data.orders.order_draw`),
the same for every seed and both variants, so that order and seed pair the runs.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigError, parse_override
from ..data.orders import order_draw
from ..files.plain import PlainFileError, check_regular
from .results import write_json

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GRID_NAME = "grid.json"
GRID_VERSION = 1
REPLICATES = ("order", "seed")  # the axes a mean is taken over; the others name groups


@dataclass(frozen=True)
class Cell:
    """One repetition: its folder (relative to the grid's), what identifies it, and the
    ``KEY=VALUE`` overrides it adds to the base command."""

    folder: str
    labels: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        """The configuration it repeats: its labels other than seed and order ("" for one)."""
        return ",".join(
            str(v) if k == "variant" else f"{k}={v}" for k, v in self.labels.items() if k not in REPLICATES
        )

    @property
    def replicate(self) -> tuple[Any, ...]:
        """Which repetition of its group it is: (order, seed); pairs A and B cells."""
        return tuple(self.labels.get(k) for k in REPLICATES)

    def as_dict(self) -> dict[str, Any]:
        return {"folder": self.folder, "labels": self.labels, "overrides": list(self.overrides)}


def parse_sweep(spec: str) -> tuple[str, list[str]]:
    """``--sweep learner.lr=0.5,1,2`` -> ("learner.lr", ["0.5", "1", "2"]): the values as
    ``KEY=VALUE`` texts; a TOML array of values for values that hold commas themselves
    (``--sweep 'learner.lr_milestones=[[3, 4], [2, 4]]'``)."""
    if "=" not in spec:
        raise ConfigError(f"--sweep {spec!r} has no '='; write KEY=V1,V2, like learner.lr=0.5,1.0")
    key, raw = (part.strip() for part in spec.split("=", 1))
    if raw.startswith("["):
        try:
            values = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"--sweep {spec!r}: {raw} is not a TOML array ({e})") from None
        texts = [json.dumps(v) for v in values]
    else:
        texts = [v.strip() for v in raw.split(",") if v.strip()]
    if len(texts) < 2 or len(set(texts)) != len(texts):
        raise ConfigError(f"--sweep {spec!r}: give two or more distinct values, like {key}=0.5,1.0")
    for t in texts:
        parse_override(f"{key}={t}")  # the key and each value checked as an override
    return key, texts


def configurations(
    variants: dict[str, list[str]] | None, sweeps: Sequence[tuple[str, list[str]]] = ()
) -> list[tuple[str, dict[str, Any], list[str]]]:
    """(folder prefix, labels, overrides) of each configuration: the A and B of an A/B, every
    combination of the swept values, or the one configuration."""
    if variants:
        return [(name, {"variant": name}, list(extra)) for name, extra in variants.items()]
    out = []
    for combo in itertools.product(*[[(k, v) for v in vs] for k, vs in sweeps]):
        labels = {k: parse_override(f"{k}={v}").popitem()[1] for k, v in combo}
        while any(isinstance(x, dict) for x in labels.values()):  # the nested table's leaf
            labels = {k: next(iter(x.values())) if isinstance(x, dict) else x for k, x in labels.items()}
        name = ",".join(SAFE.sub("_", f"{k}={v}") for k, v in combo)
        out.append((name, labels, [f"{k}={v}" for k, v in combo]))
    return out or [("", {}, [])]


SAFE = re.compile(r"[^A-Za-z0-9._=-]")


def plan(
    *,
    seeds: Sequence[int] | None,
    orders: int,
    class_order: str,
    seed: int,
    variants: dict[str, list[str]] | None = None,
    sweeps: Sequence[tuple[str, list[str]]] = (),
) -> list[Cell]:
    """The cells of a grid: every configuration x order x seed (an axis left out has one value)."""
    if orders < 0 or orders > 1000:
        raise ConfigError(f"--orders is {orders}; give a number of class orders from 1 to 1000")
    drawn = {k: order_draw(class_order, seed, k) for k in range(orders)}
    cells = []
    for name, config_labels, extra in configurations(variants, sweeps):
        order_axis: list[int | None] = list(range(orders)) if orders else [None]
        seed_axis: list[int | None] = list(seeds) if seeds else [None]
        for k in order_axis:
            for s in seed_axis:
                labels: dict[str, Any] = dict(config_labels)
                parts = []
                if k is not None:
                    labels["order"] = k
                    parts.append(f"order-{k}")
                if s is not None:
                    labels["seed"] = s
                    parts.append(f"seed-{s}")
                folder = "/".join(p for p in (name, "-".join(parts)) if p)
                overrides = [*extra, *([f"data.class_order={drawn[k]}"] if k is not None else [])]
                cells.append(Cell(folder or ".", labels, tuple(overrides)))
    return cells


def write_manifest(out: Path, kind: str, argv: Sequence[str], cells: Sequence[Cell], **extra: Any) -> None:
    record = {
        "grid_version": GRID_VERSION,
        "kind": kind,
        "argv": list(argv),
        "cells": [c.as_dict() for c in cells],
        **extra,
    }
    write_json(out / GRID_NAME, record)


def read_manifest(out: Path) -> dict[str, Any]:
    """``OUT/grid.json``, checked; a one-line ``ConfigError`` for a damaged one."""
    path = out / GRID_NAME
    try:
        check_regular(path, "grid manifest", "restore it or run the grid again")  # not a FIFO
        doc = json.loads(path.read_text(encoding="utf-8"))
    except PlainFileError as e:
        raise ConfigError(str(e)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        why = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise ConfigError(f"{path} cannot be read ({why}); restore it or run the grid again") from None
    ok = (
        isinstance(doc, dict)
        and doc.get("grid_version") == GRID_VERSION
        and doc.get("kind") in ("run", "compare", "paper")
        and isinstance(doc.get("argv"), list)
        and isinstance(doc.get("cells"), list)
        and all(
            isinstance(c, dict)
            and isinstance(c.get("labels", {}), dict)
            and isinstance(c.get("overrides", []), list)
            for c in doc["cells"]
        )
    )
    if not ok:
        raise ConfigError(f"{path} is not a grid manifest of this version; run the grid again")
    return doc


def cells_of(doc: dict[str, Any]) -> list[Cell]:
    cells = []
    for c in doc["cells"]:
        folder = str(c.get("folder", ""))
        if not folder or folder.startswith("/") or ".." in Path(folder).parts:
            raise ConfigError(f"grid.json names the cell folder {folder!r}, outside the grid; restore it")
        cells.append(Cell(folder, dict(c.get("labels", {})), tuple(c.get("overrides", ()))))
    return cells


CELL_NAME = re.compile(r"^(?:order-(\d+))?-?(?:seed-(-?\d+))?$")


def discover(out: Path) -> list[Cell]:
    """The cells of a folder without ``grid.json`` (an older ``--seeds`` folder, or runs made
    one by one): its ``seed-S``, ``order-K`` and ``order-K-seed-S`` folders, under ``A`` and
    ``B`` for an A/B."""
    variants = [v for v in ("A", "B") if (out / v).is_dir()] or [""]
    cells = []
    for name in variants:
        base = out / name if name else out
        for sub in sorted(p for p in base.iterdir() if p.is_dir()):
            match = CELL_NAME.match(sub.name)
            if not match or not sub.name:
                continue
            labels: dict[str, Any] = {"variant": name} if name else {}
            if match.group(1) is not None:
                labels["order"] = int(match.group(1))
            if match.group(2) is not None:
                labels["seed"] = int(match.group(2))
            cells.append(Cell(f"{name}/{sub.name}" if name else sub.name, labels))
    return sorted(cells, key=lambda c: (c.group, str(c.replicate)))


def describe(cell: Cell) -> str:
    """``variant B, order 2, seed 1`` for progress lines."""
    return ", ".join(f"{k} {v}" for k, v in cell.labels.items()) or "the run"
