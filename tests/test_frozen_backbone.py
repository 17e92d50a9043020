"""learner.train = "head" / "none" (and epochs = 0): a frozen backbone under iCaRL's head,
or no training at all with herding and NME on fixed (pretrained) features."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from run_helpers import TINY, Crash, crash_after, strip_timings
from torch import nn

import icarl
from icarl import ICaRL, load_config
from icarl.algorithm import learner as learner_module
from icarl.config import ConfigError, parse_override, to_dict
from icarl.experiment import runner
from icarl.files.checkpoint import CheckpointError, check_config, load_checkpoint

FAST = {"backbone": "small_cnn", "memory_size": 100, "progress": False, "device": "cpu", "flip": False}


def halves(digits: Any) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    x, y = digits.train.x, digits.train.y
    return (x[y < 5], y[y < 5]), (x[y >= 5], y[y >= 5])


def backbone_state(learner: ICaRL) -> dict[str, torch.Tensor]:
    """Every parameter and buffer (BatchNorm's running statistics too) of the backbone."""
    return {k: v.detach().clone() for k, v in learner.network().backbone.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_head_mode_keeps_the_backbone_bit_identical_and_trains_the_head(digits) -> None:
    first, second = halves(digits)
    learner = ICaRL(**FAST, epochs=3, train="head").partial_fit(*first)
    backbone, head = backbone_state(learner), learner.network().head.weight.detach().clone()
    assert learner.network().backbone_frozen
    assert not any(p.requires_grad for p in learner.network().backbone.parameters())
    learner.partial_fit(*second)
    assert same(backbone, backbone_state(learner))  # weights and BatchNorm statistics
    assert not torch.equal(head, learner.network().head.weight[:5])  # old rows learn on (distillation)
    # the frozen backbone stays in eval mode when the network is put in training mode
    net = learner.network().train()
    assert net.training and not any(m.training for m in net.backbone.modules())
    net.freeze_backbone(False)  # what a step under train = "all" does first: the backbone learns again
    assert all(p.requires_grad for p in net.backbone.parameters()) and not net.backbone_frozen


def test_none_mode_never_trains_nor_augments_and_classifies_above_chance(digits, monkeypatch) -> None:
    def no_training(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the training loop ran")

    prepared: list[bool] = []
    real_prepare = ICaRL._prepare

    def spy(self: ICaRL, xb: torch.Tensor, train: bool, part: Any = None) -> torch.Tensor:
        prepared.append(train)
        return real_prepare(self, xb, train, part)

    monkeypatch.setattr(learner_module, "train", no_training)
    monkeypatch.setattr(ICaRL, "_prepare", spy)
    first, second = halves(digits)
    learner = ICaRL(**FAST, train="none").partial_fit(*first)
    backbone, head = backbone_state(learner), learner.network().head.weight.detach().clone()
    learner.partial_fit(*second)
    assert same(backbone, backbone_state(learner))
    assert torch.equal(head, learner.network().head.weight[:5])  # no SGD: old rows as they were
    assert prepared and not any(prepared)  # features only (herding, means): no augmented batch
    # random, frozen features: NME on 10 digits far above chance (0.1)
    assert learner.score(digits.test.x, digits.test.y) > 0.6


def test_epochs_zero_is_accepted_and_is_train_none(digits) -> None:
    first, second = halves(digits)
    zero = ICaRL(**FAST, epochs=0).partial_fit(*first).partial_fit(*second)
    none = ICaRL(**FAST, train="none").partial_fit(*first).partial_fit(*second)
    assert zero.config.trained() == "none" and zero.config.epochs == 0
    assert np.array_equal(zero.predict(digits.test.x), none.predict(digits.test.x))
    with pytest.raises(ConfigError, match="epochs is -1"):
        ICaRL(epochs=-1)
    with pytest.raises(ConfigError, match="train is 'backbone'; choose one of all, head, none"):
        ICaRL(train="backbone")
    with pytest.raises(ConfigError, match="classifier is 'cnn' but the network is never trained"):
        ICaRL(epochs=0, classifier="cnn")


def test_pretrained_weights_under_a_frozen_backbone(tmp_path, digits) -> None:
    """Pretrain on digits 5-9, then learn 0-4 on the fixed pretrained features (init_weights)."""
    first, second = halves(digits)
    plain_ce = {"distillation": "kd", "classifier": "cnn", "memory_size": 0, "lr": 0.1}  # one step: CE
    pre = ICaRL(**{**FAST, **plain_ce}, epochs=15)
    pre.partial_fit(*second)
    weights = tmp_path / "backbone.pt"
    torch.save(pre.network().backbone.state_dict(), weights)
    learner = ICaRL(**FAST, init_weights=str(weights), train="none").partial_fit(*first)
    assert same(backbone_state(learner), torch.load(weights, weights_only=True))
    test = digits.test.y < 5
    assert learner.score(digits.test.x[test], digits.test.y[test]) > 0.6  # chance: 0.2


class UserNet(nn.Module):
    """A user's module with BatchNorm and dropout: frozen as a whole in head mode."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.5), nn.Flatten()
        )
        self.out_dim = 8 * 8 * 8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def test_head_mode_with_any_module_and_a_model_file_round_trip(tmp_path, digits) -> None:
    first, second = halves(digits)
    learner = ICaRL(**{**FAST, "backbone": UserNet()}, epochs=2, train="head").partial_fit(*first)
    path = learner.save(tmp_path / "model.pt")
    back = icarl.load(path, backbone=UserNet(), device="cpu")
    assert back.config.train == "head" and back.config.epochs == 2
    before = backbone_state(back)
    back.partial_fit(*second)  # a loaded model learns later in its own mode (icarl learn too)
    assert same(before, backbone_state(back)) and back.network().backbone_frozen
    assert back.score(digits.test.x, digits.test.y) > 0.3  # chance: 0.1


def test_config_toml_and_overrides_carry_the_mode(tmp_path) -> None:
    cfg = load_config("digits", [parse_override("learner.train=head")])
    assert cfg.learner.train == "head" and cfg.learner.trained() == "head"
    toml = tmp_path / "frozen.toml"
    toml.write_text('[learner]\nbackbone = "small_cnn"\nepochs = 0\n')
    assert load_config(str(toml)).learner.trained() == "none"
    with pytest.raises(ConfigError, match=r"learner\.train is 'half'"):
        load_config("digits", [parse_override("learner.train=half")])


def test_a_head_run_resumes_exactly_and_records_its_mode(tmp_path, monkeypatch, digits) -> None:
    frozen: dict[str, Any] = {"learner": {"train": "head"}}
    expected = strip_timings(runner.run(load_config("digits", [TINY, frozen]), tmp_path / "ref", data=digits))
    assert expected["config"]["learner"]["train"] == "head"
    crash_after(monkeypatch, 5)  # step 2, epoch 1: the optimiser holds the head's state only
    with pytest.raises(Crash):
        runner.run(load_config("digits", [TINY, frozen]), tmp_path / "run", data=digits)
    monkeypatch.undo()
    ck = load_checkpoint(tmp_path / "run")
    assert ck.describe() == "step 2, epoch 1"
    other = to_dict(load_config("digits", [TINY, {"learner": {"train": "all"}}]))
    with pytest.raises(CheckpointError, match=r"learner\.train"):  # resumed in its own mode only
        check_config(ck, other, tmp_path / "run")
    results = runner.run(load_config("digits", [TINY, frozen]), tmp_path / "run", data=digits, resume=ck)
    assert strip_timings(results) == expected
    recorded = json.loads((tmp_path / "run" / "results.json").read_text())
    assert recorded["config"]["learner"]["train"] == "head"


def test_the_mode_is_read_at_every_step(digits) -> None:
    """A first step trained fully, the next one frozen, then trained again."""
    x, y = digits.train.x, digits.train.y
    learner = ICaRL(**FAST, epochs=1).partial_fit(x[y < 3], y[y < 3])
    trained = backbone_state(learner)
    learner.set_params(train="head").partial_fit(x[(y >= 3) & (y < 6)], y[(y >= 3) & (y < 6)])
    assert same(trained, backbone_state(learner))
    learner.set_params(train="all").partial_fit(x[y >= 6], y[y >= 6])
    assert not same(trained, backbone_state(learner))
    assert all(p.requires_grad for p in learner.network().backbone.parameters())
