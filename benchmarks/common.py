"""Measuring helpers for bench.py: timers, FLOP counting, matmul peak, the three pipelines."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import Tensor, nn

from icarl.algorithm.learner import ICaRL
from icarl.algorithm.losses import icarl_bce
from icarl.config import LearnerConfig
from icarl.data.reading import tensor_reader
from icarl.data.source import TensorSource
from icarl.nets import IncrementalNet, create_backbone
from icarl.nets.fold import inference_copy
from icarl.train import TrainHooks
from icarl.train import loop as engine


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(fn: Callable[[], object], device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


# ------------------------------------------------------------------ FLOPs and peak
def forward_flops(net: nn.Module, shape: tuple[int, int, int]) -> float:
    """FLOPs (2 x multiply-adds) of one image through the matrix products and convolutions,
    by ``torch.utils.flop_counter.FlopCounterMode`` (:func:`icarl.experiment.estimate.forward_flops`,
    the counter ``--dry-run`` uses)."""
    from icarl.experiment.estimate import forward_flops as count

    return float(count(net, torch.zeros(1, *shape, device=next(net.parameters()).device)))


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, repeats: int) -> float:
    """Best achieved FLOP/s of an n x n x n matrix product (the fastest of at least 10)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):  # warm-up
        a @ b
    ts = [seconds(lambda: a @ b, device) for _ in range(max(10, repeats))]
    return 2.0 * n**3 / min(ts)


# ------------------------------------------------------------------ networks and data
def make_net(
    backbone: str, c: int, h: int, outputs: int, cfg: LearnerConfig, device: torch.device
) -> nn.Module:
    torch.manual_seed(0)
    net = IncrementalNet(create_backbone(backbone, c, h), outputs).to(device)
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return net


def make_old(
    backbone: str, c: int, h: int, cfg: LearnerConfig, device: torch.device, fold: bool = True
) -> nn.Module:
    """The previous network (10 outputs) as the learner makes it (frozen, BatchNorms folded),
    or with ``fold=False`` as the field's frameworks run it (a plain eval-mode copy)."""
    net = make_net(backbone, c, h, 10, cfg, device)
    return inference_copy(net) if fold else net.eval()


def random_task(n: int, c: int, h: int, classes: int, seed: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, c, h, h), generator=g, dtype=torch.uint8)
    return x, torch.arange(n) % classes


# ------------------------------------------------------------------ pipeline (a)
def bare_step(
    net: nn.Module,
    old: nn.Module | None,
    cfg: LearnerConfig,
    device: torch.device,
    nb: int,
    shape: tuple[int, int],
) -> Callable[[], int]:
    """(a) forward + backward + SGD on pre-made float tensors (with ``old``: + its forward)."""
    c, h = shape
    n_old = 10
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(cfg.batch_size, c, h, h, generator=g).to(device) for _ in range(nb)]
    if cfg.channels_last:
        xs = [x.contiguous(memory_format=torch.channels_last) for x in xs]
    ys = [torch.randint(0, 20, (cfg.batch_size,), generator=g).to(device) for _ in range(nb)]
    model = engine.compiled(net, cfg)
    opt = torch.optim.SGD(engine.param_groups(net, cfg), lr=0.01, momentum=cfg.momentum)

    def run() -> int:
        net.train()
        for x, y in zip(xs, ys, strict=True):
            with engine.autocast(cfg, device):
                logits = model(x)
                q = None
                if old is not None:
                    with torch.no_grad():
                        q = old(x)[:, :n_old].float()
                loss = icarl_bce(logits, y, q)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return nb * cfg.batch_size

    return run


