"""Herding and the nearest-mean classifier as public functions on the user's own features
(``icarl.herding``, ``icarl.NearestMeanClassifier``): the same maths the learner runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

import icarl
from icarl import ICaRL, NearestMeanClassifier
from icarl.algorithm.herding import herding_order, herding_order_authors


def clusters(n: int = 60, d: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, d)) * 3
    y = np.repeat(np.array(["cat", "dog", "owl"]), n // 3)
    x = centres[np.repeat(np.arange(3), n // 3)] + rng.normal(size=(n, d))
    return x.astype(np.float32), y


def test_herding_on_given_features_is_algorithm_4() -> None:
    x, _ = clusters()
    order = icarl.herding(x[:20], 7)
    assert order.dtype == np.int64 and order.tolist() == herding_order(torch.from_numpy(x[:20]), 7).tolist()
    assert (
        icarl.herding(x, 5, rule="authors").tolist() == herding_order_authors(torch.from_numpy(x), 5).tolist()
    )
    with pytest.raises(ValueError, match="m=30"):
        icarl.herding(x[:20], 30)
    with pytest.raises(ValueError, match="rule is 'greedy'"):
        icarl.herding(x, 3, rule="greedy")


def test_nearest_mean_classifier_fits_predicts_and_adds_classes() -> None:
    both_x, both_y = clusters(120)
    x, y, test_x, test_y = both_x[::2], both_y[::2], both_x[1::2], both_y[1::2]
    clf = NearestMeanClassifier().fit(x[y != "owl"], y[y != "owl"])
    assert clf.classes_.tolist() == ["cat", "dog"]
    clf.partial_fit(x[y == "owl"], y[y == "owl"])  # a new class, later
    assert clf.classes_.tolist() == ["cat", "dog", "owl"]
    pred = clf.predict(test_x)
    assert pred.dtype.kind == "U" and clf.score(test_x, test_y) > 0.9  # chance is 1/3
    s = clf.decision_function(test_x)
    assert s.shape == (60, 3) and np.all(s <= 1 + 1e-6) and np.all(s >= -1 - 1e-6)
    assert (np.asarray(clf.classes_)[s.argmax(1)] == pred).all()
    with pytest.raises(NotFittedError):
        NearestMeanClassifier().predict(test_x)


def test_the_learners_means_are_the_classifiers(digits) -> None:
    x, y = digits.train.x, digits.train.y
    keep = y < 3
    learner = ICaRL(backbone="mlp", epochs=1, memory_size=30, progress=False).partial_fit(x[keep], y[keep])
    ex_x, ex_y = learner.memory_.as_tensors()
    clf = NearestMeanClassifier().fit(learner.features(ex_x), ex_y, flipped=learner.features(ex_x, flip=True))
    order = [clf.classes_.tolist().index(c) for c in learner.classes_.tolist()]
    means = torch.from_numpy(clf.means_[order])
    assert torch.allclose(means, learner.means_[: len(order)].float(), atol=1e-6)
    f = learner.features(digits.test.x[digits.test.y < 3])
    assert (clf.predict(f) == learner.predict(digits.test.x[digits.test.y < 3])).all()
