"""Class orders, protocol presets and ``icarl run --dry-run``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from icarl.cli import main
from icarl.config import load_config, preset_names
from icarl.data import DataError, resolve_order
from icarl.experiment.estimate import forward_flops

# ------------------------------------------------------------------ orders


def test_authors_order_is_a_permutation_with_the_known_prefix() -> None:
    order = resolve_order("icarl-theano", 100, seed=0)
    assert order[:10] == [87, 0, 52, 58, 44, 91, 68, 97, 51, 15]
    assert sorted(order) == list(range(100))


def test_numpy_1993_is_the_other_seed_1993_order() -> None:
    order = resolve_order("numpy-1993", 100, seed=0)
    assert order[:5] == [68, 56, 78, 8, 23]
    assert order == np.random.RandomState(1993).permutation(100).tolist()
    assert order != resolve_order("icarl-theano", 100, seed=0)


def test_authors_order_needs_100_classes() -> None:
    with pytest.raises(DataError, match="lists the 100 CIFAR-100 classes but the dataset has 10"):
        resolve_order("icarl-theano", 10, seed=0)


def test_order_files(tmp_path: Path) -> None:
    (tmp_path / "lines.txt").write_text("3\n1\n2\n0\n")
    (tmp_path / "commas.txt").write_text("3, 1,2 ,0")
    assert resolve_order(str(tmp_path / "lines.txt"), 4, 0) == [3, 1, 2, 0]
    assert resolve_order(str(tmp_path / "commas.txt"), 4, 0) == [3, 1, 2, 0]
    cases = {
        "dup.txt": ("3\n1\n3\n", "class 3 appears twice"),
        "unknown.txt": ("0\n7\n", r"class 7 in the class order file .* is unknown; labels lie in 0..3"),
        "words.txt": ("0\ncat\n", "holds a non-integer entry"),
        "empty.txt": ("\n", "is empty"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(DataError, match=message):
            resolve_order(str(tmp_path / name), 4, 0)


def test_bad_inline_order() -> None:
    with pytest.raises(DataError, match="write comma-separated integer labels"):
        resolve_order("1,b,3", 4, 0)


# ------------------------------------------------------------------ presets


def test_paper_presets_hold_the_paper_settings() -> None:
    assert {"cifar100-paper", "imagenet-subset-paper", "tinyimagenet100-32", "tinyimagenet100-quick"} <= set(
        preset_names()
    )
    c = load_config("cifar100-paper")
    lc = c.learner
    assert (c.data.dataset, c.data.classes_per_step, c.data.class_order) == ("cifar100", 10, "icarl-theano")
    assert (lc.backbone, lc.epochs, lc.lr, lc.milestones(), lc.lr_gamma) == (
        "resnet32",
        70,
        2.0,
        (49, 63),
        0.2,
    )
    assert (lc.batch_size, lc.memory_size, lc.head_size, lc.crop_pad, lc.flip) == (128, 2000, 100, 4, True)
    assert (lc.weight_decay, lc.weight_decay_convention, lc.normalize) == (1e-5, "authors", "pixel_mean")
    # the authors' code where the paper is silent (docs/paper.md)
    assert (lc.resnet_last_relu, lc.pad_value, lc.momentum_carry) == (False, "mean", True)
    assert (lc.selection, lc.init, c.evaluation.score_all_outputs) == ("herding-authors", "lasagne", True)
    i = load_config("imagenet-subset-paper").learner
    assert (i.backbone, i.epochs, i.milestones(), i.memory_size, i.head_size) == (
        "resnet18",
        60,
        (20, 30, 40, 50),
        20000,
        100,
    )
    # the TF code: no last ReLU, a mean colour, a new optimiser each step, 1e-5 * sum(p^2) / 2
    assert (i.resnet_last_relu, i.normalize, i.momentum_carry, i.weight_decay) == (
        False,
        "channel_mean",
        False,
        5e-6,
    )
    t = load_config("tinyimagenet100-32")
    assert (t.data.dataset, t.data.image_size) == ("tinyimagenet", 32)
    assert t.learner == lc  # the CIFAR protocol, unchanged


# ------------------------------------------------------------------ dry run


def test_flop_counter_counts_convs_and_linears_by_hand() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
            self.fc = nn.Linear(8 * 4 * 4, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.dw(self.conv(x)).flatten(1))

    flops = forward_flops(Net(), torch.zeros(2, 3, 8, 8))
    conv = 2 * (8 * 8 * 8) * (3 * 9)
    dw = 2 * (8 * 4 * 4) * (1 * 9)
    fc = 2 * 5 * 128
    assert flops == 2 * (conv + dw + fc)


def test_dry_run_prints_config_data_and_work_without_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["run", "--dry-run", "--epochs", "3", "--out", str(out), "learner.batch_size=100"]) == 0
    text = capsys.readouterr().out
    assert '[learner]\nbackbone = "small_cnn"' in text and "epochs = 3" in text
    assert "data: digits, 10 classes, 1433 train / 364 test images of shape (1, 8, 8)" in text
    rows = [line.split() for line in text.splitlines() if line[:4].strip().isdigit()]
    assert len(rows) == 5
    # step 1: the two first classes' training images, full batches of 100 only, x 3 epochs
    train_set, per_epoch, train_imgs = int(rows[0][2]), int(rows[0][3]), int(rows[0][4])
    assert per_epoch == (train_set // 100) * 100 and train_imgs == 3 * per_epoch
    # step 2: its new classes' images plus the exemplars kept after step 1
    from icarl.experiment import runner

    cfg = load_config("digits")
    stream = runner.make_stream(cfg, runner.load_run_data(cfg))
    assert int(rows[1][2]) == len(stream[1].train) + int(rows[0][6])
    assert int(rows[0][6]) == 200 and int(rows[2][6]) == 6 * (200 // 6)  # m = K // t
    assert "total:" in text and "FLOP" in text
    assert not out.exists()  # nothing written, nothing trained
