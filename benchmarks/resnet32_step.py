"""The cifar100-paper preset's ResNet-32 training step on CPU: fp32 (the preset's precision)
against bf16 + channels_last, at 1 and 2 torch threads, in one run.

    OMP_NUM_THREADS=1 python benchmarks/resnet32_step.py            # about 10 minutes idle
    python benchmarks/resnet32_step.py --threads 1 --rounds 3 --batches 2   # a quick look

Two pipelines on 32x32x3 images, batch 128 (the preset's):
  bare   forward + backward + SGD on pre-made float tensors, plus the previous network's
         forward (distillation): the network's own cost, nothing of icarl around it
  icarl  the learner's real UpdateRepresentation (ICaRL._update_representation): batched
         crop/flip/normalise from uint8, the previous network, BCE with distillation, SGD
Rounds are interleaved (every variant once per round, thread count by thread count), so load
hits all variants alike: compare the ratios of one run, and quote medians. The whole run's
images/s (every phase: herding, means, evaluation) is in a run's results.json timing.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bare_step, icarl_learner, make_net, make_old, median, timed_rounds

from icarl.config import LearnerConfig, load_config

VARIANTS = {"fp32": {"amp": "off", "channels_last": False}, "bf16+cl": {"amp": "bf16", "channels_last": True}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="1,2", help="comma list of torch thread counts")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batches", type=int, default=4, help="batches of 128 per timed call")
    args = p.parse_args(argv)
    preset = load_config("cifar100-paper", []).learner
    device = torch.device("cpu")
    print(f"# ResNet-32 step, cifar100-paper preset, batch {preset.batch_size}, 32x32x3")
    print(f"{platform.processor() or '?'}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"load avg {' '.join(f'{v:.1f}' for v in os.getloadavg())} at start")  # fmt: skip
    print("\n| threads | pipeline | fp32 img/s | bf16+cl img/s | bf16+cl / fp32 (median of rounds) |")
    print("|---|---|---|---|---|")
    for t in [int(s) for s in args.threads.split(",") if s]:
        torch.set_num_threads(t)
        fns, cfgs = {}, {}
        for name, opts in VARIANTS.items():
            cfg: LearnerConfig = replace(preset, **opts, device="cpu", progress=False)  # type: ignore[arg-type]
            cfgs[name] = cfg
            net = make_net("resnet32", 3, 32, 20, cfg, device)
            old = make_old("resnet32", 3, 32, cfg, device)
            fns[f"bare {name}"] = bare_step(net, old, cfg, device, args.batches, (3, 32))
            fns[f"icarl {name}"] = icarl_learner("resnet32", 3, 32, cfg, args.batches)[1]
        rates = timed_rounds(fns, args.rounds, device)
        for pipe in ("bare", "icarl"):
            a, b = rates[f"{pipe} fp32"], rates[f"{pipe} bf16+cl"]
            ratio = median([y / x for x, y in zip(a, b, strict=True)])
            print(f"| {t} | {pipe} | {median(a):.0f} | {median(b):.0f} | {ratio:.2f} |")
    print(f"\nload avg {' '.join(f'{v:.1f}' for v in os.getloadavg())} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
