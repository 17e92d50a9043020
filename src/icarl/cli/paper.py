"""``icarl paper cifar100``: the paper's CIFAR-100 experiments (Figure 2 and the ablation
table) as one resumable grid of ordinary runs, then their table beside the paper's values and
a Figure-2-style plot (:mod:`icarl.experiment.paper`). ``--dry-run`` prints the grid, its work
and the time it would take here (measured) and on a GPU (assumed)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from ..config import ConfigError, RunConfig, load_config, parse_override
from ..data.loading import run_data
from ..experiment import grid, paper, paper_cost
from ..experiment.paper_figure import finish
from ..experiment.plots import parse_formats
from ..files.lock import LOCK_NAME
from . import run
from .args import run as run_args
from .grid import cell_args, finished

PRESET = "cifar100-paper"


def main(args: argparse.Namespace) -> int:
    if args.resume:
        if args.benchmark:
            raise ConfigError(
                "--resume OUT continues the grid as it was started; drop the benchmark and options"
            )
        return _resume(Path(args.resume), args.threads)
    if args.benchmark is None:
        raise ConfigError(
            "name the benchmark: icarl paper cifar100 [options] [KEY=VALUE ...] (or --resume OUT)"
        )
    formats = parse_formats(args.figure_format)
    sp = paper.spec(
        budget=args.budget,
        classes_per_step=args.classes_per_step,
        methods=args.methods,
        orders=args.orders,
        epochs=args.epochs,
    )
    base = load_config(PRESET, base_overrides(args, sp))  # the overrides checked before anything runs
    cells = paper.plan(sp, base.seed)
    if args.dry_run:
        return _dry_run(args, sp, cells, base)
    out = Path(args.out or f"runs/paper-cifar100-{sp.budget}")
    _check_out(out, args.force)
    out.mkdir(parents=True, exist_ok=True)
    args.epochs = sp.epochs  # what the cells run with, kept for --resume
    stored = {k: v for k, v in vars(args).items() if k != "func"}
    grid.write_manifest(out, "paper", getattr(args, "argv", []), cells, args=stored, paper=sp.as_dict())
    return _run(out, cells, args, sp, formats)


def base_overrides(args: argparse.Namespace, sp: paper.PaperSpec) -> list[dict[str, Any]]:
    """The command line's settings of every run, as tables merged over the preset."""
    out: list[dict[str, Any]] = [{"learner": {"epochs": sp.epochs}}]
    for key, value in (
        ("data.path", args.data),
        ("data.checksum", args.checksum),
        ("learner.device", args.device),
    ):
        if value is not None:
            section, name = key.split(".")
            out.append({section: {name: value}})
    return out + [parse_override(o) for o in args.overrides]


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; pass a folder")
    if out.exists() and any(p.name != LOCK_NAME for p in out.iterdir()) and not force:
        raise ConfigError(
            f"folder {out} already exists and is not empty; continue it with icarl paper --resume {out}, "
            "choose another --out, or pass --force"
        )


def _run(
    out: Path, cells: list[grid.Cell], args: argparse.Namespace, sp: paper.PaperSpec, formats: tuple[str, ...]
) -> int:
    """Every cell in turn (finished ones kept, interrupted ones resumed), then the table."""
    for i, cell in enumerate(cells, 1):
        folder = out / cell.folder
        if finished(folder):
            print(f"=== {grid.describe(cell)} ({i} of {len(cells)}): finished, kept", flush=True)
            continue
        print(f"\n=== {grid.describe(cell)} ({i} of {len(cells)})", flush=True)
        code = run_cell(cell_args(args, cell, folder))
        if code:
            return code
    command = "icarl " + shlex.join(getattr(args, "argv", None) or ["paper", "cifar100"])
    record = finish(out, cells, sp, command, formats)
    print()
    print(paper.format_table(record["rows"]))
    figure = f"; figure: {out / record['figure']}" if record["figure"] else ""
    print(f"table: {out / 'paper.md'}{figure}")
    return 0


def run_cell(ns: argparse.Namespace) -> int:
    """One cell as ``icarl run --config cifar100-paper ...`` (new, or resumed from its checkpoint)."""
    parser = argparse.ArgumentParser(prog="icarl run")
    run_args.build(parser)
    r = parser.parse_args([])
    r.config = PRESET
    r.data, r.checksum, r.device, r.epochs = ns.data, ns.checksum, ns.device, ns.epochs
    r.overrides = list(ns.overrides)
    r.out, r.resume, r.force = ns.out, ns.resume, ns.force
    r.quiet, r.figure_format, r.threads = ns.quiet, ns.figure_format, ns.threads
    code: int = run.main(r)
    return code


def _resume(out: Path, thread_count: Any) -> int:
    doc = grid.read_manifest(out)
    if doc.get("kind") != "paper" or not isinstance(doc.get("paper"), dict):
        kind = doc.get("kind")
        raise ConfigError(f"{out} is a grid of icarl {kind}; continue it with icarl {kind} --resume {out}")
    sp = paper.PaperSpec.from_dict(doc["paper"])
    stored = doc.get("args") or {}
    args = argparse.Namespace(**{**stored, "resume": None, "force": False})
    if thread_count is not None:
        args.threads = thread_count
    return _run(out, grid.cells_of(doc), args, sp, parse_formats(getattr(args, "figure_format", None)))


def _dry_run(args: argparse.Namespace, sp: paper.PaperSpec, cells: list[grid.Cell], base: RunConfig) -> int:
    """The grid, its work and its time; nothing is trained (no data needed without --data)."""
    data = paper_cost.published_cifar100() if args.data is None else run_data(base.data)[0]
    out = args.out or f"runs/paper-cifar100-{sp.budget}"
    print(paper_cost.dry_run_text(PRESET, sp, cells, base_overrides(args, sp), data, args.gpu_rate, out))
    return 0
