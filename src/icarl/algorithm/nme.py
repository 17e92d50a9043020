"""Nearest-mean-of-exemplars classification (paper Algorithm 1), pure tensor functions.

Algorithm 1 itself, ``y* = argmin_y ||phi(x) - mu_y||``, is the argmax of the learner's
scores ``-nme_distances(phi(x), mu)`` (:meth:`icarl.algorithm.learner.ICaRL.scores`):
``mu`` holds the seen classes only, so unseen classes never take part in the argmin.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


def l2_normalize(x: Tensor, eps: float = 1e-12) -> Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


def class_means(
    features: Tensor,
    labels: Tensor,
    num_classes: int,
    flipped_features: Tensor | None = None,
) -> Tensor:
    """``mu_y``: mean of L2-normalised features per class, re-normalised.

    With ``flipped_features`` (features of the horizontally flipped images, same
    order), the mean of each is taken and the two averaged before re-normalising,
    as in the authors' code. Classes without items get a zero row.
    """
    sums = ClassSums(num_classes, features.shape[1], flipped_features is not None)
    sums.add(features, labels, flipped_features)
    return sums.means()


class ClassSums:
    """Per-class sums of L2-normalised features (and of the flipped images' features), added
    chunk by chunk, so that class means over data too large to hold all the features at once
    (iNCM's true means) need one chunk at a time. The sums run in item order, so any chunking
    gives the numbers :func:`class_means` gives for all the features at once."""

    def __init__(self, num_classes: int, dim: int, flipped: bool = False) -> None:
        self.num_classes = num_classes
        self.sums = [torch.zeros(num_classes, dim) for _ in range(2 if flipped else 1)]
        self.counts = torch.zeros(num_classes, dtype=torch.long)

    def add(self, features: Tensor, labels: Tensor, flipped_features: Tensor | None = None) -> None:
        parts = [features] if flipped_features is None else [features, flipped_features]
        for total, f in zip(self.sums, parts, strict=True):
            f = l2_normalize(f.float())
            total.index_add_(0, labels.to(f.device), f.to(total.device))
        self.counts += torch.bincount(labels.cpu(), minlength=self.num_classes)

    def means(self) -> Tensor:
        # DEVIATION: the authors' Theano (CIFAR) code averages flipped copies; their TensorFlow
        # (ImageNet) code does not. Ours follows learner.flip on every dataset (docs/paper.md).
        counts = self.counts.clamp_min(1)[:, None]
        mu = [total / counts.to(total.dtype) for total in self.sums]
        return l2_normalize(mu[0] if len(mu) == 1 else (mu[0] + mu[1]) / 2)


def nme_distances(features: Tensor, means: Tensor) -> Tensor:
    """Squared distances (n, c) between normalised ``features`` and class ``means``."""
    f = l2_normalize(features.float())
    # ||f - mu||^2 = ||f||^2 + ||mu||^2 - 2 f.mu, as one matrix product
    return (f * f).sum(1, keepdim=True) + (means * means).sum(1)[None] - 2.0 * f @ means.T


def cosine_scores(features: Tensor, means: Tensor) -> Tensor:
    """``(n, c)`` cosine similarity of each feature vector to each (normalised) class mean:
    ``1 - ||f/|f| - mu||^2 / 2``, in [-1, 1], higher is nearer. The NME score icarl reports
    everywhere (``decision_function``, ``icarl predict``, exported programs); its argmax is
    Algorithm 1's argmin of the distance."""
    return 1.0 - nme_distances(features, means) / 2.0


class NearestMeanClassifier:
    """Algorithm 1 on features you already have: a scikit-learn-style estimator.

    >>> clf = NearestMeanClassifier().fit(train_features, train_labels)   # mu_y per class
    >>> clf.predict(test_features)                                        # nearest mean
    >>> clf.decision_function(test_features)                              # cosine to each mean

    ``fit`` computes each class's mean of L2-normalised features, re-normalised (the
    paper's ``mu_y``; with ``flipped``, features of the flipped images averaged in, as the
    authors' code does). Labels may be any hashable values (ints, strings); ``classes_``
    keeps them in first-seen order and ``predict`` returns them as a numpy array.
    ``partial_fit`` adds classes (or recomputes the means of the classes it is given).
    """

    def __init__(self) -> None:
        self.classes_: list[Any] = []
        self.means_: Tensor | None = None

    def fit(self, features: Any, y: Any, flipped: Any = None) -> NearestMeanClassifier:
        self.classes_, self.means_ = [], None
        return self.partial_fit(features, y, flipped)

    def partial_fit(self, features: Any, y: Any, flipped: Any = None) -> NearestMeanClassifier:
        f = torch.as_tensor(np.asarray(features), dtype=torch.float32)
        labels = list(np.asarray(y).tolist())
        if f.ndim != 2 or len(labels) != f.shape[0] or not labels:
            raise ValueError(f"features must be (n, d) with n labels; got {tuple(f.shape)} and {len(labels)}")
        for c in labels:
            if c not in self.classes_:
                self.classes_.append(c)
        index = {c: i for i, c in enumerate(self.classes_)}
        idx = torch.tensor([index[c] for c in labels])
        fl = None if flipped is None else torch.as_tensor(np.asarray(flipped), dtype=torch.float32)
        new = class_means(f, idx, len(self.classes_), fl)
        given = torch.unique(idx)
        means = torch.zeros(len(self.classes_), f.shape[1])
        if self.means_ is not None:
            means[: self.means_.shape[0]] = self.means_
        means[given] = new[given]
        self.means_ = means
        return self

    def decision_function(self, features: Any) -> np.ndarray:
        """``(n, c)`` cosine similarities to the class means (columns in ``classes_`` order)."""
        if self.means_ is None:
            raise ValueError("this classifier has no class means yet; call fit(features, y) first")
        f = torch.as_tensor(np.asarray(features), dtype=torch.float32)
        return cosine_scores(f, self.means_).numpy()

    def predict(self, features: Any) -> np.ndarray:
        """The label of the nearest class mean of each row (Algorithm 1)."""
        best = self.decision_function(features).argmax(1)
        return np.asarray(self.classes_, dtype=object if isinstance(self.classes_[0], str) else None)[best]

    def score(self, features: Any, y: Any) -> float:
        return float((self.predict(features) == np.asarray(y)).mean())
