"""A frozen pretrained backbone against training from scratch, on CIFAR-100 (issue 25's table).

    python benchmarks/frozen_cifar100.py --data cifar-100-python.tar.gz --checksum MD5 \\
        --epochs 70 --orders 3 --threads 16 --out runs/frozen-cifar100
    python benchmarks/frozen_cifar100.py --quick --data tiny.tar.gz --checksum MD5 --out OUT

1. Pretraining: ResNet-32 (the ``cifar100-paper`` preset's backbone, its init and settings) on
   classes 50-99 with plain cross-entropy (a learner with ``distillation = "kd"`` and no
   exemplars: at its one step the loss is the cross-entropy over the 50 classes), ``--epochs``
   epochs at ``--pretrain-lr``; its backbone's state dict is saved
   (OUT/pretrained/backbone.pt) with its CNN test accuracy on those classes (pretrain.json).
2. Classes 0-49 in steps of 10, the ``cifar100-paper`` preset restricted to them
   (``data.classes``: the class order ``icarl-theano:k`` with classes 50-99 left out, k = 0 ..
   ``--orders`` - 1; ``--order identity``: 0, 1, 2, ...), the head grown per step
   (``head_size = 0``) and the seen classes ranked (``score_all_outputs = false``), three ways:
   (a) ``frozen``: ``init_weights`` = the pretrained backbone, ``train = "none"`` (no SGD:
   herding and NME on its fixed features); (b) ``head``: the same backbone frozen,
   ``train = "head"`` (iCaRL's loss on the head, ``--epochs`` epochs per step); (c)
   ``scratch``: the same network from its own initialisation, ``--epochs`` epochs per step.
3. The table: average incremental and final accuracy (NME; CNN where a head was trained), mean
   +- sd over the orders, wall seconds per run, the machine, threads, load and this command
   (also written to OUT/table.md).

Each run is an ordinary icarl run folder (OUT/<variant>/order-k, results.json); one with a
results.json is skipped when the script runs again, one with only a checkpoint is resumed.
``--quick``: 1 epoch and 1 order (tests/test_benchmarks_frozen.py runs it on tiny data).
Note: each learner subtracts the pixel mean of its own first step (the pretraining's: classes
50-99); both are means over CIFAR-100 images and differ little.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from icarl import ICaRL, threads
from icarl.config import RunConfig, load_config
from icarl.data.source import ImageSource
from icarl.errors import IcarlError
from icarl.experiment import runner
from icarl.files.checkpoint import load_checkpoint

PRESET = "cifar100-paper"
PRETRAIN = list(range(50, 100))  # the classes the backbone is pretrained on
INCREMENTAL = list(range(50))  # the classes learned incrementally
VARIANTS = ("frozen", "head", "scratch")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="cifar-100-python.tar.gz (or its folder)")
    p.add_argument("--checksum", default="published", help="the archive's md5/sha256, published or off")
    p.add_argument("--epochs", type=int, default=70, help="pretraining epochs and epochs per step")
    p.add_argument("--pretrain-lr", type=float, default=0.1, help="SGD learning rate of the pretraining")
    p.add_argument("--orders", type=int, default=3, help="class orders (icarl-theano:0 .. N-1)")
    p.add_argument("--order", choices=("icarl-theano", "identity"), default="icarl-theano")
    p.add_argument("--classes-per-step", type=int, default=10)
    p.add_argument("--memory", type=int, default=2000, help="K, the exemplar budget")
    p.add_argument("--threads", default=None, help="CPU threads (a count or auto; default: all)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="runs/frozen-cifar100")
    p.add_argument("--quick", action="store_true", help="1 epoch, 1 order: a smoke test")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.orders = 1, 1
    if args.order == "identity" and args.orders != 1:
        p.error("--order identity is one order; use --orders 1")
    if args.epochs < 1 or args.orders < 1:
        p.error("--epochs and --orders must be at least 1")
    return args


def base_tables(args: argparse.Namespace) -> dict[str, Any]:
    """The overrides every configuration here shares: the data and the learner's device."""
    data = {"path": args.data, "checksum": args.checksum, "cache": "off"}
    return {"data": data, "learner": {"device": args.device, "progress": False}}


def pretrain(args: argparse.Namespace, data: Any, out: Path) -> dict[str, Any]:
    """Plain cross-entropy on classes 50-99; the backbone's weights and a record. Skipped when
    its record exists."""
    record_path = out / "pretrain.json"
    if record_path.is_file():
        return dict(json.loads(record_path.read_text()))
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_config(PRESET, [base_tables(args)])
    plain_ce = {"distillation": "kd", "memory_size": 0, "classifier": "cnn", "head_size": 0}
    learner = ICaRL(config=cfg.learner, **plain_ce, lr=args.pretrain_lr, epochs=args.epochs)
    train: ImageSource = data.train.of_classes(PRETRAIN)
    t0 = time.perf_counter()
    learner.partial_fit(train)
    seconds = time.perf_counter() - t0
    weights = out / "backbone.pt"
    torch.save(learner.network().backbone.state_dict(), weights.with_suffix(".tmp"))
    os.replace(weights.with_suffix(".tmp"), weights)
    accuracy = learner.score(data.test.of_classes(PRETRAIN), classifier="cnn")
    record = {"classes": "50-99", "epochs": args.epochs, "lr": args.pretrain_lr, "images": len(train)}
    record |= {"test_accuracy_cnn": accuracy, "seconds": seconds, "weights": str(weights)}
    record_path.write_text(json.dumps(record, indent=1))
    return record


