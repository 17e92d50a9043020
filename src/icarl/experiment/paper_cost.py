"""The work of an ``icarl paper`` grid and how long it takes, for ``--dry-run``.

The work of each run (images through the network, FLOPs) is counted by
:func:`icarl.experiment.estimate.estimate`, as ``icarl run --dry-run`` counts it. Time is that
work divided by rates:

- on this machine, rates MEASURED now by a short calibration (:func:`calibrate`): a few
  training steps (forward, backward, SGD) and no-grad forwards of the run's network, at the
  run's precision, memory layout and torch thread count, on random images, a second or two;
- on a GPU, ASSUMED rates (:data:`GPU_ASSUMPTION`) unless ``--device cuda`` finds one here,
  which is then calibrated like the CPU. No ResNet-32 rate has been measured on a GPU in this
  project; ``benchmarks/gpu_cifar100.sh`` prints the one to put in ``--gpu-rate``.

A run's seconds: its training images at the training rate, plus one forward per training
image of the previous network (distillation, after the first step) and every inference image
(herding, class means, evaluation, iNCM) at the inference rate. The fixed representation's
later steps train the head alone: a forward per image. Not counted: Python between batches,
checkpoints, reports: a whole run takes somewhat longer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from .. import methods
from ..config import LearnerConfig, RunConfig, load_config, parse_override
from ..data import Dataset, Split
from ..data.stream import ClassIncrementalStream
from ..nets import IncrementalNet, build_backbone
from ..train.amp import autocast, resolve_device, use_bf16
from .estimate import StepWork, estimate, human
from .grid import Cell
from .paper import BUDGETS, CLASS_ORDER, PAPER_METHODS, PaperSpec

# ResNet-32 at batch 128 on one H200 in bf16 with channels_last: an ASSUMPTION, not a
# measurement. Its small convolutions are bound by kernel launches and Python, not by the chip's
# ~790 TFLOP/s bf16 matrix rate: 12,000 training images/s is about 7 TFLOP/s of useful work
# (0.57 GFLOP per image: 3 forwards of 0.14 and the previous network's forward), 1% of that peak.
GPU_TRAIN_RATE = 12_000.0
GPU_INFER_RATE = 40_000.0
GPU_ASSUMPTION = (
    "ASSUMED, not measured: ResNet-32 at {train:,.0f} training and {infer:,.0f} inference images/s "
    "on one H200 (bf16, channels_last, batch 128; launch-bound, about 1% of its matrix peak)"
)


@dataclass(frozen=True)
class Rates:
    """Images per second of the training step and of a no-grad forward, and what they are."""

    train: float
    infer: float
    basis: str


@dataclass(frozen=True)
class RunWork:
    """The work of one run: per-step counts and totals."""

    steps: list[StepWork]
    train_images: int  # forward + backward + SGD
    forward_images: int  # no-grad forwards: previous network, frozen backbone, inference
    flops: float

    def seconds(self, rates: Rates) -> float:
        return self.train_images / rates.train + self.forward_images / rates.infer


def published_cifar100() -> Dataset:
    """CIFAR-100 at its published sizes (500 training and 100 test images per class,
    3x32x32), with no pixels (zero-stride views): what the dry-run counts without data."""
    pixel = torch.zeros((1, 3, 32, 32), dtype=torch.uint8)

    def split(per_class: int) -> Split:
        y = torch.arange(100).repeat_interleave(per_class)
        return Split(pixel.expand(len(y), 3, 32, 32), y)

    names = tuple(f"class_{i}" for i in range(100))
    return Dataset("cifar100 (published sizes)", split(500), split(100), names)


def run_work(cfg: RunConfig, data: Dataset[Any]) -> RunWork:
    """The work of the run ``cfg`` (resolved: method settings applied) on ``data``."""
    stream = ClassIncrementalStream(
        data,
        classes_per_step=cfg.data.classes_per_step,
        first_step=cfg.data.first_step,
        order=cfg.data.class_order,
        seed=cfg.seed,
        classes=cfg.data.classes,
    )
    _, steps = estimate(cfg, stream)
    frozen = cfg.method == "fixed"  # later steps: the backbone only forwards (head trained)
    distil = cfg.learner.distillation != "none"
    trained = sum(s.train_images for i, s in enumerate(steps) if not (frozen and i))
    forwards = sum(s.inference_images for s in steps)
    forwards += sum(s.train_images for i, s in enumerate(steps) if i and (distil or frozen))
    return RunWork(steps, trained, forwards, sum(s.flops for s in steps))


def calibrate(lc: LearnerConfig, shape: tuple[int, int, int], outputs: int = 100) -> Rates:
    """Rates of the run's network measured now, on ``lc.device``, at its precision and layout
    and this process's torch threads: a few training steps and forwards on random images
    (a batch of 16 on a CPU, the run's batch on a GPU; about a second or two on a CPU)."""
    device = resolve_device(lc.device)
    c, h, _ = shape
    torch.manual_seed(0)
    net = IncrementalNet(build_backbone(lc.backbone, c, h), outputs).to(device)
    if lc.channels_last:
        net = net.to_channels_last()
    gpu = device.type == "cuda"
    batch, rounds = (lc.batch_size or 128, 10) if gpu else (16, 2)
    x = torch.randn(batch, c, h, h, device=device)
    if lc.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    target = torch.zeros(batch, outputs, device=device)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)

    def train_step() -> None:
        with autocast(lc, device):
            loss = F.binary_cross_entropy_with_logits(net(x).float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def forward() -> None:
        net(torch.cat([x, x]))

    net.train()
    train = batch / _seconds(train_step, rounds, device)
    net.eval()
    infer = 2 * batch / _seconds(forward, rounds, device)
    precision = "bf16" if use_bf16(lc.amp, device) else "fp32"
    n = torch.get_num_threads()
    where = torch.cuda.get_device_name(device) if gpu else f"{n} CPU thread{'s' if n != 1 else ''}"
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    basis = (
        f"MEASURED now: {lc.backbone} at batch {batch}, {where}, {precision}"
        f"{', channels_last' if lc.channels_last else ''}{load}: "
        f"{train:,.0f} training and {infer:,.0f} inference images/s"
    )
    return Rates(train, infer, basis)


def _seconds(fn: object, rounds: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` after one warm-up call: the best of ``rounds``."""
    assert callable(fn)  # internal
    fn()
    best = float("inf")
    for _ in range(rounds):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return best


def gpu_rates(train_rate: float | None = None) -> Rates:
    """The assumed GPU rates (``train_rate``: a measured training rate given with --gpu-rate;
    inference then at the same ratio as the assumption's)."""
    if train_rate is None:
        return Rates(
            GPU_TRAIN_RATE, GPU_INFER_RATE, GPU_ASSUMPTION.format(train=GPU_TRAIN_RATE, infer=GPU_INFER_RATE)
        )
    infer = train_rate * GPU_INFER_RATE / GPU_TRAIN_RATE
    basis = (
        f"GIVEN with --gpu-rate: {train_rate:,.0f} training images/s; inference assumed at "
        f"{infer:,.0f} images/s (the assumption's ratio)"
    )
    return Rates(train_rate, infer, basis)


def duration(seconds: float) -> str:
    """``3 h 05 min``, ``12 min``, ``45 s``, ``2.4 days``."""
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def gpu_rates_for(lc: LearnerConfig, shape: tuple[int, int, int], train_rate: float | None) -> Rates:
    """A CUDA device here: measured (bf16, channels_last, the run's batch); else assumed or
    ``--gpu-rate``."""
    if train_rate is None and torch.cuda.is_available():
        return calibrate(replace(lc, device="cuda", amp="bf16", channels_last=True), shape)
    return gpu_rates(train_rate)


def dry_run_text(
    preset: str,
    sp: PaperSpec,
    cells: Sequence[Cell],
    overrides: list[dict[str, Any]],
    data: Dataset[Any],
    gpu_rate: float | None,
    out: str,
) -> str:
    """``icarl paper --dry-run``: the protocol, the grid, its work and its time."""
    configs: dict[tuple[int, str], RunConfig] = {}
    for cell in cells:
        key = (int(cell.labels["classes_per_step"]), str(cell.labels["method"]))
        if key not in configs:
            cfg = load_config(preset, [*overrides, *(parse_override(o) for o in cell.overrides)])
            configs[key] = methods.resolve(cfg)
    gives = {
        r: [m.label for m in PAPER_METHODS.values() if m.run == r and m.name in sp.methods] for r in sp.runs()
    }
    lc = methods.resolve(load_config(preset, overrides)).learner
    here = calibrate(replace(lc, device="cpu"), data.image_shape)
    gpu = gpu_rates_for(lc, data.image_shape, gpu_rate)
    m1, m2 = lc.milestones()
    budget = BUDGETS[sp.budget]
    named = (budget.classes_per_step, budget.epochs, budget.orders, budget.methods)
    what = (
        budget.description
        if named == (sp.classes_per_step, sp.epochs, sp.orders, sp.methods)
        else (
            f"budget {sp.budget} with flags: {', '.join(map(str, sp.classes_per_step))} classes per step, "
            f"{sp.epochs} epochs, {sp.orders} orders, {', '.join(sp.methods)}"
        )
    )
    lines = [
        f"# icarl paper cifar100 --dry-run (budget {sp.budget}): the grid and its cost; nothing is trained",
        what,
        f"preset {preset}: {lc.backbone}, K = {lc.memory_size}, batch {lc.batch_size}, lr {lc.lr} "
        f"divided by {1 / lc.lr_gamma:g} after epochs {m1} and {m2} of {lc.epochs}; class orders "
        f"{CLASS_ORDER}:0..{sp.orders - 1} (0: the authors' order), shared by every run",
        f"data: {data.name}: {len(data.train):,} training / {len(data.test):,} test images",
        f"folder: {out}/cps-P/METHOD/order-K, one run each",
        "",
        plan_text(configs, gives, sp.orders, data, here, gpu),
    ]
    return "\n".join(lines)


def plan_text(
    configs: dict[tuple[int, str], RunConfig],
    gives: dict[str, list[str]],
    orders: int,
    data: Dataset[Any],
    here: Rates,
    gpu: Rates,
) -> str:
    """The grid, one line per (step size, run method) with its work per run, the totals, and
    the time one run after another here and on a GPU. ``configs``: each line's resolved
    config; ``gives``: the paper's lines each run method gives."""
    head = (
        f"{'classes/step':>12}  {'run':<9} {'gives':<24} {'steps':>5} {'runs':>4} "
        f"{'train imgs/run':>14} {'fwd imgs/run':>12} {'FLOP/run':>10}"
    )
    lines = [head]
    total = {"runs": 0, "train": 0, "fwd": 0, "flops": 0.0, "here": 0.0, "gpu": 0.0}
    for (p, run), cfg in configs.items():
        w = run_work(cfg, data)
        lines.append(
            f"{p:>12}  {run:<9} {', '.join(gives[run]):<24} {len(w.steps):>5} {orders:>4} "
            f"{w.train_images:>14,} {w.forward_images:>12,} {human(w.flops):>10}"
        )
        total["runs"] += orders
        total["train"] += orders * w.train_images
        total["fwd"] += orders * w.forward_images
        total["flops"] += orders * w.flops
        total["here"] += orders * w.seconds(here)
        total["gpu"] += orders * w.seconds(gpu)
    lines += [
        f"total: {total['runs']} run{'s' if total['runs'] != 1 else ''} (cells); "
        f"{int(total['train']):,} training images (forward, "
        f"backward, SGD) and {int(total['fwd']):,} forwards (previous network, herding, class "
        f"means, evaluation); about {human(total['flops'])}",
        "time, one run after another (network work only; a whole run adds its Python, "
        "checkpoints and reports):",
        f"  this machine: {duration(total['here'])}  [{here.basis}]",
        f"  one GPU:      {duration(total['gpu'])}  [{gpu.basis}]",
    ]
    return "\n".join(lines)
