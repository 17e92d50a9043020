"""The authors' behaviours behind options (docs/paper.md): ResNet's last ReLU, the weight
decay of BatchNorm scales, the crop padding value, momentum carried across steps, the
per-channel mean, the top-5 headline."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
from torch import nn

from icarl.algorithm.preprocess import first_step_mean, prepare
from icarl.config import ConfigError, LearnerConfig, load_config
from icarl.data.augment import random_crop_flip_reference, to_float
from icarl.data.reading import tensor_reader
from icarl.data.source import SubsetSource, TensorSource
from icarl.experiment.results import summarize
from icarl.nets import build_backbone
from icarl.nets.resnet import set_last_relu
from icarl.train.loop import Batch, param_groups, train
from icarl.train.momentum import load_velocity


def test_resnet32_features_are_signed_without_the_last_relu() -> None:
    torch.manual_seed(0)
    net = build_backbone("resnet32", 3, 32).eval()
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        with_relu = net.forward_features(x)
        set_last_relu(net, False)
        signed = net.forward_features(x)
        set_last_relu(net, True)
        back = net.forward_features(x)
    assert with_relu.min() >= 0
    assert signed.min() < 0
    assert torch.equal(back, with_relu)  # the option, not the weights, changed the features
    linear = nn.Linear(2, 2)
    assert set_last_relu(linear, False) is linear  # other networks: unchanged


def _decay_of(net: nn.Module, cfg: LearnerConfig) -> dict[int, float]:
    out: dict[int, float] = {}
    for group in param_groups(net, cfg):
        for p in group["params"]:  # type: ignore[attr-defined]
            out[id(p)] = float(group["weight_decay"])  # type: ignore[arg-type]
    return out


def test_batchnorm_gamma_is_decayed_under_the_authors_convention() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    conv, bn, lin = net[0], net[1], net[3]
    authors = _decay_of(net, LearnerConfig(weight_decay=1e-5, weight_decay_convention="authors"))
    weights = _decay_of(net, LearnerConfig(weight_decay=1e-5, weight_decay_convention="weights"))
    # Lasagne: wd * sum(p^2) over regularizable parameters (conv/linear W and BN gamma): 2 wd
    assert authors[id(bn.weight)] == pytest.approx(2e-5)
    assert authors[id(conv.weight)] == authors[id(lin.weight)] == pytest.approx(2e-5)
    assert authors[id(bn.bias)] == authors[id(lin.bias)] == 0.0
    assert weights[id(bn.weight)] == 0.0 and weights[id(conv.weight)] == pytest.approx(2e-5)
    assert len(_decay_of(net, LearnerConfig())) == len(list(net.parameters()))  # every one, once


@pytest.mark.parametrize("flip", [False, True])
def test_mean_padding_pads_the_centred_image_with_zero(flip: bool) -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8, generator=g)
    mean = torch.rand(3, 8, 8, generator=g)
    cfg = LearnerConfig(crop_pad=3, flip=flip, pad_value="mean", channels_last=False)
    out = prepare(x, cfg, mean, torch.Generator().manual_seed(7), None, train=True)
    # the authors: subtract the mean, pad with 0, crop (the same random numbers)
    ref = random_crop_flip_reference(to_float(x, mean), 3, flip, torch.Generator().manual_seed(7))
    assert torch.allclose(out, ref, atol=1e-6)
    border = (out == 0).all(1, keepdim=True).expand_as(out)  # a padded pixel: 0 in every channel
    assert border.any() and not border.all()
    cfg_zero = LearnerConfig(crop_pad=3, flip=flip, channels_last=False)
    zero = prepare(x, cfg_zero, mean, torch.Generator().manual_seed(7), None, train=True)
    # "zero": black padding, then minus the mean at the output position
    assert torch.allclose(zero[border], -mean.expand_as(zero)[border], atol=1e-6)


class _Head(nn.Module):
    """The smallest network the loop trains: identity features, one linear head."""

    def __init__(self, outputs: int) -> None:
        super().__init__()
        self.head = nn.Linear(4, outputs)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)


def _tiny_train(net: nn.Module, velocity: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 4, generator=g)
    y = torch.randint(0, 3, (8,), generator=g)
    cfg = LearnerConfig(epochs=1, batch_size=8, lr=0.5, weight_decay=0.0, progress=False, amp="off")

    def loss_fn(batch: Batch) -> torch.Tensor:
        return nn.functional.cross_entropy(batch.logits, batch.labels)

    def same(xb: torch.Tensor, part: tuple[int, int, int] | None = None) -> torch.Tensor:
        return xb

    reader = tensor_reader(x, y)
    before = {k: v.clone() for k, v in velocity.items()}
    out = train(net, reader, cfg=cfg, prepare=same, loss_fn=loss_fn, generator=g, velocity=velocity)
    assert all(torch.equal(velocity[k], v) for k, v in before.items())  # the caller's dict is not written
    assert out.velocity is not None
    return out.velocity


def test_momentum_is_carried_across_steps_when_asked() -> None:
    torch.manual_seed(0)
    net = _Head(3)
    v1 = _tiny_train(net, {}, seed=1)  # step 1: one update, buf = grad1, held as lr * buf
    assert set(v1) == {"head.weight", "head.bias"}
    on, off = copy.deepcopy(net), copy.deepcopy(net)
    v2 = _tiny_train(on, v1, seed=2)
    v_off = _tiny_train(off, {}, seed=2)
    # same parameters and batch, so the same gradient: the carried run adds momentum * buf1
    for k in v1:
        assert torch.allclose(v2[k] - v_off[k], 0.9 * v1[k], atol=1e-6)
        assert not torch.allclose(v2[k], v_off[k])
    # a grown head: the old rows keep their velocity, the new rows start at zero
    big = _Head(5)
    opt = torch.optim.SGD(big.parameters(), lr=0.5, momentum=0.9)
    assert load_velocity(opt, big, v1, lr=0.5) == 2
    buf = opt.state[big.head.weight]["momentum_buffer"]
    assert torch.allclose(buf[:3], v1["head.weight"] / 0.5) and (buf[3:] == 0).all()


def test_learner_keeps_velocity_in_its_state(digits) -> None:  # type: ignore[no-untyped-def]
    from icarl import ICaRL

    x, y = digits.train.x, digits.train.y
    learner = ICaRL(backbone="mlp", memory_size=40, epochs=1, progress=False, momentum_carry=True)
    learner.partial_fit(x[y < 2], y[y < 2])
    assert learner.velocity_ and all(torch.isfinite(v).all() for v in learner.velocity_.values())
    again = ICaRL(**learner.get_params()).load_state_dict(learner.state_dict())
    assert again.velocity_.keys() == learner.velocity_.keys()
    assert all(torch.equal(again.velocity_[k], v) for k, v in learner.velocity_.items())
    assert (
        not ICaRL(backbone="mlp", memory_size=40, epochs=1, progress=False)
        .partial_fit(x[y < 2], y[y < 2])
        .velocity_
    )


def test_channel_mean_is_the_mean_colour_in_memory_and_streamed() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (10, 3, 5, 6), dtype=torch.uint8, generator=g)
    cfg = LearnerConfig(normalize="channel_mean", workers=0, eval_batch_size=3)
    memory = TensorSource(x, torch.zeros(10, dtype=torch.long), ("a",), "t")
    mean = first_step_mean(memory, cfg)
    assert mean is not None and mean.shape == (3, 1, 1)
    expected = x.double().mean((0, 2, 3)) / 255
    assert torch.allclose(mean.flatten().double(), expected, atol=1e-6)
    read_item_by_item = SubsetSource(memory, torch.arange(10))  # as sources in files are read
    streamed = first_step_mean(read_item_by_item, replace(cfg, eval_batch_size=4))
    assert streamed is not None and torch.equal(streamed, mean)
    assert first_step_mean(memory, LearnerConfig(normalize="none")) is None


def test_options_are_checked_and_headline_top5_summarises_top5() -> None:
    with pytest.raises(ConfigError, match="pad_value"):
        LearnerConfig(pad_value="grey").check()
    with pytest.raises(ConfigError, match="momentum_carry"):
        LearnerConfig(momentum_carry="yes").check()  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="headline"):
        load_config("digits", [{"headline": "top3"}])
    assert load_config("imagenet-subset-paper").headline == "top5"
    steps = [
        {"accuracy": {"nme": 0.5}, "top5": {"nme": 0.9}},
        {"accuracy": {"nme": 0.3}, "top5": {"nme": 0.7}},
    ]
    avg, final = summarize(steps, "top5")
    assert avg["nme"] == pytest.approx(0.8) and final["nme"] == pytest.approx(0.7)


@pytest.mark.slow
def test_carried_momentum_survives_a_crash_and_resume(tmp_path, monkeypatch, digits) -> None:  # type: ignore[no-untyped-def]
    from run_helpers import TINY, Crash, crash_after, strip_timings

    from icarl.experiment import runner
    from icarl.files.checkpoint import load_checkpoint

    cfg = load_config("digits", [TINY, {"learner": {"momentum_carry": True}}])
    ref = strip_timings(runner.run(cfg, tmp_path / "ref", data=digits))
    crash_after(monkeypatch, 4)  # right after the checkpoint between steps 1 and 2
    with pytest.raises(Crash):
        runner.run(cfg, tmp_path / "crash", data=digits)
    monkeypatch.undo()
    ck = load_checkpoint(tmp_path / "crash")
    assert ck.training is None and ck.learner["velocity"]  # step 1's velocity is in the file
    assert strip_timings(runner.run(cfg, tmp_path / "crash", data=digits, resume=ck)) == ref
