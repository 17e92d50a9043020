"""``icarl compare``: several methods on ONE stream (same data, class order and seed)."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import distributed, methods
from ..config import ConfigError, RunConfig, to_dict
from ..experiment import preflight, report, runner
from ..experiment.loggers import LogOptions
from ..experiment.results import TABLE_HEADER, default_run_dir, print_row, write_json
from ..files.lock import LOCK_NAME
from .guard import hold
from .run import add_run_options, config_from_args
from .seeds import run_seeds
from .tracking import log_options

HELP = "run several methods on one class-incremental stream, side by side"

DEFAULT_METHODS = "icarl,lwf,finetune,fixed,joint"
COMPARE_VERSION = 1


def build(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--methods",
        default=DEFAULT_METHODS,
        help=f"comma-separated methods, of: {', '.join(methods.available())} (default: {DEFAULT_METHODS}); "
        "see `icarl list methods`",
    )
    p.add_argument("--list", action="store_true", help="list the methods and exit")
    add_run_options(p)


def parse_methods(spec: str) -> list[str]:
    names = list(dict.fromkeys(m.strip() for m in spec.split(",") if m.strip()))
    if not names:
        raise ConfigError("--methods is empty; give a comma-separated list like icarl,lwf,finetune")
    unknown = [m for m in names if m not in methods.available()]
    if unknown:
        raise ConfigError(
            f"unknown method(s) {', '.join(unknown)}; choose from: {', '.join(methods.available())}"
        )
    return names


def summary(res: dict[str, Any]) -> dict[str, Any]:
    """What compare.json keeps of one method's results (its own classifier)."""
    main = res.get("classifier") or "cnn"
    last = res["steps"][-1]
    return {
        "classifier": main,
        "accuracy": [s["accuracy"][main] for s in res["steps"]],
        "average_incremental_accuracy": res["average_incremental_accuracy"][main],
        "final_accuracy": res["final_accuracy"][main],
        "share_newest": last.get("share_newest"),
        "share_first": last.get("share_first"),
        "forgetting": res["forgetting"][main],
        "backward_transfer": res["backward_transfer"][main],
        "train_seconds": round(sum(s["train_seconds"] for s in res["steps"]), 3),
    }


def main(args: argparse.Namespace) -> int:
    if args.list:
        for name in methods.available():
            print(f"{name:<10} {methods.get(name).description}")
        return 0
    if args.method is not None:
        raise ConfigError("icarl compare takes --methods a,b,c (not --method); list them comma-separated")
    names = parse_methods(args.methods)
    cfg = config_from_args(args)
    if args.seeds is not None:
        return run_seeds(args, main, lambda: default_run_dir(replace(cfg, method="compare-seeds")))
    log = log_options(args)
    out = Path(args.out) if args.out else default_run_dir(replace(cfg, method="compare"))
    out = distributed.broadcast_object(out)  # DDP: rank 0's folder name on every rank
    preflight.check_learner(cfg.learner)
    preflight.check_writable(out, "--out")
    with hold(out, "compare folder"):
        if any(p.name != LOCK_NAME for p in out.iterdir()):
            raise ConfigError(f"folder {out} already exists and is not empty; choose another --out")
        return _compare(cfg, names, out, log)


def _compare(cfg: RunConfig, names: list[str], out: Path, log: LogOptions) -> int:
    data = runner.load_run_data(cfg)
    print(f"icarl compare on {data.name}: {', '.join(names)}; one stream, seed {cfg.seed}")
    print(f"folder: {out}")
    t0 = time.perf_counter()
    done: dict[str, dict[str, Any]] = {}
    record: dict[str, Any] = {
        "compare_version": COMPARE_VERSION,
        "methods": [],
        "folders": {},
        "dataset": data.name,
        "seed": cfg.seed,
        "config": to_dict(cfg),  # each method's resolved config is in its results.json
        "summary": {},
    }
    for name in names:
        print(f"\n== {name}: {methods.get(name).description}")
        print(TABLE_HEADER)
        res = runner.run(replace(cfg, method=name), out / name, print_row, data, log=log)
        if done and res["class_order"] != next(iter(done.values()))["class_order"]:
            raise ConfigError("the methods saw different class orders; this is a bug, please report it")
        done[name] = res
        record["class_order"] = res["class_order"]
        record["methods"].append(name)
        record["folders"][name] = name
        record["summary"][name] = summary(res)
        if distributed.is_main():  # DDP: rank 0 writes
            write_json(out / "compare.json", record)  # after each method: partial results survive
    print()
    print(report.format_table(report.table_rows(done, all_classifiers=False)))
    print()
    print(report.format_bias(report.bias_rows(done)))
    page = report.build(out, log.figures) if distributed.is_main() else out / "report.html"
    print(f"\nwall time {time.perf_counter() - t0:.1f} s; report: {page}")
    return 0
