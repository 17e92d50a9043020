"""What the command line names before any command runs (``--help``, ``icarl list``, the
choices of flags), without importing torch: the built-in datasets, methods and backbones with
one line on each, and the few fixed choices of flags.

The registries (:mod:`icarl.data.registry`, :mod:`icarl.methods`, :mod:`icarl.nets.registry`,
:mod:`icarl.algorithm.classifiers`, :mod:`icarl.experiment.loggers`) remain what a run looks
names up in; loading them imports torch, which takes seconds, so parsing a command line does
not. ``tests/test_cli_startup.py`` checks that this catalogue and a fresh process's
registries (and the modules whose constants are copied here) say the same. Where a process
has loaded a registry already (a Python program that registered its own method, rule or
logger, then calls :func:`icarl.cli.main`; ``icarl list --plugin MODULE``), the functions
below answer from it instead: it may hold more than the built-in names.
"""

from __future__ import annotations

import sys
from types import ModuleType

DATASETS: dict[str, str] = {
    "cifar10": "CIFAR-10 from cifar-10-python.tar.gz or its folder cifar-10-batches-py",
    "cifar100": "CIFAR-100 (fine labels) from cifar-100-python.tar.gz or its folder cifar-100-python",
    "digits": "scikit-learn's 8×8 digits (1,797 images, 10 classes), embedded, no files needed",
    "fashion-mnist": "Fashion-MNIST: the MNIST format, ten kinds of clothing",
    "imagefolder": "One folder per class",
    "mnist": "MNIST: 60,000 train / 10,000 test 28×28 greyscale digits",
    "npz": "x/y (and optional x_test/y_test, class_names) from one .npz file",
    "tinyimagenet": "Tiny-ImageNet (200 classes, or any subset archive in the same layout), 64×64 RGB",
}
METHODS: dict[str, str] = {
    "finetune": "finetuning: no exemplars, no distillation, network outputs",
    "fixed": "fixed representation: network frozen after step 1, only new head rows learn",
    "hybrid1": "ablation: iCaRL training, network-output classifier",
    "hybrid2": "ablation: exemplars and NME, no distillation",
    "hybrid3": "ablation: exemplars, no distillation, network outputs",
    "icarl": "iCaRL: exemplars by herding, BCE distillation, nearest-mean classifier",
    "incm": "ablation: iCaRL training, class means over all training data (iNCM)",
    "joint": "joint training on all data seen so far (upper bound, not incremental)",
    "lwf": "LwF-MC: BCE distillation like iCaRL, no exemplars, network outputs",
}
BACKBONES: dict[str, str] = {
    "mlp": "A two-layer perceptron on the flattened image (256 hidden units, 128 features).",
    "resnet18": "ResNet-18 (the paper's ImageNet network; ImageNet stem above 64 pixels, 512 features).",
    "resnet20": "ResNet-20 for 32x32 images (three stages of 3 blocks, 64 features).",
    "resnet32": "ResNet-32 for 32x32 images (the paper's CIFAR-100 network; 0.46M parameters, 64 features).",
    "small_cnn": "Three conv-BN-ReLU stages (32, 64, 128 channels): fast on CPUs, 128 features.",
}
LOGGERS = ("csv", "tensorboard", "wandb", "mlflow")  # icarl.experiment.loggers.LOGGERS.names()
# what predict and export compute: icarl.algorithm.classifiers.predicting() (not "incm": its
# means need all training data)
PREDICTING = ("nme", "cnn")
PLUGIN_GROUP = "icarl.methods"  # icarl.methods.plugins.GROUP: the entry points of methods
EXPORT_FORMATS = ("pt2", "onnx", "icarl")  # icarl.deploy.export.FORMATS
FIGURE_FORMATS = ("png", "svg", "pdf")  # icarl.experiment.plots.FORMATS
PAPER_METHODS = ("icarl", "hybrid1", "lwf", "finetune", "fixed", "hybrid2", "hybrid3", "incm")
PAPER_BUDGETS = ("cpu", "paper")  # icarl.experiment.paper.BUDGETS


def _live(module: str) -> ModuleType | None:
    """The registry module ``module`` if this process has loaded it, else None (never
    imported here: that would import torch)."""
    return sys.modules.get(module)


def dataset_descriptions() -> dict[str, str]:
    live = _live("icarl.data.registry")
    return dict(sorted((live.descriptions() if live else DATASETS).items()))


def method_descriptions() -> dict[str, str]:
    live = _live("icarl.methods")
    return dict(sorted((live.descriptions() if live else METHODS).items()))


def backbone_descriptions() -> dict[str, str]:
    live = _live("icarl.nets.registry")
    return dict(sorted((live.descriptions() if live else BACKBONES).items()))


def datasets() -> list[str]:
    return list(dataset_descriptions())


def methods() -> list[str]:
    return list(method_descriptions())


def backbones() -> list[str]:
    return list(backbone_descriptions())


def predicting() -> list[str]:
    """The classifier rules ``--classifier`` offers (``icarl predict``, ``icarl export``)."""
    live = _live("icarl.algorithm.classifiers")
    return [r.name for r in live.predicting()] if live else list(PREDICTING)


def loggers() -> list[str]:
    """The names ``--log`` takes, in the order they were registered."""
    live = _live("icarl.experiment.loggers")
    return list(live.LOGGERS.names()) if live else list(LOGGERS)
