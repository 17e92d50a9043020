"""Same accuracy within noise: one 10-class step on digits upsampled to 28x28, trained
by (b) the real learner (ICaRL.partial_fit) and by (c) the DataLoader pipeline with
the same network, initialisation, hyperparameters, loss and schedule; (c fp32) also runs
the network as the field does (fp32, contiguous)."""

from __future__ import annotations

import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor

from icarl import load_dataset
from icarl.algorithm.learner import ICaRL
from icarl.config import LearnerConfig
from icarl.data.augment import to_float
from icarl.nets import IncrementalNet, create_backbone


def digits28() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    data = load_dataset("digits")

    def up(x: Tensor) -> Tensor:
        return (
            F.interpolate(x.float(), size=28, mode="bilinear", align_corners=False)
            .round()
            .clamp(0, 255)
            .to(torch.uint8)
        )

    return up(data.train.x), data.train.y, up(data.test.x), data.test.y


def field_accuracy(
    cfg: LearnerConfig, x: Tensor, y: Tensor, xt: Tensor, yt: Tensor, device: torch.device
) -> float:
    from field import loader, train_epochs

    with torch.random.fork_rng(devices=[]):  # the learner's own initialisation, step by step
        torch.manual_seed(cfg.seed)
        net = IncrementalNet(create_backbone(cfg.backbone, x.shape[1], x.shape[2]), 0)
    net = net.to(device)
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    net.grow(10, generator=torch.Generator().manual_seed(cfg.seed + 1))
    mean = x.float().div(255.0).mean(0)
    torch.manual_seed(cfg.seed)  # the per-sample draws
    train_epochs(net, None, 0, loader("tensor", x, y, cfg, mean, 0, cfg.seed), cfg, device, cfg.epochs)
    with torch.no_grad():
        pred = net.eval()(to_float(xt.to(device), mean.to(device))).argmax(1).cpu()
    return float((pred == yt).float().mean())


def accuracy_rows(base: LearnerConfig, device: torch.device, quick: bool) -> list[str]:
    x, y, xt, yt = digits28()
    rows = []
    for seed in (1993,) if quick else (1993, 1994, 1995):
        cfg = replace(base, epochs=8 if quick else 15, lr=2.0, batch_size=64, classifier="cnn", seed=seed)
        t0 = time.perf_counter()
        ours = ICaRL(config=cfg).partial_fit(x, y).score(xt, yt, "cnn")
        t_b = time.perf_counter() - t0
        t0 = time.perf_counter()
        theirs = field_accuracy(cfg, x, y, xt, yt, device)
        t_c = time.perf_counter() - t0
        t0 = time.perf_counter()
        fp32 = field_accuracy(replace(cfg, amp="off", channels_last=False), x, y, xt, yt, device)
        t_f = time.perf_counter() - t0
        rows.append(
            f"| {seed} | {100 * ours:.1f}% | {100 * theirs:.1f}% | {100 * fp32:.1f}% | "
            f"{t_b:.1f} | {t_c:.1f} | {t_f:.1f} |"
        )
    return rows
