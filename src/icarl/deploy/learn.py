"""A deployed model: learn new classes by name, predict top-k with scores.

Class identity is the class NAME. A model maps its labels (ints, in ``classes_``)
to names (``class_names_``); new data arrive with their own labels and names, and
``plan_step`` matches them by name: known names keep the model's label, new names
get fresh labels after the model's largest one.

Scores (see :func:`scores`) are the learner's ``decision_scores``, one definition per
classifier rule (:mod:`icarl.algorithm.classifiers`):

- ``nme`` (Algorithm 1): the cosine similarity ``phi(x) . mu_y`` between the
  L2-normalised feature and the class mean, in [-1, 1]; ranking by it is exactly
  ranking by NME distance (``||phi - mu||^2 = 2 - 2 cos``).
- ``cnn``: the network's sigmoid output ``g_y(x)`` for each class, in [0, 1],
  independent per class (the paper's per-class sigmoids, not a softmax).

Neither is a calibrated probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..algorithm import ICaRL, classifiers
from ..data.dataset import Dataset
from ..data.source import TensorSource
from ..errors import IcarlError, NotFittedError
from .inputs import conform_dataset


class DeployError(IcarlError):
    """A problem with the inputs of learn / predict."""


def set_class_names(learner: ICaRL, names: dict[int, str]) -> None:
    learner.class_names_ = {**learner.named_classes(), **names}


# ------------------------------------------------------------------- learning
@dataclass(frozen=True)
class StepPlan:
    """How the classes of new data map onto the model's labels."""

    new: dict[int, int]  # dataset label -> new model label
    known: dict[int, int]  # dataset label -> existing model label
    names: dict[int, str]  # new model label -> name


def plan_step(learner: ICaRL, data: Dataset[TensorSource], allow_known: bool) -> StepPlan:
    """Match ``data``'s classes to the model's by name; refuse known ones unless allowed."""
    by_name = {name: label for label, name in learner.named_classes().items()}
    present = sorted(set(data.train.y.tolist()) | set(data.test.y.tolist()))
    known = {d: by_name[data.class_names[d]] for d in present if data.class_names[d] in by_name}
    if known and not allow_known:
        shown = ", ".join(data.class_names[d] for d in sorted(known)[:8])
        raise DeployError(
            f"the new data hold classes the model already knows ({shown}); remove them, or pass "
            "--allow-known to skip their training images and use their test images for accuracy"
        )
    new_labels = [d for d in present if d not in known]
    if not new_labels:
        raise DeployError("the new data hold no class the model does not know; nothing to learn")
    start = max(learner.classes_.tolist(), default=-1) + 1
    new = {d: start + i for i, d in enumerate(new_labels)}
    counts = torch.bincount(data.train.y, minlength=data.num_classes)
    empty = [data.class_names[d] for d in new if int(counts[d]) == 0]
    if empty:
        raise DeployError(f"new classes {empty} have no training images; add images or remove them")
    return StepPlan(new=new, known=known, names={new[d]: data.class_names[d] for d in new})


def _relabel(split: TensorSource, mapping: dict[int, int]) -> TensorSource:
    """Keep the items whose label is in ``mapping`` and relabel them."""
    if not mapping:
        return TensorSource(split.x[:0], split.y[:0])
    src = torch.tensor(list(mapping))
    keep = torch.isin(split.y, src)
    size = max([int(split.y.max()) if len(split.y) else 0, *mapping]) + 1
    lut = torch.full((size,), -1, dtype=torch.long)
    lut[src] = torch.tensor(list(mapping.values()))
    return TensorSource(split.x[keep], lut[split.y[keep]])


@dataclass
class StepReport:
    added: dict[int, str]
    skipped_known: list[str]
    accuracy_new: dict[str, float | None] = field(default_factory=dict)
    accuracy_all: dict[str, float | None] = field(default_factory=dict)
    n_test_new: int = 0
    n_test_all: int = 0


def _accuracy(learner: ICaRL, split: TensorSource) -> dict[str, float | None]:
    """Each predicting rule's accuracy on ``split`` (None where the learner lacks what it needs:
    NME without exemplars), from one feature pass."""
    if not len(split):
        return {}
    f, y = learner.features(split.x), split.y.cpu()
    inputs = learner.score_inputs()
    out: dict[str, float | None] = {}
    for rule in classifiers.predicting():
        s = rule.scores(f, inputs)
        out[rule.name] = None if s is None else float((learner.labels_of(s) == y).float().mean())
    return out


def learn_step(
    learner: ICaRL,
    data: Dataset[TensorSource],
    *,
    allow_known: bool = False,
    source: str = "",
    callbacks: Sequence[Any] = (),
) -> StepReport:
    """One incremental step (Algorithm 2) on the classes of ``data`` the model does not know;
    ``callbacks`` hear each epoch's end (:mod:`icarl.train.callbacks`; ``icarl serve``'s progress)."""
    if learner.net_ is None or learner.image_shape_ is None:
        raise NotFittedError("the model has learned nothing yet; train it with icarl run first")
    plan = plan_step(learner, data, allow_known)
    data = conform_dataset(data, learner.image_shape_)
    train = _relabel(data.train, plan.new)
    learner.partial_fit(train.x, train.y, callbacks=callbacks)
    set_class_names(learner, plan.names)
    test_new = _relabel(data.test, plan.new)
    test_all = _relabel(data.test, {**plan.new, **plan.known})
    report = StepReport(
        added=plan.names,
        skipped_known=[data.class_names[d] for d in sorted(plan.known)],
        accuracy_new=_accuracy(learner, test_new),
        accuracy_all=_accuracy(learner, test_all) if plan.known else {},
        n_test_new=len(test_new),
        n_test_all=len(test_all) if plan.known else 0,
    )
    entry = learner.history_[-1]
    entry["names"] = [plan.names[c] for c in entry["classes"]]
    entry["source"] = source
    if report.accuracy_new:
        entry["accuracy"] = {**report.accuracy_new, "on": f"{len(test_new)} test images of new classes"}
    return report


# ----------------------------------------------------------------- prediction
def scores(learner: ICaRL, x: Tensor, classifier: str) -> Tensor:
    """(N, t) scores, higher is better; see the module docstring for their meaning."""
    return scores_of_features(learner, learner.features(x), classifier)


def scores_of_features(learner: ICaRL, features: Tensor, classifier: str) -> Tensor:
    """:func:`scores` from features ``phi(x)`` already extracted (``learner.features``), so that
    one feature pass serves both classifiers (``icarl serve``): the classifier rule's ranking
    scores shown as users see them (:meth:`icarl.ICaRL.decision_scores`)."""
    try:
        rule = classifiers.rule(classifier)
        return rule.decision(learner.scores(features, rule.name))
    except IcarlError as e:  # a rule the model lacks what for (NME without exemplars)
        raise DeployError(str(e)) from None


def top_k(learner: ICaRL, x: Tensor, k: int, classifier: str) -> tuple[Tensor, Tensor]:
    """Labels (original, N x k) and scores of the ``k`` best classes per image."""
    s = scores(learner, x, classifier)
    vals, idx = s.topk(min(k, s.shape[1]), dim=1)
    labels = torch.tensor(learner.classes_, dtype=torch.long)
    return labels[idx], vals
