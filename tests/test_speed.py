"""The fast data path gives the same numbers as the slow, obvious one.

Batched crop/flip equals a one-image-at-a-time reference drawing from the same
generator; the fused normalisation equals the textbook formula in either memory
layout; bf16 autocast and channels_last change results only within tolerance.
No timings here: speed lives in benchmarks/bench.py.
"""

from __future__ import annotations

import pytest
import torch

from icarl.algorithm.learner import ICaRL
from icarl.config import LearnerConfig
from icarl.data.augment import augment_batch, random_crop_flip, random_crop_flip_reference, to_float
from icarl.data.reading import tensor_reader
from icarl.nets import IncrementalNet, create_backbone
from icarl.train import loop as engine


def _images(n: int, c: int, h: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, h, h), generator=g, dtype=torch.uint8)


@pytest.mark.parametrize(("c", "h", "pad", "flip"), [(1, 28, 4, True), (3, 32, 4, True), (3, 8, 1, False)])
def test_batched_crop_flip_equals_per_sample_reference(c: int, h: int, pad: int, flip: bool) -> None:
    x = _images(37, c, h)
    fast = random_crop_flip(x, pad, flip, torch.Generator().manual_seed(5))
    slow = random_crop_flip_reference(x, pad, flip, torch.Generator().manual_seed(5))
    assert fast.shape == x.shape and fast.dtype == torch.uint8
    assert torch.equal(fast, slow)


def test_crop_flip_really_moves_and_flips() -> None:
    """With pad 4 over 64 images some crops are off-centre and some images flipped,
    and every output pixel is either an input pixel or padding zero."""
    x = _images(64, 1, 10, seed=1) | 1  # no zeros in the input
    out = random_crop_flip(x, 4, True, torch.Generator().manual_seed(0))
    assert not torch.equal(out, x)
    assert (out == 0).any()  # some padding came in
    # pad 0 and no flip is the identity
    assert torch.equal(random_crop_flip(x, 0, False, torch.Generator()), x)
    # flip only: each image is itself or its mirror
    flipped = random_crop_flip(x, 0, True, torch.Generator().manual_seed(3))
    same = (flipped == x).flatten(1).all(1)
    mirrored = (flipped == x.flip(3)).flatten(1).all(1)
    assert bool((same | mirrored).all()) and same.any() and mirrored.any()


@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_normalisation_matches_formula(channels_last: bool) -> None:
    x = _images(6, 3, 12)
    mean = torch.rand(3, 12, 12)
    out = to_float(x, mean, channels_last=channels_last)
    expected = x.float() / 255.0 - mean
    assert out.dtype == torch.float32
    assert out.is_contiguous(memory_format=torch.channels_last) == channels_last
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(to_float(x, None), x.float() / 255.0, rtol=0, atol=1e-7)


def test_augment_batch_is_crop_then_normalise() -> None:
    x = _images(9, 3, 16)
    mean = torch.rand(3, 16, 16)
    out = augment_batch(x, pad=2, flip=True, generator=torch.Generator().manual_seed(4), mean=mean)
    ref = random_crop_flip_reference(x, 2, True, torch.Generator().manual_seed(4)).float() / 255 - mean
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)


def _net(backbone: str, c: int, h: int, outputs: int = 6) -> IncrementalNet:
    torch.manual_seed(0)
    return IncrementalNet(create_backbone(backbone, c, h), outputs)


@pytest.mark.parametrize(("backbone", "c", "h"), [("small_cnn", 1, 28), ("resnet32", 3, 32)])
def test_bf16_autocast_outputs_close_to_fp32(backbone: str, c: int, h: int) -> None:
    net = _net(backbone, c, h).eval()
    x = to_float(_images(8, c, h), None)
    cfg = LearnerConfig(amp="bf16")
    with torch.no_grad():
        ref = net(x)
        with engine.autocast(cfg, x.device):
            low = net(x)
    assert low.dtype == torch.bfloat16  # autocast really ran in bf16
    rel = (low.float() - ref).norm() / ref.norm()
    assert float(rel) < 0.05


