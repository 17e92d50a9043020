"""Estimates of a run's work, for ``icarl run --dry-run``: images processed and FLOPs.

FLOPs of one forward pass are counted by PyTorch's own ``torch.utils.flop_counter.FlopCounterMode``,
which sees every matrix product and convolution the forward runs (``aten`` operators: 2 FLOPs
per multiply-add), whatever the modules: a user's backbone that calls ``F.conv2d`` or
``torch.matmul`` itself is counted too, where forward hooks on ``Conv2d``/``Linear`` layers
missed it. BatchNorm, ReLU, pooling and the shortcut additions are not counted (elementwise
work, a few percent on ResNets). Training costs about 3 forwards per image (forward,
backward to inputs and to weights), plus one forward of the frozen previous network for
distillation from the second step on. Herding and the class means cost one forward per
image (two for flipped copies); evaluation runs one pass per classifier.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from ..algorithm.memory import per_class_budget
from ..config import RunConfig, resolve_learner
from ..data.stream import ClassIncrementalStream
from ..nets import build_backbone


def forward_flops(module: nn.Module, x: Tensor) -> int:
    """FLOPs of ``module``'s features for the batch ``x`` (``forward_features`` where it has
    one), in eval mode, as ``FlopCounterMode`` counts them: matrix products and convolutions."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            fwd = getattr(module, "forward_features", module)
            fwd(x)
    finally:
        module.train(was_training)
    return int(counter.get_total_flops())


@dataclass(frozen=True)
class StepWork:
    step: int
    seen: int
    train_set: int  # new-class images + exemplars
    images_per_epoch: int  # full batches only (the last partial batch is dropped)
    memory_after: int
    train_images: int  # over all epochs
    inference_images: int  # herding, class means, evaluation
    flops: float


def estimate(cfg: RunConfig, stream: ClassIncrementalStream) -> tuple[int, list[StepWork]]:
    """(forward FLOPs per image of the backbone, per-step work) for ``cfg`` on ``stream``."""
    data = stream.data
    # batch_size 0 (auto) as the run resolves it, from the first step's size
    lc = resolve_learner(cfg.learner, first_step_images=stream.train_size(0)) if len(stream) else cfg.learner
    c, h, _ = data.image_shape
    backbone = build_backbone(lc.backbone, c, h)
    fwd = forward_flops(backbone, torch.zeros(1, c, h, h))
    feat = int(getattr(backbone, "out_dim", 0))
    n_train = data.train.y.bincount(minlength=data.num_classes)
    n_test = data.test.y.bincount(minlength=data.num_classes)
    memory: dict[int, int] = {}
    steps: list[StepWork] = []
    seen: list[int] = []
    for i, group in enumerate(stream.groups):
        seen += list(group)
        t = len(seen)
        head = 2 * feat * max(lc.head_size, t)
        n_new = int(sum(int(n_train[cl]) for cl in group))
        size = n_new + sum(memory.values())
        per_epoch = size if size < lc.batch_size else (size // lc.batch_size) * lc.batch_size
        train_imgs = per_epoch * lc.epochs
        distil = i > 0 and lc.distillation != "none"
        train_flops = train_imgs * ((3 * (fwd + head)) + ((fwd + head) if distil else 0))
        m = per_class_budget(lc.memory_size, t)
        memory = {cl: min(m, n) for cl, n in memory.items()}
        memory.update({cl: min(m, int(n_train[cl])) for cl in group} if lc.memory_size else {})
        kept = sum(memory.values())
        evaluated = sum(int(n_test[cl]) for cl in seen)  # one pass for NME and CNN
        incm = sum(int(n_train[cl]) for cl in seen) * (2 if lc.flip else 1) if cfg.evaluation.incm else 0
        infer = n_new + kept * (2 if lc.flip else 1) + evaluated + incm
        steps.append(StepWork(i, t, size, per_epoch, kept, train_imgs, infer, train_flops + infer * fwd))
    return fwd, steps


# ----------------------------------------------------------------- printing
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)


def to_toml(table: dict[str, Any]) -> str:
    """A flat-or-one-level-nested dict as TOML; ``None`` values become comments."""
    lines: list[str] = []
    subtables = {k: v for k, v in table.items() if isinstance(v, dict)}
    for k, v in table.items():
        if k in subtables:
            continue
        lines.append(f"# {k} = (unset)" if v is None else f"{k} = {_toml_value(v)}")
    for name, sub in subtables.items():
        lines.append(f"\n[{name}]")
        for k, v in sub.items():
            lines.append(f"# {k} = (unset)" if v is None else f"{k} = {_toml_value(v)}")
    return "\n".join(lines)


def human(n: float, unit: str = "FLOP") -> str:
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {prefix}{unit}"
    return f"{n:.0f} {unit}"


def work_table(fwd: int, steps: list[StepWork]) -> str:
    rows = ["step  classes  train set  imgs/epoch  train imgs  infer imgs  exemplars  FLOPs"]
    for s in steps:
        rows.append(
            f"{s.step + 1:>4}  {s.seen:>7}  {s.train_set:>9}  {s.images_per_epoch:>10}  "
            f"{s.train_images:>10}  {s.inference_images:>10}  {s.memory_after:>9}  {human(s.flops)}"
        )
    train = sum(s.train_images for s in steps)
    infer = sum(s.inference_images for s in steps)
    total = sum(s.flops for s in steps)
    rows.append(
        f"total: {train:,} training images (x3 forward, +1 old-network forward after step 1) and "
        f"{infer:,} inference images; about {human(total)} "
        f"(one forward: {human(fwd)} per image, matrix products and convolutions)"
    )
    return "\n".join(rows)