# ------------------------------------------------------------------ pipeline (b)
def icarl_learner(
    backbone: str, c: int, h: int, cfg: LearnerConfig, nb: int
) -> tuple[ICaRL, Callable[[], int]]:
    """(b) a real learner after a first step of 10 classes; the timed call is its own
    UpdateRepresentation (engine.train with its augmentation and distillation loss)
    on 10 new classes plus the exemplars, one epoch of ``nb`` batches."""
    first = replace(cfg, epochs=1, backbone=backbone, progress=False)
    learner = ICaRL(config=first)
    x0, y0 = random_task(20 * 10, c, h, 10, seed=2)
    learner.partial_fit(x0, y0)
    n_ex = len(learner.memory_)
    x1, y1 = random_task(max(nb * cfg.batch_size - n_ex, 10), c, h, 10, seed=3)
    y1 = y1 + 10
    learner.classes_ = [*learner.classes_.tolist(), *range(10, 20)]
    new = TensorSource(x1, y1)  # the step's images, as partial_fit hands them on
    n = x1.shape[0] + n_ex
    images = (n // cfg.batch_size) * cfg.batch_size

    def run() -> int:
        learner._update_representation(new, 10, TrainHooks())
        return images

    return learner, run


def data_only_ours(
    learner: ICaRL, nb: int, shape: tuple[int, int], device: torch.device
) -> Callable[[], int]:
    """(b)'s input path alone: index batches read (gathered on the device) by the training
    reader, crop/flip/normalise by the learner's own ``_prepare``."""
    c, h = shape
    x, y = random_task(nb * learner.config.batch_size, c, h, 20, seed=5)
    reader = tensor_reader(x, y, device)
    g = torch.Generator().manual_seed(0)

    def run() -> int:
        for xb, _, part in reader.read(list(engine.batches(len(reader), learner.config.batch_size, g))):
            learner._prepare(xb, train=True, part=part)
        return len(reader)

    return run


def data_only_field(cfg: LearnerConfig, nb: int, shape: tuple[int, int], workers: int) -> Callable[[], int]:
    """(c)'s input path alone: iterate the per-sample DataLoader."""
    from field import loader

    c, h = shape
    x, y = random_task(nb * cfg.batch_size, c, h, 20, seed=5)
    data = loader("tensor", x, y, cfg, x.float().div(255.0).mean(0), workers, seed=0)

    def run() -> int:
        n = 0
        for xb, _ in data:
            n += int(xb.shape[0])
        return n

    return run


def timed_rounds(
    fns: dict[str, Callable[[], int]], repeats: int, device: torch.device
) -> dict[str, list[float]]:
    """Images/s of each pipeline, interleaved round by round so load noise hits all alike."""
    for fn in fns.values():  # warm-up (and compilation)
        fn()
    rates: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            n = [0]

            def call(fn: Callable[[], int] = fn, n: list[int] = n) -> None:
                n[0] = fn()

            t = seconds(call, device)
            rates[k].append(n[0] / t)
    return rates


def nme_eval_rate(learner: ICaRL, x: Tensor, repeats: int, device: torch.device) -> float:
    learner._update_means()  # means for all 20 classes after the timed steps
    learner.predict(x[:64], "nme")
    ts = [seconds(lambda: learner.predict(x, "nme"), device) for _ in range(repeats)]
    return x.shape[0] / median(ts)


# ------------------------------------------------------------------ pipeline (c)
def field_step(
    flavour: str,
    backbone: str,
    shape: tuple[int, int],
    cfg: LearnerConfig,
    device: torch.device,
    nb: int,
    workers: int,
    fold: bool = True,
) -> Callable[[], int]:
    """(c) the same work fed by a plain DataLoader with per-sample transforms."""
    from field import loader, train_epochs

    c, h = shape
    net = make_net(backbone, c, h, 20, cfg, device)
    old = make_old(backbone, c, h, cfg, device, fold)
    x, y = random_task(nb * cfg.batch_size, c, h, 20, seed=4)
    mean = x.float().div(255.0).mean(0)
    data = loader(flavour, x, y, cfg, mean, workers, seed=0)
    return lambda: train_epochs(net, old, 10, data, cfg, device, 1)