def test_bf16_training_gives_finite_decreasing_loss() -> None:
    x = _images(64, 1, 12)
    y = torch.arange(64) % 4
    x[y == 1] //= 4  # make the classes separable by brightness
    x[y == 2] = 255 - x[y == 2] // 4
    net = _net("small_cnn", 1, 12, 4)
    cfg = LearnerConfig(amp="bf16", epochs=6, lr=0.05, batch_size=16, progress=False)
    logs = engine.train(
        net,
        tensor_reader(x, y),
        cfg=cfg,
        prepare=lambda xb, part=None: to_float(xb, None),
        loss_fn=lambda b: torch.nn.functional.cross_entropy(b.logits.float(), b.labels),
        generator=torch.Generator().manual_seed(0),
    ).logs
    losses = [log.loss for log in logs]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]


@pytest.mark.parametrize(("backbone", "c", "h"), [("small_cnn", 1, 28), ("resnet32", 3, 16)])
def test_channels_last_matches_contiguous(backbone: str, c: int, h: int) -> None:
    x = to_float(_images(8, c, h), None)
    y = torch.arange(8) % 6
    results = []
    for cl in (False, True):
        net = _net(backbone, c, h)
        xin = x
        if cl:
            net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            xin = x.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        for _ in range(2):  # two training steps, then the outputs
            loss = torch.nn.functional.cross_entropy(net(xin), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            results.append(net.eval()(xin))
    # two SGD steps amplify the layouts' different rounding: on an AMD EPYC (AVX-512, no AMX)
    # ResNet-32 outputs differed by 3.5e-4 after them, so the bound is 1e-3, not 1e-4
    torch.testing.assert_close(results[1], results[0], rtol=1e-3, atol=1e-3)


def test_learner_channels_last_gives_same_predictions_as_contiguous() -> None:
    """The whole learner (augmentation, distillation, herding, NME) in either layout."""
    x = _images(80, 1, 12, seed=2)
    y = torch.arange(80) % 4
    x[y % 2 == 1] //= 3
    preds = []
    for cl in (False, True):
        learner = ICaRL(
            backbone="small_cnn", memory_size=20, epochs=2, batch_size=16, lr=0.1,
            channels_last=cl, device="cpu", progress=False, amp="off",
        )  # fmt: skip
        learner.partial_fit(x[y < 2], y[y < 2]).partial_fit(x[y >= 2], y[y >= 2])
        preds.append((learner.predict(x), learner.features(x[:10])))
    assert torch.equal(preds[0][0], preds[1][0]) or (preds[0][0] == preds[1][0]).float().mean() > 0.95
    torch.testing.assert_close(preds[1][1], preds[0][1], rtol=1e-3, atol=1e-3)


@pytest.mark.slow
def test_compile_option_trains_like_eager() -> None:
    """``learner.compile=true`` runs the same maths (inductor on CPU needs a C++ compiler)."""
    x = _images(32, 1, 12)
    y = torch.arange(32) % 4
    losses = []
    for comp in (False, True):
        net = _net("small_cnn", 1, 12, 4)
        cfg = LearnerConfig(compile=comp, epochs=2, lr=0.05, batch_size=16, progress=False)
        logs = engine.train(
            net, tensor_reader(x, y), cfg=cfg, prepare=lambda xb, part=None: to_float(xb, None),
            loss_fn=lambda b: torch.nn.functional.cross_entropy(b.logits, b.labels),
            generator=torch.Generator().manual_seed(0),
        ).logs  # fmt: skip
        losses.append([log.loss for log in logs])
    torch.testing.assert_close(torch.tensor(losses[1]), torch.tensor(losses[0]), rtol=1e-3, atol=1e-4)
