"""scikit-learn conventions on the learner: get_params / set_params, clone, repr,
predict / score / decision_function on numpy arrays, classes_ as an array."""

import numpy as np
import pytest
import torch
from sklearn.base import clone, is_classifier

from icarl import ICaRL
from icarl.errors import IcarlError
from icarl.nets.small import SmallCNN

FAST = {"backbone": "small_cnn", "memory_size": 40, "epochs": 1, "progress": False, "flip": False}


def flip_none(x):
    return x


@pytest.fixture(scope="module")
def fitted(digits):
    keep = digits.train.y < 3
    x, y = digits.train.x[keep].numpy(), digits.train.y[keep].numpy()
    learner = ICaRL(**FAST, device="cpu").partial_fit(x, y)
    test = digits.test.y < 3
    return learner, digits.test.x[test].numpy(), digits.test.y[test].numpy()


def test_get_params_round_trips_through_the_constructor_and_set_params():
    learner = ICaRL(**FAST, lr=0.5)
    params = learner.get_params(deep=True)
    assert params == learner.get_params(deep=False)
    assert params["lr"] == 0.5 and params["epochs"] == 1 and params["batch_transform"] is None
    assert ICaRL(**params).get_params() == params
    assert learner.set_params(lr=0.1, classifier="cnn") is learner
    assert learner.config.lr == 0.1 and learner.get_params()["classifier"] == "cnn"
    with pytest.raises(IcarlError, match="no parameter 'learning_rate'"):
        learner.set_params(learning_rate=1.0)
    with pytest.raises(IcarlError, match="classifier"):
        learner.set_params(classifier="svm")
    assert learner.config.classifier == "cnn"  # a refused change leaves the learner as it was


def test_clone_gives_an_unfitted_learner_with_equal_params(fitted):
    learner, _, _ = fitted
    copy = clone(learner)
    assert type(copy) is ICaRL and copy is not learner and copy.net_ is None
    assert copy.get_params() == learner.get_params() and len(copy.classes_) == 0
    net = SmallCNN(1)
    with_object = ICaRL(**{**FAST, "backbone": net}, batch_transform=flip_none)
    twin = clone(with_object)
    assert isinstance(twin.get_params()["backbone"], SmallCNN) and twin.get_params()["backbone"] is not net
    assert twin.batch_transform is flip_none and is_classifier(learner)


def test_repr_names_the_changed_parameters_only():
    assert repr(ICaRL()) == "ICaRL()"
    text = repr(ICaRL(**FAST, lr=0.5))
    assert text.startswith("ICaRL(backbone='small_cnn', ") and "lr=0.5" in text and "momentum" not in text
    assert "backbone=SmallCNN()" in repr(ICaRL(backbone=SmallCNN(1)))


def test_predict_score_decision_function_on_numpy(fitted):
    learner, x, y = fitted
    predicted = learner.predict(x)
    assert isinstance(predicted, np.ndarray) and predicted.shape == y.shape and predicted.dtype == np.int64
    assert np.array_equal(learner.predict(torch.from_numpy(x)), predicted)  # one type whatever the input
    accuracy = learner.score(x, y)
    assert accuracy == pytest.approx(float((predicted == y).mean())) and accuracy > 0.5
    assert learner.score(x, list(y)) == accuracy
    scores = learner.decision_function(x)
    assert isinstance(scores, np.ndarray) and scores.shape == (len(x), 3)
    assert (learner.classes_[scores.argmax(1)] == predicted).all()


def test_classes_is_an_int64_array_in_arrival_order(fitted):
    learner, _, _ = fitted
    assert isinstance(learner.classes_, np.ndarray) and learner.classes_.dtype == np.int64
    assert learner.classes_.tolist() == [0, 1, 2] and ICaRL().classes_.shape == (0,)
    assert learner.state_dict()["classes"] == [0, 1, 2]  # plain ints in files, not numpy scalars
    assert all(type(k) is int for k in learner.named_classes())
