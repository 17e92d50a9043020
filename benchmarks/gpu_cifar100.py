"""The paper's CIFAR-100 protocol on one GPU, end to end, with its speed figures.

    python benchmarks/gpu_cifar100.py DATA [KEY=VALUE ...]        # see gpu_cifar100.sh

One ``icarl run --config cifar100-paper`` (10 classes per step, 70 epochs, K = 2000, ResNet-32,
the authors' class order) in this process, with the GPU settings: data held on the device as
uint8 with crop and flip there (the in-memory path), bf16 autocast, channels_last,
``torch.compile`` of the network, cuDNN autotuning, optionally CUDA graphs (inductor's). Then:

- ``sync check`` (CUDA): host-device synchronisations counted by torch's sync debug mode while
  a learner trains one and then three epochs on 5,000 random images; the difference over two
  epochs is the syncs per epoch, against the batches per epoch (one per epoch is the loss
  read back; one per batch would be a round trip in the loop);
- the run's table (NME = iCaRL, CNN = hybrid1), per-step seconds and phases (results.json's
  ``phase_seconds``: host wall time per phase);
- ``images/s``: image-steps of training (each step's data plus exemplars, in whole batches,
  times epochs) over the training phase's seconds;
- ``bare step``: forward + backward + SGD (+ the previous network's forward from step 2 on) of
  the same network on pre-made float batches at the run's settings (benchmarks/common.py),
  and ``outside the network step``: 1 - (the run's image-steps at the bare-step rate) / wall.

DATA: ``cifar-100-python.tar.gz`` or its folder, an ``.npz`` (``--dataset npz``), or a folder
holding the two parts of ../shared/data/cifar-100-webp.zip (benchmarks/cifar100_parts.py),
joined and decoded here into an npz first.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cifar100_parts import PARTS, join  # noqa: E402
from common import bare_step, make_net, make_old, median, seconds  # noqa: E402

from icarl import ICaRL  # noqa: E402
from icarl.cli import main as icarl_main  # noqa: E402
from icarl.config import LearnerConfig, load_config, parse_override  # noqa: E402
from icarl.nets.resnet import set_last_relu  # noqa: E402

PER_CLASS = 500  # CIFAR-100 training images per class
PHASES = ("train", "previous", "herding", "means", "eval", "checkpoint", "data")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="tar.gz, folder, .npz, or a folder holding the zip's parts")
    p.add_argument("--device", default="cuda")
    p.add_argument("--epochs", type=int, default=70)
    p.add_argument("--classes-per-step", type=int, default=10)
    p.add_argument("--amp", default="bf16", help="bf16 or off")
    p.add_argument("--channels-last", default="true")
    p.add_argument("--compile", default="auto", help="true, false, auto (true on CUDA)")
    p.add_argument("--cudagraphs", action="store_true", help="inductor's CUDA graphs (with --compile)")
    p.add_argument(
        "--out", default="runs/gpu-cifar100", help="run folder; one holding a checkpoint is resumed"
    )
    p.add_argument("--rounds", type=int, default=5, help="rounds of the bare-step timing")
    p.add_argument("--no-sync-check", action="store_true")
    p.add_argument(
        "--rehearse",
        action="store_true",
        help="a tiny run to exercise the code paths (4 classes, 2 per step, K = 40, batch 32)",
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    return p.parse_args(argv)


def data_args(path: str) -> list[str]:
    """The run's --data (and --dataset): the parts joined into an npz first."""
    src = Path(path)
    if src.is_dir() and (src / PARTS[0]).is_dir():
        t0 = time.perf_counter()
        npz = join(src, Path(os.environ.get("TMPDIR", "/tmp")) / "icarl-cifar100.npz")
        print(f"data: parts joined and decoded into {npz} in {time.perf_counter() - t0:.1f} s", flush=True)
        return ["--dataset", "npz", "--data", str(npz)]
    if src.suffix == ".npz":
        return ["--dataset", "npz", "--data", str(src)]
    return ["--data", str(src), "--checksum", "off"]  # a rebuilt archive: only its md5 differs


