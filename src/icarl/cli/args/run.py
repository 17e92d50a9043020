"""``icarl run``'s options (parsed before anything heavy is imported; the command itself:
:mod:`icarl.cli.run`)."""

from __future__ import annotations

import argparse

from .helptext import add_trust_backbone, config_help, flag_help
from .tracking import add_log_options

HELP = "train a method over a class-incremental stream"

RUN_FLAGS: dict[str, tuple[str, type]] = {
    "--dataset": ("data.dataset", str),
    "--data": ("data.path", str),
    "--classes-per-step": ("data.classes_per_step", int),
    "--first-step": ("data.first_step", int),
    "--class-order": ("data.class_order", str),
    "--classes": ("data.classes", str),
    "--method": ("method", str),
    "--memory": ("learner.memory_size", int),
    "--epochs": ("learner.epochs", int),
    "--lr": ("learner.lr", float),
    "--batch-size": ("learner.batch_size", int),
    "--backbone": ("learner.backbone", str),
    "--device": ("learner.device", str),
    "--seed": ("seed", int),
    "--image-size": ("data.image_size", int),
    "--cache": ("data.cache", str),
    "--checksum": ("data.checksum", str),
}


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options shared by every command that runs a stream (run, compare)."""
    p.add_argument("--config", help=config_help())
    for flag, (key, tp) in RUN_FLAGS.items():
        p.add_argument(flag, type=tp, default=None, help=flag_help(key))
    p.add_argument("--out", help="run folder to create (default: runs/<dataset>-<method>-<time>)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_log_options(p)
    p.add_argument(
        "--download",
        action="store_true",
        help="fetch the published files (cifar10/100, mnist, fashion-mnist) into --data, checksums checked",
    )
    p.add_argument(
        "--dist-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="under torchrun: how long a collective waits for the other processes (default 1800)",
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. learner.lr=0.5")


def build(p: argparse.ArgumentParser) -> None:
    """``icarl run``'s own options: the shared ones plus checkpoints and resuming."""
    add_run_options(p)
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR where it stopped")
    p.add_argument("--force", action="store_true", help="replace the results of a run already in --out")
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="bitwise-reproducible training (deterministic kernels, one CPU thread); a killed "
        "and resumed run then ends with exactly the results of an uninterrupted one",
    )
    p.add_argument(
        "--checkpoint-every", type=int, default=None, metavar="EPOCHS", help="sets checkpoint_every"
    )
    p.add_argument(
        "--save", metavar="MODEL", help="save the trained model to this file (for predict / learn / info)"
    )
    p.add_argument(
        "--no-exemplars",
        action="store_true",
        help="with --save: an inference-only model file, without the exemplar images (it predicts, "
        "cannot learn)",
    )
    add_trust_backbone(p)  # --resume: a checkpoint's import-path backbone
    p.add_argument(
        "--allow-world-size-change",
        action="store_true",
        help="--resume with another number of torchrun processes than the checkpoint's",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the resolved config, data sizes and estimated work; train nothing",
    )
