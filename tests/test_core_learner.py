"""The learner, the stream and the memory on the embedded digits data."""

import pytest
import torch

from icarl import ClassIncrementalStream, ICaRL
from icarl.algorithm.memory import ExemplarMemory, per_class_budget
from icarl.data import DataError
from icarl.nets import IncrementalNet, create_backbone

FAST = dict(backbone="small_cnn", epochs=2, batch_size=64, crop_pad=1, flip=False, progress=False)


def test_stream_partitions_the_order_and_test_sets_accumulate(digits):
    stream = ClassIncrementalStream(digits, classes_per_step=3, first_step=4, order="seed:3")
    assert sorted(stream.class_order) == list(range(10))
    groups = [step.classes for step in stream]
    assert [len(g) for g in groups] == [4, 3, 3]
    assert [c for g in groups for c in g] == stream.class_order
    seen = set()
    for step in stream:
        seen |= set(step.classes)
        assert set(step.train.y.tolist()) == set(step.classes)
        assert set(step.test_seen.y.tolist()) == seen
        assert len(step.test_seen) == int(torch.isin(digits.test.y, torch.tensor(list(seen))).sum())


def test_stream_seed_changes_order_and_bad_splits_are_explained(digits):
    a = ClassIncrementalStream(digits, classes_per_step=2, order="seed", seed=1).class_order
    b = ClassIncrementalStream(digits, classes_per_step=2, order="seed", seed=2).class_order
    assert a != b
    assert a == ClassIncrementalStream(digits, classes_per_step=2, order="seed:1").class_order
    with pytest.raises(DataError, match="do not split"):
        ClassIncrementalStream(digits, classes_per_step=3)
    with pytest.raises(DataError, match="appears twice"):
        ClassIncrementalStream(digits, classes_per_step=2, order=[0, 0, 1, 2, 3, 4, 5, 6, 7, 8])


def test_per_class_budget_never_exceeds_K():
    for K in (10, 99, 2000):
        for t in range(1, 101):
            m = per_class_budget(K, t)
            assert m * t <= K and (m + 1) * t > K


def test_memory_reduce_keeps_prefix_and_counts_bytes():
    mem = ExemplarMemory()
    a = torch.arange(10 * 3, dtype=torch.uint8).reshape(10, 1, 1, 3)
    mem.add(0, a)
    mem.reduce(4)
    assert torch.equal(mem.sets[0], a[:4])
    assert mem.nbytes == 4 * 3 and len(mem) == 4


def test_head_grows_and_keeps_old_rows():
    net = IncrementalNet(create_backbone("mlp", 1, 8), 2)
    w, b = net.head.weight.detach().clone(), net.head.bias.detach().clone()
    net.grow(5, torch.Generator().manual_seed(0))
    assert net.head.out_features == 5
    assert torch.equal(net.head.weight[:2], w) and torch.equal(net.head.bias[:2], b)


def test_resnet32_shape_and_parameter_count():
    bb = create_backbone("resnet32", 3, 32)
    assert bb.out_dim == 64
    f = bb.forward_features(torch.randn(2, 3, 32, 32))
    assert f.shape == (2, 64)
    # ResNet-32 with option-A (parameter-free) shortcuts has about 0.46M parameters
    n = sum(p.numel() for p in bb.parameters())
    assert 460_000 < n < 470_000


def test_memory_never_exceeds_K_and_holds_m_per_class_over_a_stream(digits):
    K = 30
    learner = ICaRL(memory_size=K, **FAST)
    stream = ClassIncrementalStream(digits, classes_per_step=2, order="seed:0")
    for step in stream:
        learner.partial_fit(step.train.x, step.train.y)
        t = len(step.seen_classes)
        assert len(learner.memory_) <= K
        assert set(learner.memory_.counts().values()) == {K // t}
        assert learner.means_ is not None and learner.means_.shape[0] == t
        pred = learner.predict(step.test_seen.x)
        assert set(pred.tolist()) <= set(step.seen_classes)


def test_exemplars_are_original_images_of_their_class(digits):
    learner = ICaRL(memory_size=20, **FAST)
    step = ClassIncrementalStream(digits, classes_per_step=2, order="identity")[0]
    learner.partial_fit(step.train.x, step.train.y)
    for internal, images in learner.memory_.sets.items():
        label = learner.classes_[internal]
        pool = step.train.x[step.train.y == label].flatten(1)
        for img in images.flatten(1):
            assert bool((pool == img).all(1).any())


def test_relearning_a_known_class_is_refused(digits):
    learner = ICaRL(memory_size=20, **FAST)
    step = ClassIncrementalStream(digits, classes_per_step=2, order="identity")[0]
    learner.partial_fit(step.train.x, step.train.y)
    with pytest.raises(ValueError, match="earlier step"):
        learner.partial_fit(step.train.x, step.train.y)


def test_distillation_keeps_old_classes_better_than_finetuning(digits):
    """The paper's central claim, small: after learning 0-4 then 5-9, iCaRL still
    recognises 0-4; finetuning (no exemplars, no distillation) forgets them."""
    stream = ClassIncrementalStream(digits, classes_per_step=5, order="identity")
    common = dict(FAST, epochs=10, lr=1.0)
    icarl = ICaRL(memory_size=100, **common)
    finetune = ICaRL(memory_size=0, distillation="none", classifier="cnn", **common)
    for step in stream:
        icarl.partial_fit(step.train.x, step.train.y)
        finetune.partial_fit(step.train.x, step.train.y)
    old = stream[0].test_new
    assert icarl.score(old.x, old.y) > finetune.score(old.x, old.y) + 0.3


def test_too_small_memory_is_refused_before_training_and_leaves_the_learner_intact(digits):
    learner = ICaRL(memory_size=3, **FAST)
    step = ClassIncrementalStream(digits, classes_per_step=2, order="identity")[0]
    learner.partial_fit(step.train.x, step.train.y)  # t = 2, m = 1
    nxt = ClassIncrementalStream(digits, classes_per_step=2, order="identity")[1]
    with pytest.raises(ValueError, match="smaller than the 4 classes seen"):
        learner.partial_fit(nxt.train.x, nxt.train.y)
    assert learner.classes_.tolist() == [0, 1] and learner.net_.num_outputs == 2


@pytest.mark.parametrize("flip", [False, True])
def test_new_exemplars_pass_through_the_network_once_per_step_and_the_means_are_unchanged(digits, flip):
    """Herding's features of the new exemplars serve the class means too: a step computes
    features of its new classes' images (herding) and of the old exemplars (plus every
    exemplar's flipped copy with flips), and the means equal a computation from scratch."""
    learner = ICaRL(memory_size=40, **{**FAST, "flip": flip})
    stream = ClassIncrementalStream(digits, classes_per_step=2, order="identity")
    learner.partial_fit(stream[0].train.x, stream[0].train.y)
    seen: list[int] = []
    plain = learner.features

    def counting(x, flip=False):
        seen.append(len(x))
        return plain(x, flip=flip)

    learner.features = counting  # type: ignore[method-assign]
    learner.partial_fit(stream[1].train.x, stream[1].train.y)
    del learner.features
    counts = learner.memory_.counts()  # internal index -> exemplars; 0 and 1 are the old classes
    old_exemplars = counts[0] + counts[1]
    assert sum(seen) == len(stream[1].train) + old_exemplars + (len(learner.memory_) if flip else 0)
    scratch = learner.class_means(learner._exemplars())
    assert torch.allclose(learner.means_, scratch, atol=1e-6)