def settings(args: argparse.Namespace) -> list[str]:
    cuda = args.device.startswith("cuda")
    compile_ = {"auto": cuda, "true": True, "false": False}[args.compile]
    out = [
        f"learner.amp={args.amp}",
        f"learner.channels_last={args.channels_last}",
        f"learner.compile={str(compile_).lower()}",
    ]
    if args.rehearse:
        out += ["data.classes=[87,0,52,58]", "learner.memory_size=40", "learner.batch_size=32"]
    return out + list(args.overrides)


def sync_check(lc: LearnerConfig, device: torch.device, n: int = 5000) -> str:
    """Syncs per training epoch: a learner on ``n`` random images (10 classes), 1 and 3 epochs."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.arange(n) % 10
    counts = []
    for epochs in (1, 3):
        learner = ICaRL(config=replace(lc, epochs=epochs, compile=False, progress=False, device=str(device)))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if device.type == "cuda":
                torch.cuda.set_sync_debug_mode("warn")
            try:
                learner.partial_fit(x, y)
            finally:
                if device.type == "cuda":
                    torch.cuda.set_sync_debug_mode("default")
        counts.append(sum("synchroniz" in str(w.message) for w in caught))
    per_epoch = (counts[1] - counts[0]) / 2
    batches = n // lc.batch_size
    if device.type != "cuda":
        return f"sync check: {device.type} has no device syncs to count (ran {sum(counts)} warnings)"
    verdict = "no round trip per batch" if per_epoch < batches / 2 else "A ROUND TRIP PER BATCH"
    return f"sync check: {per_epoch:.1f} host syncs per training epoch of {batches} batches: {verdict}"


def run(args: argparse.Namespace, out: Path) -> float:
    if (out / "checkpoint.pt").is_file():
        argv = ["run", "--resume", str(out)]  # a call cut short before: continue it
    else:
        argv = ["run", "--config", "cifar100-paper", *data_args(args.data), "--device", args.device]
        argv += ["--epochs", str(args.epochs), "--classes-per-step", str(args.classes_per_step)]
        argv += ["--out", str(out), "--quiet", "--force", *settings(args)]
    print("icarl " + " ".join(argv), flush=True)
    t0 = time.perf_counter()
    code = icarl_main(argv)
    if code:
        raise SystemExit(code)
    return time.perf_counter() - t0


def image_steps(res: dict) -> tuple[int, int]:
    """(image-steps of the first step, of the later ones): new data plus the exemplars kept
    before each step, in whole batches (the last partial one dropped), times epochs."""
    lc = res["config"]["learner"]
    first = later = memory = 0
    for step in res["steps"]:
        n = PER_CLASS * len(step["classes"]) + memory
        done = lc["epochs"] * (n // lc["batch_size"] * lc["batch_size"] if n >= lc["batch_size"] else n)
        first, later = (done, later) if step["step"] == 0 else (first, later + done)
        memory = step["memory_size"]
    return first, later


def bare_rates(lc: LearnerConfig, device: torch.device, rounds: int, nb: int = 20) -> tuple[float, float]:
    """Images/s of the bare step (``nb`` batches a round) without and with the previous
    network's forward; one network for both, so a compiled one compiles once."""
    rates = []
    net = make_net(lc.backbone, 3, 32, 100, lc, device)
    set_last_relu(net.backbone, lc.resnet_last_relu)  # the run's network (and compiled graph)
    for old in (None, make_old(lc.backbone, 3, 32, lc, device)):
        fn = bare_step(net, old, lc, device, nb, (3, 32))
        fn()  # warm-up (and compilation)
        rates.append(median([nb * lc.batch_size / seconds(fn, device) for _ in range(rounds)]))
    return rates[0], rates[1]


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def print_run(res: dict) -> None:
    print(f"\n{'step':>4} {'classes':>7} {'NME %':>6} {'CNN %':>6} {'train s':>8} {'eval s':>7}  phases (s)")
    for s in res["steps"]:
        a, ph = s["accuracy"], s.get("phase_seconds", {})
        phases = ", ".join(f"{k} {ph[k]:.1f}" for k in PHASES if ph.get(k))
        print(
            f"{s['step'] + 1:>4} {s['seen_classes']:>7} {pct(a['nme']):>6} {pct(a['cnn']):>6} "
            f"{s['train_seconds']:>8.1f} {s['eval_seconds']:>7.1f}  {phases}"
        )
    avg, fin = res["average_incremental_accuracy"], res["final_accuracy"]
    print(f"average incremental accuracy: iCaRL (NME) {pct(avg['nme'])}%, hybrid1 (CNN) {pct(avg['cnn'])}%")
    print(f"final accuracy:               iCaRL (NME) {pct(fin['nme'])}%, hybrid1 (CNN) {pct(fin['cnn'])}%")


