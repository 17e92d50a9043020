"""Speed benchmark of icarl's training pipeline, in one run, printed as Markdown tables.

    python benchmarks/bench.py --quick          # about 3 minutes on 2 idle cores
    python benchmarks/bench.py                  # the full set, about 10 minutes
    python benchmarks/bench.py --device cuda    # on a GPU

Pipelines (train images/s, medians over interleaved rounds, so load noise hits all alike):
  (a)      bare network step on pre-made float tensors: forward + backward + SGD
  (a+old)  (a) plus one forward of the previous network: the work (b) cannot avoid
  (b)      our iCaRL step through the real code: ICaRL._update_representation ->
           engine.train with batched crop/flip/normalise, distillation forward, BCE, SGD
  (c)      the same work fed by a DataLoader with per-sample transforms (benchmarks/field.py),
           ``tensor`` (per-sample torch ops) and ``pil`` (PIL images as torchvision does), with the
           same network options as (b); ``(c) fp32`` also runs the network as the field does
           (fp32, contiguous), so its ratio mixes pipeline and options: read it as such
Goals (issue 5): time(b) <= 1.2 x time(a+old); (b) >= 3 x (c) for the small CNN on 28x28.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    bare_step,
    data_only_field,
    data_only_ours,
    field_step,
    forward_flops,
    icarl_learner,
    make_net,
    make_old,
    matmul_peak,
    median,
    nme_eval_rate,
    random_task,
    seconds,
    timed_rounds,
)

from icarl.algorithm.herding import herding_order
from icarl.config import LearnerConfig

# name -> (channels, size, crop pad, flip)
NETS = {"small_cnn": (1, 28, 2, False), "resnet32": (3, 32, 4, True)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer batches, rounds and options")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--amp", default="bf16", choices=["off", "bf16"], help="for the pipeline table")
    p.add_argument("--channels-last", default="true", choices=["true", "false"])
    p.add_argument("--num-threads", type=int, default=0, help="torch threads for the run (0: default)")
    p.add_argument("--threads", default="", help="comma list of thread counts to compare, e.g. 1,2")
    p.add_argument("--compile", action="store_true", help="also measure torch.compile (slow to compile)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers for (c)")
    p.add_argument("--repeats", type=int, default=0, help="rounds (default 3 quick, 5 full)")
    p.add_argument("--nets", default="small_cnn,resnet32")
    p.add_argument("--skip-accuracy", action="store_true")
    return p.parse_args(argv)


def machine(device: torch.device) -> str:
    model = platform.processor() or "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if "Model name" in line)
    except (OSError, StopIteration):
        pass
    gpu = f", GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    try:
        load = " load avg {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except OSError:
        load = ""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
    return (
        f"{model}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads"
        f"{gpu};{load}; commit {commit.strip() or '?'}"
    )


def base_cfg(args: argparse.Namespace, name: str, device: torch.device) -> LearnerConfig:
    _, _, pad, flip = NETS[name]
    return LearnerConfig(
        backbone=name, memory_size=200, batch_size=128, lr=0.05, crop_pad=pad, flip=flip,
        amp=args.amp, channels_last=args.channels_last == "true", device=str(device), progress=False,
    )  # fmt: skip


def pipelines(
    args: argparse.Namespace, name: str, device: torch.device, peaks: dict[str, float]
) -> list[str]:
    c, h, _, _ = NETS[name]
    cfg = base_cfg(args, name, device)
    small = name == "small_cnn"
    nb = (6 if small else 2) if args.quick else (12 if small else 4)
    learner, run_b = icarl_learner(name, c, h, cfg, nb)
    # as the field's frameworks run it: fp32, contiguous, previous network not folded
    fp32 = replace(cfg, amp="off", channels_last=False)
    net = make_net(name, c, h, 20, cfg, device)
    old = make_old(name, c, h, cfg, device)
    fns = {
        "a": bare_step(net, None, cfg, device, nb, (c, h)),
        "a+old": bare_step(make_net(name, c, h, 20, cfg, device), old, cfg, device, nb, (c, h)),
        "b": run_b,
        "c": field_step("tensor", name, (c, h), cfg, device, nb, args.workers),
        "c-pil": field_step("pil", name, (c, h), cfg, device, nb, args.workers),
        "c-fp32": field_step("tensor", name, (c, h), fp32, device, nb, args.workers, fold=False),
        "b-data": data_only_ours(learner, nb, (c, h), device),
        "c-data": data_only_field(cfg, nb, (c, h), args.workers),
    }
    rates = timed_rounds(fns, args.repeats, device)
    r = {k: median(v) for k, v in rates.items()}
    over = median([ao / b for ao, b in zip(rates["a+old"], rates["b"], strict=True)])
    vs_c = median([b / c_ for b, c_ in zip(rates["b"], rates["c"], strict=True)])
    vs_pil = median([b / c_ for b, c_ in zip(rates["b"], rates["c-pil"], strict=True)])
    vs_fp32 = median([b / c_ for b, c_ in zip(rates["b"], rates["c-fp32"], strict=True)])
    # the most (b)/(c) could be if our pipeline cost nothing beyond the network: t(c) / t(a+old)
    ceiling = median([ao / c_ for ao, c_ in zip(rates["a+old"], rates["c"], strict=True)])
    flops = forward_flops(net, (c, h, h))
    achieved = r["b"] * 4 * flops  # 3 x forward for training + 1 forward of the old network
    peak = peaks["bf16" if cfg.amp == "bf16" else "fp32"]
    x_eval, _ = random_task(2048 if args.quick else 8192, c, h, 20, seed=9)
    nme = nme_eval_rate(learner, x_eval, args.repeats, device)
    return [
        f"| {name} {c}x{h}x{h} | {r['a']:.0f} | {r['a+old']:.0f} | {r['b']:.0f} | {r['c']:.0f} | "
        f"{r['c-pil']:.0f} | {r['b'] / r['a']:.2f} | {over:.2f} | {vs_c:.2f} | {ceiling:.2f} | "
        f"{vs_pil:.2f} | "
        f"{r['c-fp32']:.0f} ({vs_fp32:.2f}x) | "
        f"{r['b-data']:.0f} | {r['c-data']:.0f} | "
        f"{flops / 1e6:.1f} | {achieved / 1e9:.1f} ({100 * achieved / peak:.1f}%) | {nme:.0f} |"
    ]


def options(args: argparse.Namespace, name: str, device: torch.device) -> list[str]:
    """(a) images/s for each option, one at a time against the same baseline."""
    c, h, _, _ = NETS[name]
    nb = 3 if args.quick else 6
    base = base_cfg(args, name, device)
    variants: dict[str, LearnerConfig] = {}
    for amp in ("off", "bf16"):
        for cl in (False, True):
            variants[f"amp={amp} channels_last={cl}"] = replace(base, amp=amp, channels_last=cl)
    fns = {
        k: bare_step(make_net(name, c, h, 20, v, device), None, v, device, nb, (c, h))
        for k, v in variants.items()
    }
    rates = timed_rounds(fns, args.repeats, device)
    rows = [f"| {name} | {k} | {median(v):.0f} |" for k, v in rates.items()]
    if args.compile:
        import torch._inductor.config as inductor

        inductor.force_disable_caches = True  # time a cold build, as a user's first run sees it
        cfg = replace(base, compile=True)
        fn = bare_step(make_net(name, c, h, 20, cfg, device), None, cfg, device, nb, (c, h))
        compile_s = seconds(fn, device)
        eager = bare_step(make_net(name, c, h, 20, base, device), None, base, device, nb, (c, h))
        r = timed_rounds({"compiled": fn, "eager": eager}, args.repeats, device)
        rows.append(f"| {name} | {_label(base)} eager | {median(r['eager']):.0f} |")
        label = f"{_label(base)} compile=True (first call {compile_s:.0f} s)"
        rows.append(f"| {name} | {label} | {median(r['compiled']):.0f} |")
    for t in [int(s) for s in args.threads.split(",") if s]:
        prev = torch.get_num_threads()
        torch.set_num_threads(t)
        fn = bare_step(make_net(name, c, h, 20, base, device), None, base, device, nb, (c, h))
        rate = median(timed_rounds({"t": fn}, args.repeats, device)["t"])
        rows.append(f"| {name} | {_label(base)} threads={t} | {rate:.0f} |")
        torch.set_num_threads(prev)
    return rows


def _label(cfg: LearnerConfig) -> str:
    return f"amp={cfg.amp} channels_last={cfg.channels_last}"


def herding_rows(device: torch.device, repeats: int) -> list[str]:
    rows = []
    for n, d, m in ((500, 64, 20), (5000, 512, 200)):
        f = torch.randn(n, d, generator=torch.Generator().manual_seed(0)).to(device)
        herding_order(f, m)
        ts = [seconds(lambda f=f, m=m: herding_order(f, m), device) for _ in range(repeats)]
        rows.append(f"| herding {n} x {d}, m = {m} | {1e3 * median(ts):.1f} ms |")
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 5)
    device = torch.device(args.device)
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    t_start = time.perf_counter()
    print(f"machine: {machine(device)}")
    print(f"command: python benchmarks/bench.py {' '.join(sys.argv[1:])}\n")
    n = 2048 if device.type == "cpu" else 8192  # 1024^3 under-reads the bf16 peak on this CPU by 2x
    peaks = {
        "fp32": matmul_peak(device, torch.float32, n, args.repeats),
        "bf16": matmul_peak(device, torch.bfloat16, n, args.repeats),
    }
    gf = {k: f"{v / 1e9:.0f}" for k, v in peaks.items()}
    print(f"matmul peak ({n}^3): fp32 {gf['fp32']} GFLOP/s, bf16 {gf['bf16']} GFLOP/s\n")
    nets = [s for s in args.nets.split(",") if s]
    print(f"## Pipelines (train images/s, amp={args.amp}, channels_last={args.channels_last}, batch 128)\n")
    print(
        "| network | (a) bare | (a+old) | (b) ours | (c) DataLoader | (c) PIL | (b)/(a) | "
        "t(b)/t(a+old) | (b)/(c) | ceiling t(c)/t(a+old) | (b)/(c PIL) | (c) fp32 contiguous ((b)/it) | "
        "data only (b) | data only (c) | "
        "fwd MFLOP/img | (b) GFLOP/s (% peak) | NME eval img/s |"
    )
    print("|---" * 17 + "|")
    for name in nets:
        print("\n".join(pipelines(args, name, device, peaks)), flush=True)
    print("\n## Options (bare step (a), train images/s)\n\n| network | option | images/s |\n|---|---|---|")
    for name in nets:
        print("\n".join(options(args, name, device)), flush=True)
    print("\n## Herding (Algorithm 4, incremental matrix-vector products)\n\n| case | time |\n|---|---|")
    print("\n".join(herding_rows(device, args.repeats)), flush=True)
    if not args.skip_accuracy:
        from accuracy import accuracy_rows

        print("\n## Accuracy, (b) vs (c) on digits upsampled to 28x28 (small CNN, one 10-class step)\n")
        print(
            "| seed | (b) ours: CNN acc | (c) DataLoader: CNN acc | (c) fp32 contiguous: CNN acc "
            "| (b) s | (c) s | (c fp32) s |\n|---|---|---|---|---|---|---|"
        )
        print("\n".join(accuracy_rows(base_cfg(args, "small_cnn", device), device, args.quick)), flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu = (
        f", CUDA max allocated {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB"
        if device.type == "cuda"
        else ""
    )
    print(f"\npeak memory: RSS {rss:.0f} MiB{gpu}")
    print(f"total benchmark time {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
