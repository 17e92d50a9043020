"""Algorithm 1 on features you already have, as a scikit-learn estimator (``icarl.NearestMeanClassifier``).

The maths is the learner's (:mod:`icarl.algorithm.nme`): class means of L2-normalised
features, re-normalised, and the cosine similarity to them as the score. What
``check_estimator`` says of it: docs/sklearn.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from typing_extensions import Self

from .nme import class_means, cosine_scores

FLOATS = (np.float32, np.float64)


class NearestMeanClassifier(ClassifierMixin, BaseEstimator):
    """Algorithm 1 on features you already have: nearest class mean, cosine scores.

    >>> clf = NearestMeanClassifier().fit(train_features, train_labels)   # mu_y per class
    >>> clf.predict(test_features)                                        # nearest mean
    >>> clf.decision_function(test_features)                              # cosine to each mean

    ``fit`` computes each class's mean of L2-normalised features, re-normalised (the
    paper's ``mu_y``; with ``flipped``, the features of the flipped images averaged in, as
    the authors' code does). Labels may be any values scikit-learn takes as classes (ints,
    strings); ``fit`` sorts them into ``classes_`` (a numpy array), ``predict`` returns them.
    ``partial_fit`` adds classes after the known ones (sorted within the call), or
    recomputes the means of the known classes it is given. ``means_``: (classes, features).
    """

    classes_: np.ndarray
    means_: np.ndarray
    allowed_classes_: np.ndarray  # partial_fit(classes=...): the labels that may come

    def fit(self, X: Any, y: Any, flipped: Any = None) -> Self:
        """The class means of ``(X, y)`` (features ``(n, d)``, one label each), from scratch."""
        self.__dict__.pop("allowed_classes_", None)
        return self._add(X, y, flipped, reset=True)

    def partial_fit(self, X: Any, y: Any, flipped: Any = None, classes: Any = None) -> Self:
        """Add the classes of ``(X, y)``, or recompute the means of known classes it holds.
        ``classes`` (scikit-learn's argument of the first call): the labels that may come;
        given, every label must be one of them. ``classes_`` holds the classes seen so far
        only: Algorithm 1 ranks the classes that have a mean."""
        first = not hasattr(self, "means_")
        if classes is not None:
            allowed = np.unique(np.asarray(classes))
            if not first and not np.array_equal(allowed, self.allowed_classes_):
                raise ValueError("classes differ from the first partial_fit call's; give the same or none")
            self.allowed_classes_ = allowed
        return self._add(X, y, flipped, reset=first)

    def _add(self, X: Any, y: Any, flipped: Any, reset: bool) -> Self:
        X, y = validate_data(self, X, y, reset=reset, dtype=FLOATS)
        check_classification_targets(y)
        fl = None
        if flipped is not None:
            fl = check_array(flipped, dtype=FLOATS)
            if fl.shape != X.shape:
                raise ValueError(f"flipped features are shaped {fl.shape}, features {X.shape}; one row each")
        known = np.asarray([], dtype=y.dtype) if reset else self.classes_
        uniq = np.unique(y)
        allowed = getattr(self, "allowed_classes_", None)
        if allowed is not None and not np.isin(uniq, allowed).all():
            raise ValueError(f"labels {uniq[~np.isin(uniq, allowed)][:5].tolist()} are not in classes")
        classes = np.concatenate([known, uniq[~np.isin(uniq, known)]])
        index = {c: i for i, c in enumerate(classes.tolist())}
        idx = torch.tensor([index[c] for c in y.tolist()])
        f = torch.tensor(X, dtype=torch.float32)
        new = class_means(f, idx, len(classes), None if fl is None else torch.tensor(fl, dtype=torch.float32))
        means = np.zeros((len(classes), X.shape[1]), dtype=np.float32)
        if not reset:
            means[: len(self.means_)] = self.means_
        given = torch.unique(idx).numpy()
        means[given] = new.numpy()[given]
        self.classes_, self.means_ = classes, means
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """``(n, classes)`` cosine similarities to the class means, columns in ``classes_``
        order, in [-1, 1]: the NME score icarl gives everywhere."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=FLOATS)
        f = torch.tensor(X, dtype=torch.float32)
        return cosine_scores(f, torch.from_numpy(self.means_)).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The label of the nearest class mean of each row (Algorithm 1)."""
        best = self.decision_function(X).argmax(1)
        return np.asarray(self.classes_[best])
