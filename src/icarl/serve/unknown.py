"""When the served model answers "unknown" instead of a class name.

A classifier always names one of the classes it knows: the nearest class mean (Algorithm 1)
exists for any image, even random noise. Its score (the cosine between the image's
normalised feature and that mean) is a poor judge on its own, because the features of any
image share one cone of feature space: on the digits model of the issue, uniform RGB noise
scores 0.87-0.93 against real test digits' 0.86-0.996 (benchmarks/unknown_rule.py).

Two rules, chosen when the server starts:

- ``calibrated`` (the default where the model keeps exemplars): each class's own exemplars
  give the spread of the scores its members reach, ``s_y`` (mean) and ``sd_y`` (standard
  deviation of ``cos(phi(p), mu_y)`` over ``p`` in ``P_y``). An image whose best class is
  ``y`` is unknown when its score to ``mu_y`` is below ``s_y - k * sd_y`` (``k = 6`` by
  default, ``--unknown-sd``). The cosine to the predicted class's mean is used whichever
  classifier named the class. A class with fewer than :data:`MIN_PER_CLASS` exemplars takes
  the standard deviation pooled over all classes. Exemplars are training images chosen
  near their mean (herding), so their spread is narrower than a class's test images': the
  rule also flags some real images. Measured on four digits models (benchmarks/unknown_rule.py,
  docs/serve.md): with ``k = 6``, 2-6% of real test images of known classes are answered
  "unknown", against 96-100% of noise images and 62-74% of digits the model never learned.
- ``min-score`` (``--min-score S``): unknown when the best score is below ``S``, on the
  scale of the classifier used (cosine -1..1 for ``nme``, sigmoid 0..1 for ``cnn``).

The calibration is computed from the exemplars once per model version (a learn job computes
it for the version it writes, and keeps it in the file's ``extra``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..algorithm import ICaRL
from ..deploy.learn import scores_of_features

MIN_PER_CLASS = 5
CALIBRATION_KEY = "serve_calibration"  # the key in a model file's ``extra``


@dataclass(frozen=True)
class Calibration:
    """Per class (in ``classes_`` order): mean and sd of its exemplars' cosine to its mean."""

    mean: tuple[float, ...]
    sd: tuple[float, ...]
    count: tuple[int, ...]

    def to_dict(self) -> dict[str, list[float] | list[int]]:
        return {"mean": list(self.mean), "sd": list(self.sd), "count": list(self.count)}

    @staticmethod
    def from_dict(doc: Any, classes: int) -> Calibration | None:
        """The calibration a file holds, if well formed for ``classes`` classes (else None)."""
        if not isinstance(doc, dict):
            return None
        try:
            mean = tuple(float(v) for v in doc["mean"])
            sd = tuple(float(v) for v in doc["sd"])
            count = tuple(int(v) for v in doc["count"])
        except (KeyError, TypeError, ValueError):
            return None
        if not len(mean) == len(sd) == len(count) == classes:
            return None
        if not all(math.isfinite(v) for v in (*mean, *sd)):
            return None
        return Calibration(mean, sd, count)


def calibrate(learner: ICaRL) -> Calibration | None:
    """The calibration of ``learner`` from its exemplars; None without class means or with
    fewer than two exemplars in every class."""
    if learner.means_ is None or learner.net_ is None:
        return None
    ex_x, ex_y = learner.memory_.as_tensors()
    if ex_x.shape[0] == 0:
        return None
    bs = max(1, learner.config.eval_batch_size)
    f = torch.cat([learner.features(ex_x[i : i + bs]) for i in range(0, ex_x.shape[0], bs)])
    cos = scores_of_features(learner, f, "nme")
    idx = learner.output_index(ex_y)
    own = cos[torch.arange(len(idx)), idx]
    t = len(learner.classes_)
    means, sds, counts = [], [], []
    for k in range(t):
        v = own[idx == k].double()
        counts.append(int(v.numel()))
        means.append(float(v.mean()) if v.numel() else 1.0)
        sds.append(float(v.std()) if v.numel() >= 2 else math.nan)
    pooled = _pooled(sds, counts)
    if pooled is None:
        return None
    sds = [
        sd if n >= MIN_PER_CLASS and math.isfinite(sd) else pooled for sd, n in zip(sds, counts, strict=True)
    ]
    return Calibration(tuple(means), tuple(sds), tuple(counts))


def _pooled(sds: list[float], counts: list[int]) -> float | None:
    """The standard deviation pooled over the classes with two or more exemplars."""
    num = sum((n - 1) * sd * sd for sd, n in zip(sds, counts, strict=True) if n >= 2)
    den = sum(n - 1 for n in counts if n >= 2)
    return math.sqrt(num / den) if den else None


@dataclass(frozen=True)
class UnknownRule:
    """``kind``: ``calibrated`` (``k`` standard deviations), ``min-score`` (``min_score``) or ``off``."""

    kind: str = "calibrated"
    k: float = 6.0
    min_score: float = 0.0

    def describe(self, calibration: Calibration | None) -> dict[str, Any]:
        if self.kind == "min-score":
            return {"rule": "min-score", "min_score": self.min_score}
        if self.kind == "calibrated" and calibration is not None:
            return {
                "rule": "calibrated",
                "sd": self.k,
                "meaning": "unknown when the cosine to the best class's mean is below that class's "
                "exemplars' mean cosine minus sd standard deviations",
                "thresholds": [round(t, 6) for t in self.thresholds(calibration).tolist()],
            }
        why = "turned off" if self.kind == "off" else "the model keeps no exemplars to calibrate on"
        return {"rule": "off", "why": why}

    def thresholds(self, calibration: Calibration) -> Tensor:
        mean = torch.tensor(calibration.mean, dtype=torch.float64)
        return mean - self.k * torch.tensor(calibration.sd, dtype=torch.float64)

    def known(
        self, best: Tensor, index: Tensor, cosine: Tensor | None, calibration: Calibration | None
    ) -> Tensor:
        """Whether each image is known: ``best`` its top score (the classifier's scale), ``index``
        its top class's output position, ``cosine`` its (N, t) NME cosines (None without means)."""
        if self.kind == "min-score":
            return best >= self.min_score
        if self.kind != "calibrated" or calibration is None or cosine is None:
            return torch.ones_like(best, dtype=torch.bool)
        own = cosine[torch.arange(len(index)), index].double()
        return own >= self.thresholds(calibration)[index]
