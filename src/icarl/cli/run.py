"""``icarl run``: train one method over a class-incremental stream."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ..config import ConfigError, RunConfig, load_config, parse_override
from . import command

RUN_FLAGS: dict[str, tuple[str, type]] = {
    "--dataset": ("data.dataset", str),
    "--data": ("data.path", str),
    "--classes-per-step": ("data.classes_per_step", int),
    "--first-step": ("data.first_step", int),
    "--class-order": ("data.class_order", str),
    "--classes": ("data.classes", str),
    "--method": ("method", str),
    "--memory": ("learner.memory_size", int),
    "--epochs": ("learner.epochs", int),
    "--lr": ("learner.lr", float),
    "--batch-size": ("learner.batch_size", int),
    "--backbone": ("learner.backbone", str),
    "--device": ("learner.device", str),
    "--seed": ("seed", int),
}


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options shared by every command that runs a stream (run, compare)."""
    p.add_argument("--config", help="preset name or TOML file (default: digits)")
    for flag, (key, tp) in RUN_FLAGS.items():
        p.add_argument(flag, type=tp, default=None, help=f"sets {key}")
    p.add_argument("--out", help="run folder to create (default: runs/<dataset>-<method>-<time>)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. learner.lr=0.5")


def _nest(key: str, value: Any) -> dict[str, Any]:
    node: dict[str, Any] = {}
    cur = node
    *parents, last = key.split(".")
    for p in parents:
        cur = cur.setdefault(p, {})
    cur[last] = value
    return node


def config_from_args(args: argparse.Namespace) -> RunConfig:
    overrides: list[dict[str, Any]] = []
    for flag, (key, _) in RUN_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            overrides.append(_nest(key, value))
    if args.quiet:
        overrides.append({"learner": {"progress": False}})
    for item in args.overrides:
        overrides.append(parse_override(item))
    return load_config(args.config or "digits", overrides)


@command("run", "train a method over a class-incremental stream", add_run_options)
def cmd_run(args: argparse.Namespace) -> int:
    from .. import distributed, runner

    cfg = config_from_args(args)
    out = Path(args.out) if args.out else runner.default_run_dir(cfg)
    out = distributed.broadcast_object(out)  # DDP: rank 0's folder name on every rank
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"run folder {out} already exists and is not empty; choose another --out")
    distributed.barrier()  # DDP: every rank has checked before rank 0 writes anything
    data = runner.load_run_data(cfg)
    print(
        f"icarl {cfg.method} on {data.name}: {data.num_classes} classes, "
        f"{len(data.train)} train / {len(data.test)} test images {data.image_shape}"
    )
    print(f"run folder: {out}")
    print(runner.TABLE_HEADER)
    t0 = time.perf_counter()
    results = runner.run(cfg, out, runner.print_row, data)
    avg = results["average_incremental_accuracy"]
    fin = results["final_accuracy"]

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.2f}%"

    print(f"average incremental accuracy: NME {pct(avg['nme'])}  CNN {pct(avg['cnn'])}")
    print(f"final accuracy:               NME {pct(fin['nme'])}  CNN {pct(fin['cnn'])}")
    print(f"wall time {time.perf_counter() - t0:.1f} s; results: {out / 'results.json'}")
    return 0
