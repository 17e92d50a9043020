"""Repetitions on the command line: ``--seeds S1,S2``, ``--orders N`` (``run``, ``compare``)
and ``--ab 'KEY=VALUE ...'`` (``compare``): one run (or compare) per cell of the grid, into
``OUT/<cell>`` (:mod:`icarl.experiment.grid`), then ``aggregate.json``, ``aggregate.html`` and
``accuracy_repeats.png`` in ``OUT`` (:mod:`icarl.experiment.aggregate`). A killed grid
continues with ``--resume OUT``: finished cells are kept, interrupted ones resume from their
checkpoint, the rest start."""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import ConfigError, RunConfig, parse_override
from ..experiment import aggregate, grid
from ..experiment.plots import parse_formats
from ..files.checkpoint import CHECKPOINT_NAME, RESULTS_NAME
from ..files.lock import LOCK_NAME
from .tracking import parse_seeds

Single = Callable[[argparse.Namespace], int]
GRID_FLAGS = ("seeds", "orders", "ab", "sweep")


def wants_grid(args: argparse.Namespace) -> bool:
    return any(getattr(args, f, None) for f in GRID_FLAGS) or getattr(args, "seeds", None) is not None


def _check(args: argparse.Namespace) -> None:
    if getattr(args, "seeds", None) is not None and getattr(args, "seed", None) is not None:
        raise ConfigError("give --seed S or --seeds S1,S2,..., not both")
    for flag in ("save", "dry_run"):
        if getattr(args, flag, None):
            name = "--" + flag.replace("_", "-")
            raise ConfigError(
                f"{name} works on one run; use it on one cell of the grid (one --seed, one class order)"
            )


def variants(spec: str | None) -> dict[str, list[str]] | None:
    """``--ab 'learner.lr=1.0 learner.amp=bf16'`` -> A (the base) and B (with those settings)."""
    if spec is None:
        return None
    items = shlex.split(spec)
    if not items:
        raise ConfigError("--ab is empty; give the settings of B, like --ab 'learner.lr=1.0'")
    for item in items:
        parse_override(item)  # KEY=VALUE, checked now
    return {"A": [], "B": items}


def run_grid(args: argparse.Namespace, single: Single, kind: str, cfg: RunConfig, default_out: Path) -> int:
    """Plan the grid of ``args`` (over the resolved base ``cfg``), write ``grid.json``, run it."""
    _check(args)
    seeds = parse_seeds(args.seeds) or None
    sweeps = [grid.parse_sweep(s) for s in getattr(args, "sweep", None) or []]
    if sweeps and getattr(args, "ab", None):
        raise ConfigError("give --ab or --sweep, not both: an A/B is a sweep of two configurations")
    if len({k for k, _ in sweeps}) != len(sweeps):
        raise ConfigError("--sweep names the same key twice; give each key once with all its values")
    cells = grid.plan(
        seeds=seeds,
        orders=int(getattr(args, "orders", None) or 0),
        class_order=cfg.data.class_order,
        seed=cfg.seed,
        variants=variants(getattr(args, "ab", None)),
        sweeps=sweeps,
    )
    out = Path(args.out) if args.out else default_out
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; pass a folder")
    if out.exists() and any(p.name != LOCK_NAME for p in out.iterdir()) and not getattr(args, "force", False):
        raise ConfigError(
            f"folder {out} already exists and is not empty; continue it with --resume {out}, "
            "choose another --out, or pass --force"
        )
    parse_formats(getattr(args, "figure_format", None))
    out.mkdir(parents=True, exist_ok=True)
    stored = {k: v for k, v in vars(args).items() if k not in ("func",)}
    grid.write_manifest(out, kind, getattr(args, "argv", []), cells, args=stored)
    return run_cells(out, cells, args, single)


def resume_grid(out: Path, single: Single, threads: Any = None) -> int:
    """``--resume OUT`` of a grid: the stored command, continued cell by cell."""
    doc = grid.read_manifest(out)
    stored = doc.get("args")
    if not isinstance(stored, dict):
        raise ConfigError(f"{out / grid.GRID_NAME} holds no command to continue; run the grid again")
    args = argparse.Namespace(**{**stored, "resume": None, "force": False})
    if threads is not None:
        args.threads = threads
    return run_cells(out, grid.cells_of(doc), args, single)


def cell_args(args: argparse.Namespace, cell: grid.Cell, folder: Path) -> argparse.Namespace:
    """The one-run command of a cell: its seed and overrides; resumed from its checkpoint,
    or started (replacing a folder that holds no checkpoint: nothing of it can be kept)."""
    ns = argparse.Namespace(**{**vars(args), **{f: None for f in GRID_FLAGS}})
    ns.overrides = [*(getattr(args, "overrides", None) or []), *cell.overrides]
    if "seed" in cell.labels:
        ns.seed = cell.labels["seed"]
    checkpointed = (folder / CHECKPOINT_NAME).is_file() or (folder / "compare.json").is_file()
    if checkpointed:
        ns.resume, ns.out, ns.force = str(folder), None, False
    else:
        ns.resume, ns.out, ns.force = None, str(folder), folder.exists()
    return ns


def finished(folder: Path) -> bool:
    """A run folder with its results, or a compare folder whose every method finished."""
    if (folder / RESULTS_NAME).is_file():
        return True
    try:
        return bool(json.loads((folder / "compare.json").read_text(encoding="utf-8")).get("finished"))
    except (OSError, ValueError, AttributeError):
        return False


def run_cells(out: Path, cells: list[grid.Cell], args: argparse.Namespace, single: Single) -> int:
    for i, cell in enumerate(cells, 1):
        folder = out / cell.folder
        if finished(folder):
            print(f"=== {grid.describe(cell)} ({i} of {len(cells)}): finished, kept", flush=True)
            continue
        print(f"\n=== {grid.describe(cell)} ({i} of {len(cells)})", flush=True)
        code = single(cell_args(args, cell, folder))
        if code:
            return code
    formats = parse_formats(getattr(args, "figure_format", None))
    record = aggregate.build(out, cells, formats)
    print()
    print(aggregate.format_table(aggregate.table_of(record)))
    if "ab" in record:
        print()
        print(aggregate.format_ab(record["ab"]["methods"]))
    print(f"aggregate: {out / aggregate.AGGREGATE_NAME}; report: {out / 'aggregate.html'}")
    return 0
