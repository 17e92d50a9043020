"""Data in the forms the field's tools hand it over (issue 25): datasets of ``(x, y, t)``,
string labels in a Dataset, a DataLoader, images normalised by a declared or a found
``Normalize``; and the whole protocol run on a user's datasets. Every form must learn:
each test asserts an accuracy well above chance (4 classes of digits: chance 0.25), and
where an equivalent plain form exists, the very same predictions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from icarl import ICaRL
from icarl.algorithm.inputs import check_images
from icarl.config import ConfigError, load_config
from icarl.data import from_torch
from icarl.data.source import load_batches
from icarl.data.user import UserSource, find_normalisation
from icarl.errors import IcarlError
from icarl.experiment import runner

OPTS = {"backbone": "mlp", "memory_size": 40, "epochs": 3, "device": "cpu", "progress": False}
OPTS |= {"flip": False, "crop_pad": 1, "workers": 0}
CLASSES = ((0, 1), (2, 3))
ABOVE_CHANCE = 0.6  # 4 classes: chance is 0.25; these learners reach 0.8-0.9
MEAN, STD = (0.1, 0.3, 0.5), (0.3, 0.25, 0.2)
WORDS = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


def part(split, classes):
    keep = torch.isin(split.y, torch.tensor(classes))
    return split.x[keep], split.y[keep]


def rgb(x: torch.Tensor) -> torch.Tensor:
    """Digits (N, 1, 8, 8) as three channels, each its own brightness (per-channel maths shows)."""
    return torch.cat([x, x // 2, 255 - x], dim=1)


def normalised(x: torch.Tensor) -> torch.Tensor:
    """uint8 NCHW -> what ToTensor then Normalize(MEAN, STD) make, float32."""
    m, s = torch.tensor(MEAN).view(1, -1, 1, 1), torch.tensor(STD).view(1, -1, 1, 1)
    return ((x.float() / 255.0) - m) / s


class Items(torch.utils.data.Dataset):
    """(image, label) or (image, label, task) items; labels ints or names; optional targets."""

    def __init__(self, images, labels, *, task=None, targets=False, transform=None) -> None:
        self.images, self.labels, self.task = images, list(labels), task
        self.transform = transform
        if targets:
            self.targets = self.labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        image = self.images[i] if self.transform is None else self.transform(self.images[i])
        if self.task is None:
            return image, self.labels[i]
        return image, self.labels[i], self.task[i]


class ToTensor:
    def __call__(self, hwc: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(hwc).permute(2, 0, 1).float() / 255.0


class Normalize:
    """torchvision's Normalize, as far as icarl looks: its class name, ``mean`` and ``std``."""

    def __init__(self, mean, std) -> None:
        self.mean, self.std = list(mean), list(std)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return (t - torch.tensor(self.mean).view(-1, 1, 1)) / torch.tensor(self.std).view(-1, 1, 1)


class Compose:
    def __init__(self, transforms) -> None:
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


def two_steps(learner: ICaRL, make, digits) -> ICaRL:
    """``learner`` taught the two steps of CLASSES, each given as ``make(x, y)``."""
    for classes in CLASSES:
        learner.partial_fit(*make(*part(digits.train, classes)))
    return learner


@pytest.fixture(scope="module")
def plain(digits):
    """The reference: the same data as uint8 tensors."""
    return two_steps(ICaRL(**OPTS), lambda x, y: (x, y), digits)


def test_items_x_y_t_learn_as_plain_tensors_and_the_task_label_is_ignored(plain, digits) -> None:
    rng = np.random.default_rng(0)

    def xyt(x, y):  # a random task label per item: it must change nothing
        return (Items(list(x), y.tolist(), task=rng.integers(0, 9, len(y)).tolist()),)

    learner = two_steps(ICaRL(**OPTS), xyt, digits)
    x, y = part(digits.test, (0, 1, 2, 3))
    test = Items(list(x), y.tolist(), task=[7] * len(y))
    assert torch.equal(learner.predict(test), plain.predict(x))
    assert learner.score(test) == plain.score(x, y) > ABOVE_CHANCE


@pytest.mark.parametrize("targets", [False, True], ids=["labels-read-from-items", "targets"])
def test_string_labels_in_a_dataset_become_class_names(plain, targets, digits) -> None:
    def named(x, y):
        return (Items(list(x), WORDS[y.numpy()].tolist(), task=[0] * len(y), targets=targets),)

    learner = two_steps(ICaRL(**OPTS), named, digits)
    assert learner.label_kind_ == "str" and sorted(learner.class_names_.values()) == [
        "one",
        "three",
        "two",
        "zero",
    ]
    x, y = part(digits.test, (0, 1, 2, 3))
    pred = learner.predict(x)
    assert pred.dtype.kind == "U" and np.mean(pred == WORDS[y.numpy()]) > ABOVE_CHANCE
    assert learner.score(Items(list(x), WORDS[y.numpy()].tolist())) == pytest.approx(
        float(np.mean(pred == WORDS[y.numpy()]))
    )
    # names sort the same way as in arrays: the same learner as one taught with arrays of names
    arrays = two_steps(ICaRL(**OPTS), lambda x, y: (x, WORDS[y.numpy()]), digits)
    assert np.array_equal(arrays.predict(x), pred)
    with pytest.raises(IcarlError, match="classes the learner has not seen: \\['eight'\\]"):
        learner.score(Items(list(x[:2]), ["eight", "zero"]))
    with pytest.raises(IcarlError, match="taught class names as labels"):
        learner.partial_fit(Items(list(x[:4]), [7, 7, 8, 8]))


