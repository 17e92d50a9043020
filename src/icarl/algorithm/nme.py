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
    # DEVIATION: the authors' Theano (CIFAR) code averages flipped copies; their TensorFlow
    # (ImageNet) code does not. Ours follows learner.flip on every dataset (docs/paper.md).

    def per_class_mean(f: Tensor) -> Tensor:
        f = l2_normalize(f.float())
        sums = torch.zeros(num_classes, f.shape[1], dtype=f.dtype, device=f.device)
        sums.index_add_(0, labels, f)
        counts = torch.bincount(labels, minlength=num_classes).clamp_min(1)
        return sums / counts[:, None].to(f.dtype)

    mu = per_class_mean(features)
    if flipped_features is not None:
        mu = (mu + per_class_mean(flipped_features)) / 2
    return l2_normalize(mu)


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
