"""Classifier rules: how a learner turns features ``phi(x)`` into one score per seen class.
One registry, used by the learner (``learner.classifier``, ``predict``, ``scores``,
``decision_function``), the evaluation after each step (every rule it can compute, one
feature pass), the exported programs and the command line (``--classifier`` choices, the
tables). Built in, in this order (the order of ``results.json``'s keys and of the tables):

- ``nme`` (paper Algorithm 1, iCaRL): nearest mean of exemplars. Its score is the cosine
  similarity ``cos(phi(x), mu_y) = 1 - ||phi(x)/|phi(x)| - mu_y||^2 / 2`` in [-1, 1] (the
  means are unit vectors), so its argmax is Algorithm 1's argmin of the distance. The same
  number everywhere: ``scores``, ``decision_function``, ``icarl predict``, the exported
  programs (:func:`icarl.algorithm.nme.cosine_scores`).
- ``cnn`` (the paper's *hybrid1* for iCaRL): the network's outputs. Ranked by the logits
  ``w_y . phi(x) + b_y`` (the head, applied through ``forward_head``); shown to users as the
  per-class sigmoid ``g_y(x)`` in [0, 1] (the paper's sigmoids, not a softmax).
- ``incm`` (the paper's *iNCM*, an oracle ablation, evaluation only): nearest class mean with
  the true means over ALL training data of the seen classes, cosine as ``nme``.

None of the scores is a calibrated probability. Add a rule with :func:`register`::

    register(ClassifierRule("max-feature", "MAX", "the largest feature wins", "a feature",
                            scores=lambda f, s: f[:, : s.seen]))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..config import ConfigError, LearnerConfig
from ..errors import IcarlError
from ..registry import Registry
from .nme import cosine_scores


@dataclass(frozen=True)
class ScoreInputs:
    """What a rule may use besides the features: the head of the inference network
    (``head(f)``: every output, ``forward_head``), the number of seen classes ``t``, the
    learner's class means ``mu_y`` (None without exemplars) and, in the evaluation with
    ``evaluation.incm``, the true class means over all training data (else None)."""

    head: Callable[[Tensor], Tensor]
    seen: int
    means: Tensor | None = None
    true_means: Tensor | None = None


ScoreFn = Callable[[Tensor, ScoreInputs], "Tensor | None"]


def _identity(scores: Tensor) -> Tensor:
    return scores


def _never(f: Tensor, s: ScoreInputs, extra: int) -> Tensor:
    return torch.full((len(f), extra), float("-inf"))


@dataclass(frozen=True)
class ClassifierRule:
    """A classifier rule. ``scores(features, inputs)``: ``(N, t)`` ranking scores, higher is
    better, columns in ``classes_`` order, or None where ``inputs`` lack what the rule needs
    (``missing`` says what). ``decision``: the scores as users see them (``decision_function``,
    ``icarl predict``, exported programs), an increasing function of the ranking scores.
    ``unseen(f, inputs, extra)``: the scores of ``extra`` head outputs of no seen class
    (``evaluation.score_all_outputs``). ``predicts``: a learner may classify with it (False:
    evaluation only). ``needs_exemplars``: refused with ``memory_size = 0``."""

    name: str
    label: str  # in tables and figures: "NME"
    description: str
    meaning: str  # what a decision score means
    scores: ScoreFn
    decision: Callable[[Tensor], Tensor] = _identity
    unseen: Callable[[Tensor, ScoreInputs, int], Tensor] = _never
    predicts: bool = True
    needs_exemplars: bool = False
    missing: str = "this learner lacks what the rule needs"


CLASSIFIERS: Registry[ClassifierRule] = Registry("classifier", ConfigError)


def register(rule: ClassifierRule, *, replace: bool = False) -> ClassifierRule:
    """Add ``rule`` (a second registration of its name warns; ``replace=True``: silently)."""
    return CLASSIFIERS.register(rule.name, rule, replace=replace)


def names() -> list[str]:
    """Every rule, in registration order (``nme``, ``cnn``, ``incm``, then users')."""
    return CLASSIFIERS.names()


def predicting() -> list[ClassifierRule]:
    """The rules a learner may classify with, in registration order."""
    return [r for _, r in CLASSIFIERS.items() if r.predicts]


def rule(name: str) -> ClassifierRule:
    """The rule ``name`` for predicting (an evaluation-only rule is refused in one line)."""
    found = CLASSIFIERS.get(name) if name in CLASSIFIERS else None
    if found is None or not found.predicts:
        raise IcarlError(f"classifier {name!r} is not one of {', '.join(r.name for r in predicting())}")
    return found


def check_learner_classifier(cfg: LearnerConfig) -> None:
    """``learner.classifier`` names a rule a learner can classify with, and has what it needs."""
    if cfg.classifier not in CLASSIFIERS or not CLASSIFIERS.get(cfg.classifier).predicts:
        choices = ", ".join(r.name for r in predicting())
        raise ConfigError(f"learner.classifier is {cfg.classifier!r}; choose one of {choices}")
    if CLASSIFIERS.get(cfg.classifier).needs_exemplars and cfg.memory_size == 0:
        raise ConfigError(
            f"learner.classifier is {cfg.classifier!r} but memory_size is 0 (no exemplars to "
            "average); set classifier='cnn' or a memory size"
        )
    if cfg.classifier == "cnn" and cfg.trained() == "none":  # the head would keep its random init
        untrained = "epochs = 0" if cfg.epochs == 0 else "train = 'none'"
        raise ConfigError(
            f"learner.classifier is 'cnn' but the network is never trained ({untrained}); "
            "use classifier='nme', or train='head' with epochs >= 1"
        )


# ------------------------------------------------------------------ built in
def _nme(f: Tensor, s: ScoreInputs) -> Tensor | None:
    return None if s.means is None else cosine_scores(f, s.means[: s.seen])


def _incm(f: Tensor, s: ScoreInputs) -> Tensor | None:
    return None if s.true_means is None else cosine_scores(f, s.true_means)


def _zero_mean(f: Tensor, s: ScoreInputs, extra: int) -> Tensor:
    """An unseen class has a zero mean in the authors' ``class_means`` array: its distance is
    ``||phi/|phi| - 0||^2 = 1``, the score ``1 - 1/2`` (ranked as the authors rank it; exactly
    0.5, not the rounding of a computed norm)."""
    return torch.full((len(f), extra), 0.5)


def _cnn(f: Tensor, s: ScoreInputs) -> Tensor:
    return s.head(f)[:, : s.seen]


def _cnn_unseen(f: Tensor, s: ScoreInputs, extra: int) -> Tensor:
    return s.head(f)[:, s.seen : s.seen + extra]


for _rule in (
    ClassifierRule(
        "nme",
        "NME",
        "nearest mean of exemplars (iCaRL, Algorithm 1)",
        "cosine similarity between the image's normalised feature and the class mean (-1..1)",
        _nme,
        unseen=_zero_mean,
        needs_exemplars=True,
        missing="NME needs exemplars; this learner keeps none (use classifier 'cnn')",
    ),
    ClassifierRule(
        "cnn",
        "CNN",
        "the network's outputs (hybrid1 for iCaRL)",
        "sigmoid output of the class's output unit (0..1, independent per class)",
        _cnn,
        decision=torch.sigmoid,
        unseen=_cnn_unseen,
    ),
    ClassifierRule(
        "incm",
        "iNCM",
        "nearest class mean over all training data of the seen classes (iNCM, an oracle)",
        "cosine similarity between the image's normalised feature and the true class mean (-1..1)",
        _incm,
        unseen=_zero_mean,
        predicts=False,
        missing="iNCM needs the training data of the seen classes (evaluation.incm)",
    ),
):
    register(_rule)
