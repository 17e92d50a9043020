"""Metrics against small hand-computed examples."""

import math

import pytest
import torch

from icarl.experiment import metrics

T = torch.tensor


def test_accuracy_and_group_accuracies():
    y = T([0, 0, 1, 1, 2, 3])
    pred = T([0, 1, 1, 1, 3, 3])
    assert metrics.accuracy(pred, y) == pytest.approx(4 / 6)
    # groups {0,1}: 3 of 4 right; {2,3}: 1 of 2 right; {7}: no items
    row = metrics.group_accuracies(pred, y, [[0, 1], [2, 3], [7]])
    assert row[:2] == pytest.approx([0.75, 0.5])
    assert math.isnan(row[2])
    assert metrics.nan_to_none(row) == [0.75, 0.5, None]


def test_accuracy_matrix_forgetting_bwt():
    rows = [[0.9], [0.6, 0.8], [0.5, 0.7, 0.95]]
    a = metrics.accuracy_matrix(rows)
    assert a.shape == (3, 3)
    assert math.isnan(float(a[0, 1])) and math.isnan(float(a[1, 2]))
    assert float(a[2, 1]) == pytest.approx(0.7)
    # forgetting: group 0 best 0.9 -> 0.5 (0.4); group 1 best 0.8 -> 0.7 (0.1); mean 0.25
    assert metrics.forgetting(a) == pytest.approx(0.25)
    # BWT: (0.5 - 0.9 + 0.7 - 0.8) / 2 = -0.25
    assert metrics.backward_transfer(a) == pytest.approx(-0.25)
    # forgetting takes the best EARLIER accuracy, not the diagonal
    b = metrics.accuracy_matrix([[0.5], [0.9, 0.8], [0.6, 0.8, 0.9]])
    assert metrics.forgetting(b) == pytest.approx(((0.9 - 0.6) + 0.0) / 2)
    assert metrics.backward_transfer(b) == pytest.approx(((0.6 - 0.5) + 0.0) / 2)
    assert math.isnan(metrics.forgetting(metrics.accuracy_matrix([[0.7]])))
    with pytest.raises(ValueError):
        metrics.accuracy_matrix([[0.1, 0.2]])


def test_average_and_final():
    assert metrics.average_incremental_accuracy([1.0, 0.5, 0.6]) == pytest.approx(0.7)
    assert metrics.final_accuracy([1.0, 0.5, 0.6]) == pytest.approx(0.6)
    assert math.isnan(metrics.average_incremental_accuracy([]))


def test_topk():
    scores = T([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05], [0.2, 0.3, 0.5]])
    y = T([2, 0, 0])
    assert metrics.topk_accuracy(scores, y, 1) == pytest.approx(1 / 3)
    assert metrics.topk_accuracy(scores, y, 2) == pytest.approx(2 / 3)
    assert metrics.topk_accuracy(scores, y, 5) == 1.0  # k clipped to the 3 columns


def test_confusion_and_per_class():
    classes = [5, 2, 9]  # arrival order, not sorted
    y = T([5, 5, 2, 9, 9, 9, 4])
    pred = T([5, 2, 2, 9, 5, 9, 5])  # the item of class 4 is outside `classes`: not counted
    cm = metrics.confusion_matrix(pred, y, classes)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert metrics.per_class_accuracy(pred, y, classes) == pytest.approx([0.5, 1.0, 2 / 3])


def test_prediction_share():
    pred = T([0, 1, 8, 9, 9])
    assert metrics.prediction_share(pred, [8, 9]) == pytest.approx(0.6)
    assert metrics.prediction_share(pred, [3]) == 0.0
