"""One evaluation pass after each step: every classifier rule the learner can compute
(:mod:`icarl.algorithm.classifiers`), from one feature extraction of the test images, and
the per-step and per-run metrics that ``results.json`` holds (keys documented in
docs/experiments.md).

Classifiers, labelled everywhere by their rule's name (built in):

- ``nme``: nearest mean of exemplars (iCaRL, Alg. 1); None without exemplars;
- ``cnn``: the network's own outputs (for iCaRL this is the paper's *hybrid1*);
- ``incm``: nearest class mean with the true means over ALL training data of the
  seen classes, under the current network (the paper's *iNCM*, an oracle ablation).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..algorithm import ICaRL, classifiers
from ..data.source import ImageSource
from . import metrics
from .report import save_exemplar_grid
from .results import write_metrics_csv


def classifier_scores(
    learner: ICaRL, test: ImageSource, train: ImageSource | None = None, all_outputs: bool = False
) -> dict[str, Tensor]:
    """``(N, t)`` ranking scores (higher is better, columns in ``learner.classes_`` order) of
    each classifier rule the learner can compute; ``incm`` only when ``train`` (data of the
    seen classes) is given. ``all_outputs`` (``evaluation.score_all_outputs``): also a column
    for each head output of no seen class, ``(N, head size)``, as the authors' evaluation
    ranks them (each rule says how it scores those: :attr:`ClassifierRule.unseen`)."""
    f = learner.features(test)
    # iNCM: the true class means of all training data, by the function that averages exemplars
    true_means = learner.class_means(train) if train is not None and len(train) else None
    inputs = learner.score_inputs(true_means)
    scores = {}
    for name in classifiers.names():
        s = classifiers.CLASSIFIERS.get(name).scores(f, inputs)
        if s is not None:
            scores[name] = s
    return with_unseen_outputs(learner, f, scores) if all_outputs else scores


def with_unseen_outputs(learner: ICaRL, f: Tensor, scores: dict[str, Tensor]) -> dict[str, Tensor]:
    """The authors' CIFAR-100 scoring: every output of the head competes. Each rule scores
    the outputs of no seen class its own way (:attr:`ClassifierRule.unseen`): an unseen class
    has a zero mean in the authors' ``class_means`` array, so NME and iNCM give it the score
    of distance 1 (cosine score 0.5); CNN its output."""
    extra = learner.network().num_outputs - len(learner.classes_)
    if extra <= 0:
        return scores
    inputs = learner.score_inputs()
    unseen = {k: classifiers.CLASSIFIERS.get(k).unseen(f, inputs, extra) for k in scores}
    return {k: torch.cat([s, unseen[k]], 1) for k, s in scores.items()}


def evaluate(
    learner: ICaRL,
    test: ImageSource,
    train: ImageSource | None,
    groups: Sequence[Sequence[int]],
    all_outputs: bool = False,
) -> dict[str, Any]:
    """The metrics of one step. ``groups``: the class groups of the steps so far (the last is
    the newest). The confusion matrix and the prediction shares use the learner's own
    classifier (``learner.config.classifier``). ``all_outputs``: see
    :func:`classifier_scores`; ``unseen_share`` is then the share of test images each
    classifier gave to an output of no seen class (0 otherwise)."""
    t0 = time.perf_counter()
    scores = classifier_scores(learner, test, train, all_outputs)
    y = test.labels.cpu()
    y_index = learner.output_index(y).cpu() if len(y) else y
    # an argmax on an output of no seen class (score_all_outputs) predicts label -1: wrong
    lut = torch.tensor([*learner.classes_.tolist(), *[-1] * (learner.network().num_outputs)])
    preds = {k: lut[s.argmax(1)] for k, s in scores.items()}
    main = learner.config.classifier
    seen = [c for g in groups for c in g]
    pred_main = preds[main]
    names = classifiers.names()  # every rule has its key, None where it does not apply
    record: dict[str, Any] = {
        "accuracy": {k: (metrics.accuracy(preds[k], y) if k in preds else None) for k in names},
        "top5": {k: (metrics.topk_accuracy(scores[k], y_index, 5) if k in scores else None) for k in names},
        "accuracy_row": {
            k: (metrics.nan_to_none(metrics.group_accuracies(preds[k], y, groups)) if k in preds else None)
            for k in names
        },
        "classifier": main,
        "confusion": metrics.confusion_matrix(pred_main, y, seen).tolist(),
        "share_newest": metrics.prediction_share(pred_main, groups[-1]),
        "share_first": metrics.prediction_share(pred_main, groups[0]),
        "test_share_newest": metrics.prediction_share(y, groups[-1]),
        "test_share_first": metrics.prediction_share(y, groups[0]),
        "unseen_share": {k: float((p < 0).float().mean()) if len(p) else 0.0 for k, p in preds.items()},
        "eval_seconds": round(time.perf_counter() - t0, 3),
    }
    return record


def summarize_run(steps: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Run-level metrics from the step records: accuracy matrix, forgetting and backward
    transfer per classifier (None for a classifier missing at some step)."""
    out: dict[str, Any] = {"accuracy_matrix": {}, "forgetting": {}, "backward_transfer": {}}
    for k in classifiers.names():
        rows = [s.get("accuracy_row", {}).get(k) for s in steps]
        if not steps or any(r is None for r in rows):
            out["accuracy_matrix"][k] = out["forgetting"][k] = out["backward_transfer"][k] = None
            continue
        a = metrics.accuracy_matrix([r for r in rows if r is not None])
        out["accuracy_matrix"][k] = [metrics.nan_to_none(r) for r in a.tolist()]
        out["forgetting"][k] = _none_if_nan(metrics.forgetting(a))
        out["backward_transfer"][k] = _none_if_nan(metrics.backward_transfer(a))
    return out


def _none_if_nan(v: float) -> float | None:
    return None if math.isnan(v) else v


def finish_run(results: dict[str, Any], learner: ICaRL, out_dir: Path | None) -> None:
    """Add the run-level metrics to ``results``; with ``out_dir``, write ``metrics.csv`` and
    the exemplar grid (``exemplars.png``, needs the learner's final memory)."""
    results["classifier"] = learner.config.classifier
    results.update(summarize_run(results["steps"]))
    if out_dir is None:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    write_metrics_csv(results, out_dir / "metrics.csv")
    if len(learner.memory_):
        names = dict(zip(results["class_order"], results["class_names"], strict=True))
        save_exemplar_grid(learner, out_dir / "exemplars.png", names, order=results["class_order"])
