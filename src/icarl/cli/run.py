"""``icarl run``: train one method over a class-incremental stream."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from .. import deploy, distributed, methods, threads
from ..algorithm import ICaRL
from ..config import ConfigError, RunConfig, from_table, load_config, parse_override, to_dict
from ..data import Dataset, ImageSource
from ..data.loading import run_data
from ..experiment import preflight, report, runner
from ..experiment.estimate import estimate, to_toml, work_table
from ..experiment.grid import GRID_NAME
from ..experiment.results import default_run_dir, print_row, table_header
from ..files.checkpoint import RESULTS_NAME, Checkpoint, CheckpointError, load_checkpoint, resume_changes
from ..files.lock import LOCK_NAME
from ..nets.adapt import check_consent
from ..train.callbacks import Callback, RunInfo
from .args.run import RUN_FLAGS
from .grid import resume_grid, run_grid, wants_grid
from .guard import check_world_size, hold, restarted
from .tracking import log_options


def _nest(key: str, value: Any) -> dict[str, Any]:
    node: dict[str, Any] = {}
    cur = node
    *parents, last = key.split(".")
    for p in parents:
        cur = cur.setdefault(p, {})
    cur[last] = value
    return node


def config_from_args(args: argparse.Namespace) -> RunConfig:
    return load_config(args.config or "digits", overrides_from_args(args))


def overrides_from_args(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The command line's settings, as tables merged over the config in order."""
    overrides: list[dict[str, Any]] = []
    for flag, (key, _) in RUN_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            overrides.append(_nest(key, value))
    if args.quiet:
        overrides.append({"learner": {"progress": False}})
    if getattr(args, "download", False):
        overrides.append({"data": {"download": True}})
    for item in args.overrides:
        overrides.append(parse_override(item))
    return overrides


def _config_given(args: argparse.Namespace) -> bool:
    flags = [getattr(args, f[2:].replace("-", "_")) for f in RUN_FLAGS]
    return bool(args.config or args.overrides or any(v is not None for v in flags))


def _with_checkpoint_every(cfg: RunConfig, args: argparse.Namespace) -> RunConfig:
    if args.checkpoint_every is not None:
        cfg = replace(cfg, checkpoint_every=args.checkpoint_every).check()
    return cfg


def _check_save(args: argparse.Namespace, run_dir: Path, cfg: RunConfig) -> None:
    """``--save``: a file, outside the run folder, none of the run's inputs, not replaced
    without --force, writable."""
    if args.save:
        inputs = {
            "the --config file": args.config,
            "the data (data.path)": cfg.data.path,
            "the class order file": cfg.data.class_order,
            "learner.init_weights": cfg.learner.init_weights,
        }
        preflight.check_not_input(Path(args.save), inputs, "--save")
        preflight.check_output_file(Path(args.save), "--save", args.force, run_dir)


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; pass a folder")
    if out.exists() and any(p.name != LOCK_NAME for p in out.iterdir()) and not force:
        raise ConfigError(
            f"run folder {out} already exists and is not empty; continue it with --resume {out}, "
            "choose another --out, or pass --force to replace its results"
        )


def main(args: argparse.Namespace) -> int:
    log_options(args)  # --log and --figure-format checked before anything is written
    if args.resume and (Path(args.resume) / GRID_NAME).is_file():
        return resume_grid(Path(args.resume), main, args.threads)
    if wants_grid(args):
        cfg = config_from_args(args)
        return run_grid(args, main, "run", cfg, default_run_dir(replace(cfg, method=f"{cfg.method}-grid")))
    if args.resume or restarted(args):
        return _resume(args)
    # the command line's configuration; the runner resolves it once (method, seed, batch size)
    cfg = _with_checkpoint_every(config_from_args(args), args)
    if args.dry_run:
        return dry_run(cfg)
    out = Path(args.out) if args.out else default_run_dir(cfg)
    new_run(cfg, out, args)
    return 0