def run_config(args: argparse.Namespace, variant: str, k: int, weights: Path, folder: Path) -> RunConfig:
    """The ``cifar100-paper`` preset on classes 0-49 for ``variant`` and order ``k``."""
    tables = base_tables(args)
    order = f"icarl-theano:{k}" if args.order == "icarl-theano" else "identity"
    tables["data"] |= {"classes": INCREMENTAL, "class_order": order}
    tables["data"]["classes_per_step"] = args.classes_per_step
    learner = {"epochs": args.epochs, "memory_size": args.memory, "head_size": 0}
    if variant != "scratch":
        learner |= {"init_weights": str(weights), "train": "none" if variant == "frozen" else "head"}
    tables["learner"] |= learner
    extra = {"evaluation": {"score_all_outputs": False}, "out": str(folder)}
    return load_config(PRESET, [tables, extra])


def one_run(args: argparse.Namespace, variant: str, k: int, weights: Path, data: Any) -> dict[str, Any]:
    """One run's results.json and wall seconds: read back when finished, resumed from its
    checkpoint when interrupted, else run."""
    folder = Path(args.out) / variant / f"order-{k}"
    results, wall = folder / "results.json", folder / "wall.json"
    if results.is_file():
        done = json.loads(results.read_text())
        steps = done["steps"]
        seconds = json.loads(wall.read_text())["seconds"] if wall.is_file() else None
        if seconds is None:  # killed between results.json and wall.json: the steps' own times
            seconds = sum(s["train_seconds"] + s["eval_seconds"] for s in steps)
        return {"results": done, "seconds": seconds, "skipped": True}
    cfg = run_config(args, variant, k, weights, folder)
    resume = load_checkpoint(folder) if (folder / "checkpoint.pt").is_file() else None
    t0 = time.perf_counter()
    out = runner.run(cfg, folder, data=data, resume=resume)
    seconds = time.perf_counter() - t0
    wall.write_text(json.dumps({"seconds": seconds, "resumed": resume is not None}))
    return {"results": out, "seconds": seconds, "skipped": False}


def mean_sd(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    if not values:
        return "-"
    mean = statistics.fmean(values) * scale
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values) * scale:.{digits}f}"


def table(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]], pre: dict[str, Any]) -> str:
    """The Markdown table and the conditions it was measured under."""
    head = "| variant | runs | NME avg inc. % | NME final % | CNN avg inc. % | CNN final % | wall s / run |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    names = {
        "frozen": "frozen pretrained (train=none)",
        "head": f"pretrained, head only (train=head, {args.epochs} ep)",
        "scratch": f"from scratch ({args.epochs} ep)",
    }
    for variant, done in runs.items():
        res = [d["results"] for d in done]
        cells = [names[variant], str(len(done))]
        for rule in ("nme", "cnn"):
            trained = rule == "nme" or variant != "frozen"  # an untrained head: no CNN figure
            for key in ("average_incremental_accuracy", "final_accuracy"):
                cells.append(mean_sd([r[key][rule] for r in res], 100.0) if trained else "-")
        cells.append(mean_sd([d["seconds"] for d in done], digits=0))
        lines.append("| " + " | ".join(cells) + " |")
    env = next(iter(runs.values()))[0]["results"]["environment"]
    lines += [
        "",
        f"Pretraining: classes 50-99 ({pre['images']} images), {pre['epochs']} epochs, lr {pre['lr']}: "
        f"CNN test accuracy {100 * pre['test_accuracy_cnn']:.1f}%, {pre['seconds']:.0f} s.",
        f"Classes 0-49, {args.classes_per_step} per step, K = {args.memory}, order {args.order}"
        f" ({args.orders} order{'s' if args.orders > 1 else ''}); sd over orders.",
        f"Machine: {env.get('device_name')} ({env.get('device')}), {os.cpu_count()} CPUs, torch "
        f"{env.get('torch')}, {platform.platform()}; threads {env.get('threads')} "
        f"({env.get('threads_policy')}); load: other processes kept {env.get('load_others')} CPUs busy "
        f"(last run), 1-min load average {os.getloadavg()[0]:.2f} at the end.",
        f"Command: {' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n_threads = threads.apply(args.threads)
    out = Path(args.out)
    print(f"threads {n_threads}; load average {os.getloadavg()[0]:.2f}; writing under {out}", flush=True)
    try:
        data = runner.load_run_data(load_config(PRESET, [base_tables(args)]))
        pre = pretrain(args, data, out / "pretrained")
        print(f"pretrained on 50-99: CNN test accuracy {100 * pre['test_accuracy_cnn']:.1f}%", flush=True)
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
        for k in range(args.orders):
            for variant in VARIANTS:
                done = one_run(args, variant, k, Path(pre["weights"]), data)
                runs[variant].append(done)
                nme = done["results"]["average_incremental_accuracy"]["nme"]
                state = "kept" if done["skipped"] else "ran"
                print(f"{variant:8s} order {k}: NME avg {100 * nme:.1f}% ({state}, {done['seconds']:.0f} s)")
    except IcarlError as e:
        print(f"frozen_cifar100: error: {e}", file=sys.stderr)
        return 2
    text = table(args, runs, pre)
    (out / "table.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
