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
from ..experiment.estimate import estimate
from ..experiment.grid import GRID_NAME
from ..experiment.loggers import LogOptions
from ..experiment.results import default_run_dir, print_row, table_header, write_json
from ..files.checkpoint import CHECKPOINT_NAME, RESULTS_NAME, load_checkpoint
from ..files.lock import LOCK_NAME
from .args.compare import DEFAULT_METHODS
from .grid import resume_grid, run_grid, wants_grid
from .guard import hold
from .run import config_from_args
from .tracking import log_options

COMPARE_VERSION = 1


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
    log_options(args)  # --log and --figure-format checked before anything is written
    if args.resume:
        folder = Path(args.resume)
        if (folder / GRID_NAME).is_file():
            return resume_grid(folder, main, args.threads)
        return _resume(folder)
    names = parse_methods(args.methods)
    cfg = config_from_args(args)
    if wants_grid(args):
        if args.ab and len(names) > 1 and args.methods != DEFAULT_METHODS:
            raise ConfigError(
                "--ab compares two configurations of one method; give --method NAME or one --methods"
            )
        if args.ab:
            args.methods = names[0] if args.methods != DEFAULT_METHODS else cfg.method
        return run_grid(args, main, "compare", cfg, default_run_dir(replace(cfg, method="compare-grid")))
    if args.dry_run:
        return _dry_run(cfg, names)
    out = Path(args.out) if args.out else default_run_dir(replace(cfg, method="compare"))
    out = distributed.broadcast_object(out)  # DDP: rank 0's folder name on every rank
    preflight.check_learner(cfg.learner)
    preflight.check_writable(out, "--out")
    with hold(out, "compare folder"):
        if any(p.name != LOCK_NAME for p in out.iterdir()) and not args.force:
            raise ConfigError(
                f"folder {out} already exists and is not empty; continue it with --resume {out}, "
                "choose another --out, or pass --force to replace its results"
            )
        return _compare(cfg, names, out, log_options(args), _stored(args), resume=False)


def _stored(args: argparse.Namespace) -> dict[str, Any]:
    """The command, as compare.json keeps it for --resume."""
    return {k: v for k, v in vars(args).items() if k != "func"}


def _resume(out: Path) -> int:
    """``--resume OUT``: finished methods are kept, an interrupted one resumes, the rest run."""
    path = out / "compare.json"
    if not path.is_file():
        raise ConfigError(f"{out} holds no compare.json; --resume takes a compare folder")
    doc = report.read_json(path, {"methods_asked": list, "args": dict})
    args = argparse.Namespace(**{**doc["args"], "resume": None, "force": False})
    names = parse_methods(",".join(doc["methods_asked"]))
    with hold(out, "compare folder"):
        return _compare(config_from_args(args), names, out, log_options(args), doc["args"], resume=True)


def _dry_run(cfg: RunConfig, names: list[str]) -> int:
    """``--dry-run``: each method's resolved settings that differ from icarl's, and the work."""
    data = runner.load_run_data(cfg)
    stream = runner.make_stream(cfg, data)
    print(f"# icarl compare --dry-run on {data.name}: {', '.join(names)}; nothing is trained")
    base = to_dict(methods.resolve(replace(cfg, method="icarl")).learner)
    for name in names:
        resolved = methods.resolve(replace(cfg, method=name))
        diff = {k: v for k, v in to_dict(resolved.learner).items() if base.get(k) != v}
        _, steps = estimate(resolved, stream)
        images = sum(s.train_images for s in steps)
        print(f"{name:<10} {len(stream)} steps, {images:,} training images; settings: {diff or 'icarl'}")
    return 0


def _run_method(
    cfg: RunConfig, name: str, out: Path, data: Any, log: LogOptions, resume: bool
) -> dict[str, Any]:
    """One method's run in ``out/name``: kept when finished, resumed from its checkpoint, or new."""
    folder = out / name
    if resume and (folder / RESULTS_NAME).is_file():
        print("finished before: kept")
        res = report.read_results(folder / RESULTS_NAME)
        for record in res["steps"]:
            print_row(record)
        return res
    ck = load_checkpoint(folder) if resume and (folder / CHECKPOINT_NAME).is_file() else None
    if ck is not None:
        print(f"resuming from the checkpoint {ck.describe()}")
        for record in ck.results["steps"]:
            print_row(record)
    return runner.run(replace(cfg, method=name), folder, print_row, data, resume=ck, log=log)


def _compare(
    cfg: RunConfig, names: list[str], out: Path, log: LogOptions, stored: dict[str, Any], resume: bool
) -> int:
    data = runner.load_run_data(cfg)
    print(f"icarl compare on {data.name}: {', '.join(names)}; one stream, seed {cfg.seed}")
    print(f"folder: {out}")
    t0 = time.perf_counter()
    done: dict[str, dict[str, Any]] = {}
    record: dict[str, Any] = {
        "compare_version": COMPARE_VERSION,
        "methods": [],
        "methods_asked": names,
        "folders": {},
        "dataset": data.name,
        "seed": cfg.seed,
        "config": to_dict(cfg),  # each method's resolved config is in its results.json
        "args": stored,  # what --resume continues
        "finished": False,
        "summary": {},
    }
    if distributed.is_main():
        write_json(out / "compare.json", record)
    for name in names:
        print(f"\n== {name}: {methods.get(name).description}")
        print(table_header())
        res = _run_method(cfg, name, out, data, log, resume)
        if done and res["class_order"] != next(iter(done.values()))["class_order"]:
            raise ConfigError("the methods saw different class orders; this is a bug, please report it")
        done[name] = res
        record["class_order"] = res["class_order"]
        record["methods"].append(name)
        record["folders"][name] = name
        record["summary"][name] = summary(res)
        record["finished"] = len(done) == len(names)
        if distributed.is_main():  # DDP: rank 0 writes
            write_json(out / "compare.json", record)  # after each method: partial results survive
    print()
    print(report.format_table(report.table_rows(done, all_classifiers=False)))
    print()
    print(report.format_bias(report.bias_rows(done)))
    page = report.build(out, log.figures) if distributed.is_main() else out / "report.html"
    print(f"\nwall time {time.perf_counter() - t0:.1f} s; report: {page}")
    return 0