def new_run(
    cfg: RunConfig, out: Path, args: argparse.Namespace, fingerprint: str | None = None
) -> dict[str, Any]:
    """Train ``cfg`` into a new run folder ``out`` (``args``: --force, --save, --deterministic
    and the log options); ``fingerprint``: the data must have this one (``icarl rerun``).
    Returns the results."""
    out = distributed.broadcast_object(out)  # DDP: rank 0's folder name on every rank
    cfg = replace(cfg, out=str(out))  # the run folder, as results.json records it
    distributed.check_agreement("configuration", to_dict(cfg))  # DDP: before any rank may stop
    _check_out(out, args.force)
    _check_save(args, out, cfg)
    preflight.check_learner(cfg.learner)
    preflight.check_writable(out, "--out")
    with hold(out):  # RUN/.lock: a second run into this folder is refused
        _check_out(out, args.force)  # again, now that no other run can write there
        distributed.barrier()  # DDP: every rank has checked the folder before rank 0 writes in it
        data, storage = run_data(cfg.data)
        _check_data(data, fingerprint)
        _print_header(cfg, data, out, storage)
        t0 = time.perf_counter()
        saved = SaveModel(args.save, not args.no_exemplars)
        results = runner.run(
            cfg,
            out,
            print_row,
            data,
            deterministic=args.deterministic,
            log=log_options(args),
            callbacks=[saved],
        )
        _print_summary(results, out, time.perf_counter() - t0)
        saved.write()
    return results


class SaveModel(Callback):
    """``--save``: keeps the run's learner when the run finishes; :meth:`write` saves it after
    the summary (the trained learner, its class names and each step's accuracy, one file)."""

    def __init__(self, path: str | None, exemplars: bool = True) -> None:
        self.path, self.exemplars = path, exemplars
        self.learner: ICaRL | None = None
        self.results: dict[str, Any] = {}

    def on_run_end(self, run: RunInfo) -> None:
        if run.finished:
            self.learner, self.results = run.learner, run.results

    def write(self) -> None:
        if self.path and self.learner is not None:
            _save_model(self.path, self.learner, self.results, self.exemplars)


def _save_model(path: str, learner: ICaRL, results: dict[str, Any], exemplars: bool = True) -> None:
    """``--save``: the trained learner, its class names and each step's accuracy, in one file
    (rank 0 only under DDP)."""
    if not distributed.is_main():
        return
    names = dict(zip(results["class_order"], results["class_names"], strict=True))
    deploy.name_run_steps(learner, names, results["steps"], f"icarl run on {results['dataset']}")
    print(f"model: {learner.save(path, exemplars=exemplars)}")


def _resume(args: argparse.Namespace) -> int:
    run_dir = Path(args.resume or args.out)
    if not run_dir.is_dir():  # before the lock, which would make the folder
        raise CheckpointError(f"run folder {run_dir} does not exist; pass the folder of an earlier run")
    with hold(run_dir):
        ck = load_checkpoint(run_dir)
        cfg = _resume_config(args, ck, run_dir)
        _resume_threads(args, ck)
        check_world_size(ck, distributed.world(), args.allow_world_size_change, run_dir)
        _check_save(args, run_dir, cfg)
        _check_consent(args, cfg, run_dir)
        preflight.check_learner(cfg.learner)
        distributed.check_agreement("checkpoint", {"ck": ck.describe(), "config": ck.config})
        if ck.finished:
            print(f"run {run_dir} is already finished; nothing to train")
            learner = methods.get(cfg.method).create(cfg.learner)  # resolved: the checkpoint's
            learner.load_state_dict(ck.learner)  # the checkpoint after the last step: the final learner
            results = _finish_again(ck, run_dir, log_options(args).figures, learner)
            _print_summary(results, run_dir, None)
            if args.save:
                _save_model(args.save, learner, results, not args.no_exemplars)
            return 0
        data, storage = run_data(cfg.data)
        _check_data(data)
        _print_header(cfg, data, run_dir, storage)
        print(f"resuming from the checkpoint {ck.describe()}")
        for record in ck.results["steps"]:
            print_row(record)
        t0 = time.perf_counter()
        saved = SaveModel(args.save, not args.no_exemplars)
        results = runner.run(
            cfg,
            run_dir,
            print_row,
            data,
            resume=ck,
            deterministic=args.deterministic,
            log=log_options(args),
            callbacks=[saved],
        )
        _print_summary(results, run_dir, time.perf_counter() - t0)
        saved.write()
    return 0


