"""Nearest-mean-of-exemplars classification (paper Algorithm 1), pure tensor functions.

Algorithm 1 itself, ``y* = argmin_y ||phi(x) - mu_y||``, is the argmax of the learner's
scores ``cosine_scores(phi(x), mu)`` (:meth:`icarl.algorithm.learner.ICaRL.scores`):
``mu`` holds the seen classes only, so unseen classes never take part in the argmin. The
estimator on features you hold: :class:`icarl.algorithm.nearest_mean.NearestMeanClassifier`.
"""

from __future__ import annotations

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