def print_speed(
    res: dict, lc: LearnerConfig, device: torch.device, rounds: int, wall: float, resumed: bool, nb: int
) -> None:
    """Images/s of training, the bare step's rate, and the share of time outside the network step."""
    first, later = image_steps(res)
    train_s = sum(s.get("phase_seconds", {}).get("train", 0.0) for s in res["steps"])
    steps_s = sum(s["train_seconds"] + s["eval_seconds"] for s in res["steps"])
    r0, r1 = bare_rates(lc, device, rounds, nb)
    bare = first / r0 + later / r1
    rate = (first + later) / train_s
    later_s = sum(s.get("phase_seconds", {}).get("train", 0.0) for s in res["steps"][1:])
    steady = f"; steps 2-{len(res['steps'])}: {later / later_s:,.0f} images/s" if later_s else ""
    print(f"\nimage-steps {first + later:,}; training phase {train_s:.1f} s: {rate:,.0f} images/s{steady}")
    if res["config"]["learner"].get("compile"):
        print("  (step 1 includes torch.compile's compilation; later steps reuse it)")
    print(f"bare step: {r0:,.0f} images/s, {r1:,.0f} with the previous network: {bare:.1f} s for them")
    note = " (resumed: the earlier calls' time is not in it)" if resumed else ""
    print(
        f"outside the network step: {100 * (1 - bare / steps_s):.1f}% of the steps' {steps_s:.1f} s, "
        f"{100 * (1 - bare / wall):.1f}% of this call's run wall {wall:.1f} s{note}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device: run with --device cpu --rehearse for a rehearsal")
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    if args.cudagraphs:
        import torch._inductor.config as inductor

        inductor.triton.cudagraphs = True  # what mode="reduce-overhead" turns on
    if args.rehearse:
        args.epochs, args.classes_per_step, args.rounds = 1, 2, 1
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{os.cpu_count()} CPUs"
    print(f"torch {torch.__version__}, {name}, {torch.get_num_threads()} threads", flush=True)
    overrides = [parse_override(o) for o in settings(args)]
    lc = load_config("cifar100-paper", [*overrides, {"learner": {"device": args.device}}]).learner
    out = Path(args.out)
    if (out / "results.json").is_file():
        raise SystemExit(f"{out} holds a finished run; give another --out (OUT=...) for a new one")
    if not args.no_sync_check:
        print(sync_check(lc, device, 320 if args.rehearse else 5000), flush=True)
    resumed = (out / "checkpoint.pt").is_file() and not (out / "results.json").is_file()
    wall = run(args, out)
    res = json.loads((out / "results.json").read_text())
    print_run(res)
    print_speed(
        res,
        replace(lc, batch_size=int(res["config"]["learner"]["batch_size"])),
        device,
        args.rounds,
        wall,
        resumed,
        4 if args.rehearse else 20,
    )
    if device.type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
    print(f"whole script {time.perf_counter() - T_START:.1f} s; results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
