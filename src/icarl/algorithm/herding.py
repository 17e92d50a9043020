"""Exemplar selection (paper Algorithms 4 and 5) as pure tensor functions.

``herding_order`` is Algorithm 4: it returns an ORDERED list of exactly ``m``
distinct indices. Algorithm 5 (ReduceExemplarSet) is then a truncation of that list:
:meth:`icarl.algorithm.memory.ExemplarMemory.reduce`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from .nme import l2_normalize


def herding_order(features: Tensor, m: int) -> Tensor:
    """Algorithm 4 (ConstructExemplarSet): greedy herding towards the class mean.

    ``features``: (n, d) features of one class (normalised here, as in the paper).
    Step ``k`` picks ``argmin_x || mu - (phi(x) + sum_{j<k} phi(p_j)) / k ||`` over
    items not yet picked. Returns ``m`` distinct indices in selection order.

    Vectorised: the squared distance expands to
    ``||mu||^2 - 2/k mu.(phi_x + S) + (||phi_x||^2 + 2 phi_x.S + ||S||^2) / k^2``,
    so each step costs one matrix-vector product to update ``phi_x.S``. There is
    no iteration cap: every call returns exactly ``m`` items for ``m <= n``.
    """
    # DEVIATION: an item once picked is excluded here. The authors' loop (``w_t = w_t + mu -
    # phi(x)``, the same argmax for normalised features) may pick an item again: a repeat is
    # not stored but moves ``w_t`` (it adds to the running sum), and the loop stops at an
    # iteration cap (1000 in Theano, 1.1 m in TensorFlow), so a class can get fewer than m
    # exemplars there. Paper Algorithm 4 takes the argmin over the class, picked items included.
    n = features.shape[0]
    if not 0 <= m <= n:
        raise ValueError(f"herding asked for m={m} exemplars from a class of {n} items")
    phi = l2_normalize(features.double())
    mu = phi.mean(0)
    mu_phi = phi @ mu  # (n,)
    sq = (phi * phi).sum(1)  # (n,)
    phi_s = torch.zeros(n, dtype=phi.dtype, device=phi.device)  # phi_x . S
    s = torch.zeros_like(mu)  # S = sum of chosen features
    taken = torch.zeros(n, dtype=torch.bool, device=phi.device)
    chosen = torch.empty(m, dtype=torch.long, device=phi.device)
    for k in range(1, m + 1):
        # terms constant over x (||mu||^2, -2/k mu.S, ||S||^2/k^2) do not change the argmin
        dist = -2.0 / k * mu_phi + (sq + 2.0 * phi_s) / (k * k)
        dist = dist.masked_fill(taken, float("inf"))
        i = int(torch.argmin(dist))
        chosen[k - 1] = i
        taken[i] = True
        s += phi[i]
        phi_s += phi @ phi[i]
    return chosen


HERDING_CAP = 1000  # the authors' Theano loop stops after this many iterations


def herding_order_authors(features: Tensor, m: int, cap: int = HERDING_CAP) -> Tensor:
    """The authors' Theano herding loop (``learner.selection = "herding-authors"``).

    ``w`` starts at the class mean ``mu`` of the normalised features; each iteration takes
    ``i = argmax_x w . phi(x)`` over ALL items, records ``i`` if it was not picked before, and
    moves ``w = w + mu - phi(i)``. It stops at ``m`` distinct items or after ``cap``
    iterations, so it may return fewer than ``m``: what ``main_cifar_100_theano.py`` does
    (``alpha_dr_herding``, ``iter_herding_eff < 1000``). With normalised features this argmax
    is Algorithm 4's argmin with picked items allowed again; a repeat stores nothing but
    moves ``w``. Returns the distinct indices in the order first picked.
    """
    n = features.shape[0]
    if not 0 <= m <= n:
        raise ValueError(f"herding asked for m={m} exemplars from a class of {n} items")
    # float32 as the authors' numpy float32 features; the argmax ties of float64 would differ
    phi = l2_normalize(features.float())
    mu = phi.mean(0)
    w = mu.clone()
    taken = torch.zeros(n, dtype=torch.bool)
    chosen: list[int] = []
    for _ in range(cap):
        if len(chosen) == m:
            break
        i = int(torch.argmax(phi @ w))
        if not taken[i]:
            taken[i] = True
            chosen.append(i)
        w = w + mu - phi[i]
    return torch.tensor(chosen, dtype=torch.long)


def herding_order_bruteforce(features: Tensor, m: int) -> Tensor:
    """Algorithm 4 written literally, for tests: O(m n d) Python, no algebra."""
    phi = l2_normalize(features.double())
    mu = phi.mean(0)
    chosen: list[int] = []
    s = torch.zeros_like(mu)
    for k in range(1, m + 1):
        best, best_d = -1, float("inf")
        for x in range(phi.shape[0]):
            if x in chosen:
                continue
            d = float(torch.linalg.vector_norm(mu - (phi[x] + s) / k))
            if d < best_d:
                best, best_d = x, d
        chosen.append(best)
        s = s + phi[best]
    return torch.tensor(chosen, dtype=torch.long)


def random_order(n: int, m: int, generator: torch.Generator | None = None) -> Tensor:
    """Ablation: ``m`` distinct items in random order."""
    return torch.randperm(n, generator=generator)[:m]


def herding(features: Any, m: int, rule: str = "exact") -> np.ndarray:
    """Algorithm 4 on features you already have: the indices of ``m`` exemplars of one class,
    in selection order (keep the first ``k`` of them to shrink the set, Algorithm 5).

    ``features``: (n, d) array or tensor (normalised here). ``rule``: ``"exact"`` (exactly ``m``
    distinct items, :func:`herding_order`) or ``"authors"`` (the authors' loop, which may
    return fewer: :func:`herding_order_authors`). Returns an int64 numpy array.
    """
    f = torch.as_tensor(np.asarray(features), dtype=torch.float32)
    if f.ndim != 2:
        raise ValueError(f"features must be (n, d); got shape {tuple(f.shape)}")
    if rule not in ("exact", "authors"):
        raise ValueError(f"rule is {rule!r}; use 'exact' or 'authors'")
    order = herding_order(f, m) if rule == "exact" else herding_order_authors(f, m)
    return order.numpy().astype(np.int64)
