"""Nearest-mean-of-exemplars classification (paper Algorithm 1), pure tensor functions.

Algorithm 1 itself, ``y* = argmin_y ||phi(x) - mu_y||``, is the argmax of the learner's
scores ``-nme_distances(phi(x), mu)`` (:meth:`icarl.algorithm.learner.ICaRL.scores`):
``mu`` holds the seen classes only, so unseen classes never take part in the argmin.
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
