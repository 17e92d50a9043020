"""Pure tensor functions against brute-force references (herding, NME, losses)."""

import math

import pytest
import torch
import torch.nn.functional as F

from icarl import ICaRL
from icarl.algorithm.herding import herding_order, herding_order_bruteforce
from icarl.algorithm.losses import icarl_bce, kd_softmax
from icarl.algorithm.memory import ExemplarMemory
from icarl.algorithm.nme import class_means, l2_normalize
from icarl.nets import IncrementalNet, create_backbone


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_herding_equals_bruteforce_algorithm4(seed):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(40, 8, generator=g)
    assert herding_order(feats, 40).tolist() == herding_order_bruteforce(feats, 40).tolist()


def test_herding_returns_exactly_m_distinct_for_every_m():
    feats = torch.randn(25, 5, generator=torch.Generator().manual_seed(7))
    for m in range(1, 26):
        order = herding_order(feats, m)
        assert order.shape == (m,)
        assert len(set(order.tolist())) == m
        assert int(order.min()) >= 0 and int(order.max()) < 25


def test_herding_with_duplicate_items_still_returns_distinct_indices():
    # identical rows: a herding loop without exclusion would pick the same item again
    feats = torch.ones(10, 4)
    order = herding_order(feats, 10)
    assert sorted(order.tolist()) == list(range(10))


def test_herding_first_pick_is_closest_to_mean():
    feats = torch.randn(30, 6, generator=torch.Generator().manual_seed(3))
    phi = l2_normalize(feats.double())
    mu = phi.mean(0)
    expected = int(torch.linalg.vector_norm(phi - mu, dim=1).argmin())
    assert int(herding_order(feats, 1)[0]) == expected


def test_herding_rejects_m_larger_than_class():
    with pytest.raises(ValueError, match="m=6"):
        herding_order(torch.randn(5, 3), 6)


def test_reduce_keeps_a_prefix_and_herding_is_prefix_stable():
    feats = torch.randn(50, 16, generator=torch.Generator().manual_seed(11))
    full = herding_order(feats, 20)
    images = torch.arange(50, dtype=torch.uint8).view(50, 1, 1, 1)
    for m in (1, 5, 13, 20):
        memory = ExemplarMemory()
        memory.add(0, images[full])
        memory.reduce(m)  # Algorithm 5
        assert memory.sets[0].flatten().tolist() == full[:m].tolist()
        # Algorithm 5 after Algorithm 4 equals Algorithm 4 run with the smaller m
        assert herding_order(feats, m).tolist() == full[:m].tolist()


def _nme_bruteforce(features, means, seen):
    out = []
    for f in l2_normalize(features):
        best, best_d = -1, math.inf
        for y in seen:
            d = float(torch.linalg.vector_norm(f - means[y]))
            if d < best_d:
                best, best_d = y, d
        out.append(best)
    return out


def test_nme_equals_bruteforce_over_seen_classes_only():
    g = torch.Generator().manual_seed(5)
    means = l2_normalize(torch.randn(6, 4, generator=g))
    features = torch.randn(100, 4, generator=g)
    seen = [0, 2, 3]
    # the learner's Algorithm 1: its means_ hold the seen classes only, in classes_ order
    learner = ICaRL(backbone="mlp", memory_size=10, device="cpu", progress=False)
    learner.net_ = IncrementalNet(create_backbone("mlp", 1, 2), 3)
    learner.classes_, learner.means_ = [10, 12, 13], means[seen]
    pred = learner.labels_of(learner.scores(features, "nme"))
    assert pred.tolist() == [10 + y for y in _nme_bruteforce(features, means, seen)]
    # an unseen class whose mean equals the feature exactly is still never predicted
    feats = means[1:2].repeat(3, 1)
    assert 11 not in learner.labels_of(learner.scores(feats, "nme")).tolist()


def test_class_means_are_normalised_means_of_normalised_features_flip_averaged():
    g = torch.Generator().manual_seed(9)
    f = torch.randn(12, 3, generator=g)
    ff = torch.randn(12, 3, generator=g)
    y = torch.tensor([0] * 5 + [2] * 7)
    mu = class_means(f, y, 3, ff)
    for c in (0, 2):
        a = l2_normalize(f[y == c]).mean(0)
        b = l2_normalize(ff[y == c]).mean(0)
        ref = (a + b) / 2
        assert torch.allclose(mu[c], ref / ref.norm(), atol=1e-6)
    assert torch.allclose(mu[1], torch.zeros(3))
    plain = class_means(f, y, 3)
    ref0 = l2_normalize(f[y == 0]).mean(0)
    assert torch.allclose(plain[0], ref0 / ref0.norm(), atol=1e-6)


def test_icarl_bce_equals_elementwise_formula():
    logits = torch.tensor([[0.5, -1.0, 2.0, 0.1], [-0.3, 0.8, -2.0, 1.5]])
    labels = torch.tensor([2, 3])
    old = torch.tensor([[1.0, -2.0], [0.0, 3.0]])  # previous network on the 2 old classes
    targets = [
        [torch.sigmoid(old[0, 0]), torch.sigmoid(old[0, 1]), 1.0, 0.0],
        [torch.sigmoid(old[1, 0]), torch.sigmoid(old[1, 1]), 0.0, 1.0],
    ]
    total = 0.0
    for i in range(2):
        for j in range(4):
            t = float(targets[i][j])
            p = 1 / (1 + math.exp(-float(logits[i, j])))
            total += -(t * math.log(p) + (1 - t) * math.log(1 - p))
    expected = total / 8  # mean over batch x outputs
    assert float(icarl_bce(logits, labels, old)) == pytest.approx(expected, rel=1e-6)
    # without a previous network: one-hot targets on every output
    onehot = F.one_hot(labels, 4).float()
    ref = F.binary_cross_entropy(torch.sigmoid(logits), onehot)
    assert float(icarl_bce(logits, labels)) == pytest.approx(float(ref), rel=1e-5)


def test_kd_softmax_equals_hinton_formula():
    logits = torch.tensor([[0.5, -1.0, 2.0], [1.0, 0.2, -0.5]])
    labels = torch.tensor([2, 0])
    old = torch.tensor([[1.0, -2.0], [0.3, 0.1]])
    T, lam = 2.0, 0.5
    kd = 0.0
    for i in range(2):
        q = torch.softmax(old[i] / T, 0)
        p = torch.softmax(logits[i, :2] / T, 0)
        kd += float((q * (q.log() - p.log())).sum())
    kd = kd / 2 * T * T
    ce = float(F.cross_entropy(logits, labels))
    got = float(kd_softmax(logits, labels, old, temperature=T, ce_weight=lam))
    assert got == pytest.approx(kd + lam * ce, rel=1e-5)
