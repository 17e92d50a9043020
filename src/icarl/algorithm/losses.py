"""Losses, each named for its equation. Pure functions of logits and targets."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def icarl_targets(labels: Tensor, num_outputs: int, old_logits: Tensor | None) -> Tensor:
    """Algorithm 3's targets: one-hot for every output, then the previous network's
    sigmoid outputs ``q_i^y`` replace the targets of the ``n_old`` old classes."""
    targets = F.one_hot(labels, num_outputs).to(torch.float32)
    if old_logits is not None and old_logits.shape[1] > 0:
        n_old = old_logits.shape[1]
        targets[:, :n_old] = torch.sigmoid(old_logits.float())
    return targets


def icarl_bce(logits: Tensor, labels: Tensor, old_logits: Tensor | None = None) -> Tensor:
    """Paper (Alg. 3): sigmoid binary cross-entropy over ALL outputs, mean over batch×outputs.

    DEVIATION: "all outputs" are those the head has: with ``head_size = 100`` the classes not
    seen yet too (target 0), as in the authors' code; Algorithm 3's sum runs over the ``t``
    classes seen so far (``head_size = 0`` grows the head, which gives exactly that).

    ``old_logits`` (B, n_old): the frozen previous network on the same batch; their
    sigmoids are the targets of the first ``n_old`` outputs (distillation). Without
    them this is plain multi-label BCE with one-hot targets (finetuning, hybrid2/3).
    """
    targets = icarl_targets(labels, logits.shape[1], old_logits)
    return F.binary_cross_entropy_with_logits(logits.float(), targets)


def kd_softmax(
    logits: Tensor,
    labels: Tensor,
    old_logits: Tensor | None = None,
    *,
    temperature: float = 2.0,
    ce_weight: float = 1.0,
) -> Tensor:
    """Hinton et al.: ``L = T^2 KL(softmax(z_old/T) || softmax(z[:n_old]/T)) + lambda CE(z, y)``.

    The cross-entropy is over the outputs given; the distillation term over the
    old classes only, scaled by ``T^2`` so its gradients keep their size as T grows.
    """
    ce = F.cross_entropy(logits.float(), labels)
    if old_logits is None or old_logits.shape[1] == 0:
        return ce_weight * ce
    n_old = old_logits.shape[1]
    t = temperature
    log_p = F.log_softmax(logits[:, :n_old].float() / t, dim=1)
    q = F.softmax(old_logits.float() / t, dim=1)
    kd = F.kl_div(log_p, q, reduction="batchmean") * (t * t)
    return kd + ce_weight * ce