def test_a_dataloader_is_read_through_its_dataset_with_one_note(plain, capsys, digits) -> None:
    def loader(x, y):
        return (DataLoader(Items(list(x), y.tolist(), task=[1] * len(y)), batch_size=7, shuffle=True),)

    learner = two_steps(ICaRL(**OPTS), loader, digits)
    notes = [ln for ln in capsys.readouterr().err.splitlines() if "DataLoader" in ln]
    assert len(notes) == 2 and all("reads the loader's .dataset (Items)" in n for n in notes)
    x, y = part(digits.test, (0, 1, 2, 3))
    assert torch.equal(learner.predict(x), plain.predict(x))  # batch size and shuffle not used
    assert learner.score(DataLoader(Items(list(x), y.tolist()))) > ABOVE_CHANCE


def test_normalised_float_arrays_with_a_declared_mean_and_std(digits) -> None:
    x, y = part(digits.train, (0, 1))
    nhwc = normalised(rgb(x)).permute(0, 2, 3, 1).numpy()  # what a Normalize pipeline gives, NHWC
    assert torch.equal(check_images(nhwc, None, (MEAN, STD)), rgb(x))  # the same pixels exactly
    declared = {**OPTS, "input_mean": MEAN, "input_std": STD}
    learner = two_steps(ICaRL(**declared), lambda x, y: (normalised(rgb(x)).numpy(), y), digits)
    reference = two_steps(ICaRL(**OPTS), lambda x, y: (rgb(x), y), digits)
    test_x, test_y = part(digits.test, (0, 1, 2, 3))
    floats = normalised(rgb(test_x))
    assert torch.equal(learner.predict(floats), reference.predict(rgb(test_x)))
    assert learner.score(floats, test_y) > ABOVE_CHANCE
    with pytest.raises(IcarlError, match=r"declare the normalisation .*input_mean=\.\.\., input_std"):
        ICaRL(**OPTS).partial_fit(nhwc, y)  # floats outside [0, 1], nothing declared
    with pytest.raises(IcarlError, match=r"outside \[0, 1\]; declare the normalisation the images were made"):
        ICaRL(**{**OPTS, "input_mean": 0.5, "input_std": 1.0}).partial_fit(nhwc, y)
    with pytest.raises(ConfigError, match=r"input_mean and learner\.input_std go together"):
        ICaRL(**OPTS, input_mean=MEAN)
    with pytest.raises(ConfigError, match=r"input_std is .*each above 0"):
        ICaRL(**OPTS, input_mean=MEAN, input_std=(0.2, 0.0, 0.1))


def test_a_normalize_transform_found_on_the_dataset(digits) -> None:
    transform = Compose([ToTensor(), Normalize(MEAN, STD)])

    def hwc_items(x, y):
        return (Items(list(rgb(x).permute(0, 2, 3, 1).numpy()), y.tolist(), transform=transform),)

    source = UserSource(hwc_items(*part(digits.train, (0, 1)))[0])
    assert source.normalisation == (MEAN, STD)
    (images, _), *_ = load_batches(source, [torch.arange(len(source))])
    assert torch.equal(images, rgb(part(digits.train, (0, 1))[0]))  # the pixels exactly
    learner = two_steps(ICaRL(**OPTS), hwc_items, digits)
    test = hwc_items(*part(digits.test, (0, 1, 2, 3)))[0]
    assert learner.score(test) > ABOVE_CHANCE
    # ToTensor alone: floats in [0, 1], no normalisation found
    assert find_normalisation(Items([], [], transform=Compose([ToTensor()]))) is None
    twice = Items([], [], transform=Compose([Normalize(MEAN, STD), Compose([Normalize((0.5,), (0.5,))])]))
    with pytest.raises(IcarlError, match="2 different Normalize transforms"):
        find_normalisation(twice)


def test_the_protocol_runs_on_a_users_datasets(digits, capsys) -> None:
    """``icarl.experiment.run`` (what ``icarl run`` calls) on two user datasets of ``(x, y, t)``
    with string labels, through :func:`icarl.data.from_torch`."""
    train_x, train_y = part(digits.train, (0, 1, 2, 3))
    test_x, test_y = part(digits.test, (0, 1, 2, 3))
    train = Items(list(train_x), WORDS[train_y.numpy()].tolist(), task=[0] * len(train_y))
    test = DataLoader(Items(list(test_x), WORDS[test_y.numpy()].tolist(), task=[0] * len(test_y)))
    data = from_torch(train, test, name="mine")
    assert "from_torch was given a DataLoader" in capsys.readouterr().err
    assert data.class_names == ("one", "three", "two", "zero")  # sorted over both splits
    cfg = load_config("digits", [{"data": {"classes_per_step": 2}, "learner": {**OPTS, "backbone": "mlp"}}])
    results = runner.run(replace(cfg, method="icarl"), None, data=data)
    assert [len(s["classes"]) for s in results["steps"]] == [2, 2]
    assert results["final_accuracy"]["nme"] > ABOVE_CHANCE
    assert sorted(results["class_names"]) == ["one", "three", "two", "zero"]
    with pytest.raises(IcarlError, match="one split has string labels and the other integers"):
        from_torch(train, Items(list(test_x), test_y.tolist()))
