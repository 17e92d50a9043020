"""The whole ``icarl run`` on a Fashion-MNIST-shaped synthetic stream, timed per phase,
against the bare network step for the same number of image-steps, in one process.

    python benchmarks/e2e.py                     # 60,000 + 10,000 1x28x28, 5 steps of 2, K=2000, 3 epochs
    python benchmarks/e2e.py --device cuda
    python benchmarks/e2e.py learner.batch_size=64 evaluation.incm=true   # any config override

Phases (seconds of wall time, from :mod:`icarl.timing`): ``startup`` (imports, up to the
first line of the run), ``data`` (reading the npz, the stream; each step's training set),
``train`` (the training loops; includes ``previous``, the previous network's forward),
``herding`` (features of the new classes and Algorithm 4), ``means`` (class means of the
exemplars), ``eval`` (the evaluation after each step), ``checkpoint``, ``other`` (the rest:
the report and results.json at the end, the state kept at each step's start).
``bare step``: forward + backward + SGD of the same network on pre-made float batches
(benchmarks/common.py ``bare_step``) at its measured rate, for the run's image-steps.
The last line is ``overhead`` = run wall / bare step.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bare_step, make_net, median, seconds  # noqa: E402
from make_synthetic import fashion_shaped  # noqa: E402

from icarl import timing  # noqa: E402
from icarl.config import load_config, parse_override, resolve_learner  # noqa: E402
from icarl.experiment import runner  # noqa: E402
from icarl.threads import apply  # noqa: E402
from icarl.train.amp import use_bf16  # noqa: E402

T_IMPORTED = time.perf_counter()

PHASES = ("startup", "data", "train", "previous", "herding", "means", "eval", "checkpoint", "other")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--config", default="digits", help="the preset the run starts from")
    p.add_argument("--data", default="", help="the npz (default: made once in the temp folder)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--memory", type=int, default=2000)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: the CLI's policy)")
    p.add_argument("--rounds", type=int, default=5, help="rounds of the bare-step timing")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    return p.parse_args(argv)


def dataset(path: str) -> Path:
    out = Path(path) if path else Path(tempfile.gettempdir()) / "icarl-e2e-fashion-shaped.npz"
    if not out.exists():
        np.savez(out, **fashion_shaped())
    return out


def image_steps(res: dict, stream_sizes: list[int], epochs: int, batch: int) -> int:
    """Images the training loops processed: each step's new data plus the exemplars kept
    before it, in whole batches (the last partial one dropped), for every epoch."""
    total, memory = 0, 0
    for n_new, step in zip(stream_sizes, res["steps"], strict=True):
        n = n_new + memory
        total += epochs * (max(n // batch, 1) * batch if n >= batch else n)
        memory = step["memory_size"]
    return total


def bare_seconds(cfg, device: torch.device, steps: int, rounds: int) -> tuple[float, float]:
    """(images/s, seconds for ``steps`` image-steps) of the bare step of the run's network."""
    c, h = 1, 28
    net = make_net(cfg.backbone, c, h, max(cfg.head_size, 20), cfg, device)  # bare_step draws 20 labels
    fn = bare_step(net, None, cfg, device, 20, (c, h))
    fn()  # warm-up
    rate = median([20 * cfg.batch_size / seconds(fn, device) for _ in range(rounds)])
    return rate, steps / rate


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    apply(args.threads)  # as the command line does (icarl.threads)
    path = dataset(args.data)
    overrides = [
        {"data": {"dataset": "npz", "path": str(path), "classes_per_step": 2}},
        {"learner": {"epochs": args.epochs, "memory_size": args.memory, "device": args.device}},
        {"learner": {"progress": False}},
        *[parse_override(o) for o in args.overrides],
    ]
    cfg = load_config(args.config, overrides)
    device = torch.device(args.device)
    t0 = time.perf_counter()
    startup = T_IMPORTED - T_START
    timing.reset()
    with timing.phase("data"):
        data = runner.load_run_data(cfg)
    with tempfile.TemporaryDirectory() as out:
        res = runner.run(cfg, Path(out), data=data)
    wall = time.perf_counter() - t0 + startup
    stream = runner.make_stream(cfg, data)
    sizes = [stream.train_size(i) for i in range(len(stream))]
    lc = resolve_learner(cfg.learner, first_step_images=sizes[0])  # as the run resolves batch_size = 0
    steps = image_steps(res, sizes, lc.epochs, lc.batch_size)
    rate, bare = bare_seconds(lc, device, steps, args.rounds)
    ph = {"startup": startup, **timing.totals()}
    ph["other"] = wall - sum(v for k, v in ph.items() if k != "previous")
    print(
        f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"device {device}, bf16 {use_bf16(cfg.learner.amp, device)}"
    )
    print(f"command: python benchmarks/e2e.py {' '.join(sys.argv[1:])}")
    print(
        f"run: {len(data.train)} train / {len(data.test)} test images, {len(stream)} steps, "
        f"K={lc.memory_size}, "
        f"{lc.epochs} epochs, batch {lc.batch_size}, {lc.backbone}, iNCM {cfg.evaluation.incm}\n"
    )
    print("| phase | seconds | share of wall |\n|---|---|---|")
    for k in PHASES:
        if k in ph:
            note = " (inside train)" if k == "previous" else ""
            print(f"| {k}{note} | {ph[k]:.2f} | {100 * ph[k] / wall:.1f}% |")
    avg, fin = res["average_incremental_accuracy"], res["final_accuracy"]
    acc = ", ".join(f"{k} {100 * v:.2f}/{100 * fin[k]:.2f}" for k, v in avg.items() if v is not None)
    print(f"\naccuracy (average incremental / final): {acc}")
    print(f"image-steps {steps}; bare step {rate:.0f} img/s -> {bare:.2f} s")
    print(f"wall {wall:.2f} s")
    print(f"overhead {wall / bare:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