def _check_consent(args: argparse.Namespace, cfg: RunConfig, run_dir: Path) -> None:
    """The checkpoint's backbone: an import path is imported only with --trust-backbone, or
    when the command line names that same backbone (a torchrun restart repeats the command)."""
    spec = cfg.learner.backbone
    trusted = bool(args.trust_backbone) or args.backbone == spec
    check_consent(spec, f"the checkpoint in {run_dir}", trusted)


def _resume_config(args: argparse.Namespace, ck: Checkpoint, run_dir: Path) -> RunConfig:
    """The checkpoint's configuration, with what the command line may change (learning
    rate, epochs, batch size, ...; see RESUME_CHANGES) changed and recorded in the results."""
    if args.out and args.resume:
        raise ConfigError("--resume continues the run in its own folder; drop --out")
    if args.force and not args.save:
        raise ConfigError("--resume continues a run; drop --force (with --save it replaces that file)")
    cfg = from_table(RunConfig, ck.config, "").check()
    if _config_given(args):
        if args.config:  # a whole configuration: it must agree with the checkpoint's
            current = config_from_args(args)
        else:  # only some settings: over the checkpoint's configuration
            current = load_config(None, [ck.config, *overrides_from_args(args)])
        cfg = methods.resolve(current)
    cfg = _with_checkpoint_every(cfg, args)
    if args.quiet:  # the checkpoint's config, not the command line's, so --quiet applies here
        cfg = replace(cfg, learner=replace(cfg.learner, progress=False))
    if cfg.learner.batch_size == 0:  # auto: what the run resolved it to on the same data
        cfg = replace(cfg, learner=replace(cfg.learner, batch_size=int(ck.config["learner"]["batch_size"])))
    changed = resume_changes(ck, to_dict(cfg), run_dir)
    if changed:
        step = {"step": ck.steps_done + 1, "epoch": (ck.training or {}).get("epoch"), "changed": changed}
        ck.results.setdefault("resumed", []).append(step)
        print("resumed with " + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items()))
    return cfg


def _resume_threads(args: argparse.Namespace, ck: Checkpoint) -> None:
    """The thread count the run recorded (icarl.threads), so that the resumed run continues
    as an uninterrupted one would; ``--threads`` may change it, with a notice and a record."""
    env = ck.results.get("environment", {})
    recorded, kind = env.get("threads"), env.get("threads_policy")
    if args.threads is None:
        threads.apply(threads.AUTO if kind == threads.AUTO else recorded)
        return
    if kind != threads.AUTO and recorded is not None and args.threads != recorded:
        print(
            f"resuming with --threads {args.threads} where the run used {recorded}: from here the "
            "results differ from an uninterrupted run's (floating-point sums follow the thread "
            f"count); drop --threads to keep {recorded}"
        )
        step = {"step": ck.steps_done + 1, "changed": {"threads": [recorded, args.threads]}}
        ck.results.setdefault("resumed", []).append(step)


def _finish_again(ck: Checkpoint, run_dir: Path, formats: tuple[str, ...], learner: ICaRL) -> dict[str, Any]:
    """A finished run given to --resume: what a kill between the last checkpoint and the end of
    its report left missing is written again as the uninterrupted run wrote it. Without
    results.json, the whole end of the run (run-level metrics and classifier from the final
    learner, which the last checkpoint holds; metrics.csv, exemplars.png, results.json, the
    figures, report.html); with it, the report (report.html is written last)."""
    if not (run_dir / RESULTS_NAME).exists():
        return runner.finish(ck.results, run_dir, learner, formats=formats)
    results = runner.finish(ck.results, None)
    if distributed.is_main() and any(not (run_dir / n).exists() for n in report.REPORT_FILES):
        print(f"report: {report.build(run_dir, formats)} (rebuilt)")
    return results


def _check_data(data: Dataset[ImageSource], fingerprint: str | None = None) -> None:
    """The data a rerun expects (``fingerprint``); torchrun: every rank read the same data (a
    partial copy on one node is named)."""
    if fingerprint is not None and data.fingerprint() != fingerprint:
        raise ConfigError(
            f"the {data.name} data differ from those the run was trained on (data_fingerprint in "
            "results.json); give the same files with --data PATH"
        )
    if distributed.world() > 1:
        distributed.check_agreement("data (fingerprint)", data.fingerprint())


