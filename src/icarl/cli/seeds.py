"""``--seeds S1,S2,...`` of ``icarl run`` and ``icarl compare``: one run (or compare) per
seed into ``OUT/seed-S``, then ``aggregate.json``, ``aggregate.html`` and
``accuracy_seeds.png`` in ``OUT`` (:mod:`icarl.experiment.aggregate`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ..config import ConfigError
from ..experiment import aggregate
from ..experiment.plots import parse_formats
from .tracking import parse_seeds

Single = Callable[[argparse.Namespace], int]


def _check(args: argparse.Namespace) -> None:
    if getattr(args, "seed", None) is not None:
        raise ConfigError("give --seed S or --seeds S1,S2,..., not both")
    for flag in ("resume", "save", "dry_run"):
        if getattr(args, flag, None):
            name = "--" + flag.replace("_", "-")
            raise ConfigError(
                f"{name} works on one run; use it with --seed S (a seed folder) instead of --seeds"
            )


def run_seeds(args: argparse.Namespace, single: Single, default_out: Callable[[], Path]) -> int:
    """``single`` (the command's one-seed main) once per seed, then the aggregate."""
    seeds = parse_seeds(args.seeds)
    _check(args)
    formats = parse_formats(getattr(args, "figure_format", None))
    out = Path(args.out) if args.out else default_out()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; pass a folder")
    if out.exists() and any(out.iterdir()) and not getattr(args, "force", False):
        raise ConfigError(f"folder {out} already exists and is not empty; choose another --out")
    for seed in seeds:
        print(f"\n=== seed {seed} ({seeds.index(seed) + 1} of {len(seeds)})", flush=True)
        one = argparse.Namespace(**{**vars(args), "seeds": None, "seed": seed})
        one.out = str(out / aggregate.seed_folder(seed))
        code = single(one)
        if code:
            return code
    record = aggregate.build(out, seeds, formats)
    print()
    print(aggregate.format_table(aggregate.rows(record["methods"]), len(seeds)))
    print(f"aggregate: {out / aggregate.AGGREGATE_NAME}; report: {out / 'aggregate.html'}")
    return 0
