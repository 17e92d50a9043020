"""Evaluation metrics as pure functions of label tensors, score tensors and matrices.

Conventions: predictions and labels are 1-d integer tensors of the same length;
``groups`` is the list of class groups of the steps (original labels, arrival
order); an accuracy matrix ``A`` is ``(S, S)`` with ``A[s, j]`` the accuracy,
after step ``s``, on the test images of the classes of step ``j`` (NaN for
``j > s``). Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def accuracy(pred: Tensor, y: Tensor) -> float:
    """Share of ``pred == y``; NaN for no items."""
    if y.numel() == 0:
        return math.nan
    return float((pred.cpu() == y.cpu()).float().mean())


def group_accuracies(pred: Tensor, y: Tensor, groups: Sequence[Sequence[int]]) -> list[float]:
    """Accuracy on the items of each class group (one row of the accuracy matrix)."""
    pred, y = pred.cpu(), y.cpu()
    out = []
    for g in groups:
        mask = torch.isin(y, torch.as_tensor(list(g), dtype=y.dtype))
        out.append(accuracy(pred[mask], y[mask]))
    return out


def accuracy_matrix(rows: Sequence[Sequence[float]]) -> Tensor:
    """Stack the per-step rows (row ``s`` has ``s + 1`` entries) into an ``(S, S)`` matrix, NaN above."""
    n = len(rows)
    a = torch.full((n, n), math.nan, dtype=torch.float64)
    for s, row in enumerate(rows):
        if len(row) != s + 1:
            raise ValueError(f"row {s} of the accuracy matrix has {len(row)} entries; expected {s + 1}")
        a[s, : s + 1] = torch.tensor([math.nan if v is None else v for v in row], dtype=torch.float64)
    return a


def average_incremental_accuracy(accs: Sequence[float]) -> float:
    """Mean over steps of the accuracy on all classes seen so far (the paper's summary)."""
    return float(sum(accs) / len(accs)) if accs else math.nan


def final_accuracy(accs: Sequence[float]) -> float:
    return float(accs[-1]) if accs else math.nan


def forgetting(a: Tensor) -> float:
    """Chaudhry et al. (2018): mean over the groups ``j < S-1`` of the drop from the best
    accuracy on group ``j`` at any earlier step to its accuracy after the last step."""
    n = a.shape[0]
    if n < 2:
        return math.nan
    drops = [float(a[j : n - 1, j].max() - a[n - 1, j]) for j in range(n - 1)]
    return sum(drops) / len(drops)


def backward_transfer(a: Tensor) -> float:
    """Lopez-Paz & Ranzato (2017): mean over ``j < S-1`` of ``A[S-1, j] - A[j, j]``
    (negative: learning later steps hurt earlier ones)."""
    n = a.shape[0]
    if n < 2:
        return math.nan
    return float(sum(float(a[n - 1, j] - a[j, j]) for j in range(n - 1)) / (n - 1))


def topk_accuracy(scores: Tensor, y_index: Tensor, k: int) -> float:
    """Share of items whose true column ``y_index`` is among the ``k`` highest ``scores``
    (``(N, C)``, higher is better; ``k`` is clipped to ``C``)."""
    if y_index.numel() == 0:
        return math.nan
    k = min(k, scores.shape[1])
    top = scores.topk(k, dim=1).indices
    return float((top == y_index[:, None].to(top.device)).any(1).float().mean())


def confusion_matrix(pred: Tensor, y: Tensor, classes: Sequence[int]) -> Tensor:
    """``(C, C)`` counts: row = true class, column = predicted class, both in ``classes`` order.
    Items whose label or prediction is not in ``classes`` are not counted."""
    n = len(classes)
    y, pred = y.cpu().long(), pred.cpu().long()
    size = max([*classes, int(y.max()) if y.numel() else 0, int(pred.max()) if pred.numel() else 0]) + 1
    idx = torch.full((size,), -1, dtype=torch.long)
    idx[torch.as_tensor(list(classes), dtype=torch.long)] = torch.arange(n)
    ti, pi = idx[y.clamp_min(0)], idx[pred.clamp_min(0)]
    ti, pi = ti.masked_fill(y < 0, -1), pi.masked_fill(pred < 0, -1)  # -1: no class (an unseen output)
    ok = (ti >= 0) & (pi >= 0)
    flat = torch.bincount(ti[ok] * n + pi[ok], minlength=n * n)
    return flat.reshape(n, n)


def per_class_accuracy(pred: Tensor, y: Tensor, classes: Sequence[int]) -> list[float]:
    """Accuracy on the items of each class in ``classes`` (NaN for a class without items)."""
    return group_accuracies(pred, y, [[c] for c in classes])


def prediction_share(pred: Tensor, classes: Sequence[int]) -> float:
    """Share of predictions that fall in ``classes`` (the paper's bias measure, Fig. 3)."""
    if pred.numel() == 0:
        return math.nan
    return float(torch.isin(pred.cpu(), torch.as_tensor(list(classes), dtype=pred.dtype)).float().mean())


def nan_to_none(values: Sequence[float]) -> list[float | None]:
    """JSON has no NaN: NaN becomes ``None`` (``null``)."""
    return [None if v is None or math.isnan(v) else float(v) for v in values]