def _print_header(cfg: RunConfig, data: Dataset[ImageSource], out: Path, storage: str) -> None:
    """What the run will learn (the classes of its stream, checked first: a class split that
    does not fit fails before anything is printed), the storage, the folder, the table head."""
    stream = runner.make_stream(cfg, data)
    classes = stream.class_order
    train = sum(stream.train_size(i) for i in range(len(stream)))
    test = int(torch.isin(data.test.y, torch.tensor(classes)).sum())
    of = f"{len(classes)} of {data.num_classes}" if len(classes) != data.num_classes else f"{len(classes)}"
    steps = sorted({len(g) for g in stream.groups})
    print(
        f"icarl {cfg.method} on {data.name}: {of} classes in {len(stream)} steps of "
        f"{'/'.join(map(str, steps))}, {train} train / {test} test images {data.image_shape}"
    )
    print(storage)
    print(f"run folder: {out}")
    print(table_header())


def _print_summary(results: dict[str, Any], out: Path, seconds: float | None) -> None:
    avg = results["average_incremental_accuracy"]
    fin = results["final_accuracy"]

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.2f}%"

    if results.get("config", {}).get("headline") == "top5":  # the paper's ImageNet metric first
        avg5, fin5 = results.get("average_incremental_top5", {}), results.get("final_top5", {})
        print(f"average incremental top-5:    NME {pct(avg5.get('nme'))}  CNN {pct(avg5.get('cnn'))}")
        print(f"final top-5:                  NME {pct(fin5.get('nme'))}  CNN {pct(fin5.get('cnn'))}")
    print(f"average incremental accuracy: NME {pct(avg['nme'])}  CNN {pct(avg['cnn'])}")
    print(f"final accuracy:               NME {pct(fin['nme'])}  CNN {pct(fin['cnn'])}")
    wall = "" if seconds is None else f"wall time {seconds:.1f} s; "
    print(f"{wall}results: {out / 'results.json'}")


def rank_memory(cfg: RunConfig, data: Dataset[ImageSource]) -> str:
    """What each rank holds of the images: the decoded data when they are held in memory, at
    most K exemplars, and its batch buffers (the decoding workers' when read from files)."""
    c, h, w = data.image_shape
    image = c * h * w
    lc = cfg.learner
    held = data.train.held_nbytes + data.test.held_nbytes
    exemplars = lc.memory_size * image
    buffers = (2 * max(lc.workers, 1) + 1) * max(lc.batch_size, lc.eval_batch_size) * image
    return (
        f"each rank holds about {(held + exemplars + buffers) / 2**30:.2f} GiB of images: the "
        f"decoded data held in memory ({held / 2**30:.2f} GiB), at most K = {lc.memory_size} "
        f"exemplars ({exemplars / 2**30:.2f} GiB) and its batch buffers ({buffers / 2**30:.2f} GiB)"
    )


def dry_run(cfg: RunConfig) -> int:
    """``--dry-run``: the resolved configuration (as the run resolves it: method, seed,
    automatic batch size from the first step), the data and an estimate of the work."""
    data, storage = run_data(cfg.data)
    stream = runner.make_stream(cfg, data)
    cfg = methods.resolve(cfg, stream.train_size(0) if len(stream) else None)
    print("# icarl run --dry-run: resolved configuration (nothing is trained)")
    print(to_toml(to_dict(cfg)))
    print(
        f"\ndata: {data.name}, {data.num_classes} classes, {len(data.train)} train / "
        f"{len(data.test)} test images of shape {data.image_shape} (uint8, "
        f"{data.decoded_nbytes / 2**20:.1f} MiB decoded)"
    )
    print(f"{storage}; {rank_memory(cfg, data)}")
    more = " ..." if len(stream.class_order) > 10 else ""
    print(
        f"stream: {len(stream)} steps, classes per step {[len(g) for g in stream.groups]}, "
        f"order {cfg.data.class_order!r}: {stream.class_order[:10]}{more}"
    )
    fwd, steps = estimate(cfg, stream)
    print(work_table(fwd, steps))
    return 0
