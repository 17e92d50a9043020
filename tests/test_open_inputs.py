"""Data as users hold it: numpy or torch, uint8 or float in [0, 1], NCHW, NHWC or (N, H, W),
integer or string labels; a batch transform of one's own; each refusal in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from icarl import ICaRL
from icarl.algorithm import preprocess
from icarl.algorithm.inputs import check_images
from icarl.errors import IcarlError

QUICK = {
    "backbone": "small_cnn",
    "memory_size": 40,
    "epochs": 1,
    "device": "cpu",
    "progress": False,
    "flip": False,
    "crop_pad": 1,
    "amp": "off",
}


def small(digits, classes=(0, 1)):
    keep = torch.isin(digits.train.y, torch.tensor(classes))
    return digits.train.x[keep], digits.train.y[keep]


def test_every_image_form_gives_the_same_uint8_batch(digits) -> None:
    x = digits.train.x[:10]  # uint8 (10, 1, 8, 8)
    forms = [
        x.numpy(),
        x.permute(0, 2, 3, 1).numpy(),  # NHWC
        x[:, 0].numpy(),  # (N, H, W) grey
        x.float() / 255.0,  # float NCHW torch
        (x.permute(0, 2, 3, 1).numpy() / 255.0).astype(np.float64),  # float64 NHWC numpy
        x.int(),  # int32 in 0..255
    ]
    for form in forms:
        assert torch.equal(check_images(form), x), type(form)


def test_the_same_training_from_uint8_nchw_and_float_nhwc(digits) -> None:
    x, y = small(digits)
    a = ICaRL(**QUICK).partial_fit(x, y)
    b = ICaRL(**QUICK).partial_fit(x.permute(0, 2, 3, 1).numpy() / 255.0, y.numpy())
    assert np.array_equal(a.predict(digits.test.x), b.predict(digits.test.x.numpy()))  # numpy either way


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((4, 3, 5, 3), np.uint8), "ambiguous: the channel axis could be 1 or 3"),
        (np.zeros((4, 8, 8, 7), np.uint8), "no channel axis of size 1-4"),
        (np.full((4, 1, 8, 8), 1.5, np.float32), "float images range 1.5..1.5; give floats in [0, 1]"),
        (np.full((4, 1, 8, 8), np.nan, np.float32), "NaN or infinite"),
        (np.full((4, 1, 8, 8), 300, np.int64), "integer images range 300..300"),
        (np.zeros((4, 8), np.uint8), "images must be shaped (N, C, H, W), (N, H, W, C) or (N, H, W)"),
        (np.array([["a"] * 8] * 4), "images have dtype <U1"),
    ],
)
def test_bad_images_are_one_line_errors(images, message) -> None:
    with pytest.raises(IcarlError, match=f"^{message[:20]}|{message}") as info:
        ICaRL(**QUICK).partial_fit(images, [0, 0, 1, 1])
    assert message in str(info.value) and "\n" not in str(info.value)


def test_string_labels_become_class_names_and_predict_returns_names(digits) -> None:
    x, y = small(digits, (0, 1, 2, 3))
    words = np.array(["zero", "one", "two", "three"])[y.numpy()]
    first = y.numpy() < 2
    learner = ICaRL(**QUICK).partial_fit(x[first], list(words[first]))  # a list of str works too
    learner.partial_fit(x[~first], words[~first])
    assert learner.named_classes() == {0: "one", 1: "zero", 2: "three", 3: "two"}  # new names, sorted
    pred = learner.predict(x)
    assert isinstance(pred, np.ndarray) and set(pred) <= {"zero", "one", "two", "three"}
    assert learner.score(x, words) == pytest.approx(float(np.mean(pred == words)))
    with pytest.raises(IcarlError, match="classes the learner has not seen: \\['seven'\\]"):
        learner.score(x[:2], ["seven", "zero"])
    with pytest.raises(IcarlError, match="taught class names as labels; give names"):
        learner.partial_fit(x[:4], [7, 7, 8, 8])
    with pytest.raises(IcarlError, match="were learned in an earlier step"):
        learner.partial_fit(x[:2], ["zero", "zero"])


def test_string_labels_survive_save_and_load(tmp_path, digits) -> None:
    from icarl import load

    x, y = small(digits)
    words = np.array(["cat", "dog"])[y.numpy()]
    learner = ICaRL(**QUICK).partial_fit(x, words)
    back = load(learner.save(tmp_path / "m.icarl"))
    assert back.label_kind_ == "str" and np.array_equal(back.predict(x), learner.predict(x))


def test_batch_transform_after_builtin_augmentation(digits) -> None:
    x, y = small(digits)
    seen: list[tuple[tuple[int, ...], float, float]] = []

    def invert(batch: torch.Tensor) -> torch.Tensor:
        seen.append((tuple(batch.shape), float(batch.min()), float(batch.max())))
        return 1.0 - batch

    learner = ICaRL(**QUICK, batch_size=32, batch_transform=invert).partial_fit(x, y)
    assert seen and all(s[0][1:] == (1, 8, 8) and 0.0 <= s[1] <= s[2] <= 1.0 for s in seen)
    plain = ICaRL(**QUICK, batch_size=32).partial_fit(x, y)
    assert not torch.equal(learner.net_.head.weight, plain.net_.head.weight)  # type: ignore[union-attr]


def test_batch_transform_instead_of_builtin_augmentation(digits, monkeypatch) -> None:
    x, y = small(digits)

    def no_builtin(*args, **kwargs):
        raise AssertionError("the built-in crop/flip ran although augment='user'")

    monkeypatch.setattr(preprocess, "random_crop_flip", no_builtin)
    ICaRL(**QUICK, augment="user", batch_transform=lambda b: b.flip(3)).partial_fit(x, y)
    with pytest.raises(IcarlError, match="pass batch_transform=fn"):
        ICaRL(**QUICK, augment="user")
    with pytest.raises(IcarlError, match=r"batch_transform returned .* it must return a float batch"):
        ICaRL(**QUICK, augment="user", batch_transform=lambda b: b[:, :, :4]).partial_fit(x, y)
