"""Explanations: which n-grams of a text pushed the decision towards "ai" or "human" the most.

The model is a scikit-learn ``Pipeline``; its last step is the classifier and everything before it
is the feature step (a vectorizer, a ``FeatureUnion`` of vectorizers, ...), whose
``get_feature_names_out`` names the columns. For one text with feature vector ``x``:

* linear classifiers (``coef_``, e.g. logistic regression, linear SVM): the contribution of
  feature ``j`` is ``coef_[j] * x[j]`` -- its exact additive share of the decision function
  (log-odds for logistic regression);
* naive-Bayes-like classifiers (``feature_log_prob_``): ``(log P(j|ai) - log P(j|human)) * x[j]``,
  the feature's additive share of the log-likelihood ratio;
* a ``CalibratedClassifierCV`` around a linear model: the mean ``coef_`` of its calibrated
  estimators (calibration is monotonic, so the ranking of contributions is preserved).

Only the text's nonzero features are considered (the matrix stays sparse); the top ``k`` positive
contributions are returned as ``towards_ai`` and the top ``k`` negative ones as ``towards_human``.
Other classifiers get ``method="unavailable"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

POSITIVE_CLASS = 1


@dataclass(frozen=True)
class Contribution:
    feature: str
    weight: float


@dataclass(frozen=True)
class Explanation:
    method: str
    towards_ai: list[Contribution]
    towards_human: list[Contribution]


class Explainer:
    """Per-model explainer: feature names and weights are computed once, lazily."""

    def __init__(self, pipeline: Any) -> None:
        self._pipeline = pipeline
        self._prepared = False
        self._method = "unavailable"
        self._weights: np.ndarray | None = None
        self._names: np.ndarray | None = None
        self._features: Any = None

    def _prepare(self) -> None:
        if self._prepared:
            return
        self._prepared = True
        steps = getattr(self._pipeline, "steps", None)
        if not steps or len(steps) < 2:
            return
        classifier = steps[-1][1]
        features = self._pipeline[:-1]
        try:
            names = np.asarray(features.get_feature_names_out(), dtype=object)
        except Exception:
            return
        method, weights = _classifier_weights(classifier)
        if weights is None or weights.shape[0] != names.shape[0]:
            return
        self._method, self._weights, self._names, self._features = (
            method,
            weights,
            names,
            features,
        )

    @property
    def method(self) -> str:
        self._prepare()
        return self._method

    def explain(self, texts: list[str], top_k: int) -> list[Explanation]:
        """One explanation per text, in order."""
        self._prepare()
        if self._weights is None:
            return [Explanation("unavailable", [], []) for _ in texts]
        matrix = self._features.transform(texts)
        if not hasattr(matrix, "tocsr"):
            from scipy import sparse

            matrix = sparse.csr_matrix(matrix)
        matrix = matrix.tocsr()
        explanations = []
        for row in range(matrix.shape[0]):
            start, end = matrix.indptr[row], matrix.indptr[row + 1]
            columns = matrix.indices[start:end]
            contributions = matrix.data[start:end] * self._weights[columns]
            explanations.append(self._top(columns, contributions, top_k))
        return explanations

    def _top(self, columns: np.ndarray, contributions: np.ndarray, top_k: int) -> Explanation:
        names = self._names
        assert names is not None
        order = np.argsort(contributions)
        positive = [i for i in order[::-1][:top_k] if contributions[i] > 0]
        negative = [i for i in order[:top_k] if contributions[i] < 0]

        def pack(indices: list[int]) -> list[Contribution]:
            return [
                Contribution(str(names[columns[i]]), round(float(contributions[i]), 6))
                for i in indices
            ]

        return Explanation(self._method, pack(positive), pack(negative))


def _classifier_weights(classifier: Any) -> tuple[str, np.ndarray | None]:
    classes = list(getattr(classifier, "classes_", [0, 1]))
    if len(classes) != 2 or POSITIVE_CLASS not in classes:
        return "unavailable", None
    sign = 1.0 if classes.index(POSITIVE_CLASS) == 1 else -1.0
    coef = getattr(classifier, "coef_", None)
    if coef is not None:
        return "coefficient_x_feature_value", sign * np.asarray(coef, dtype=float).ravel()
    log_prob = getattr(classifier, "feature_log_prob_", None)
    if log_prob is not None:
        log_prob = np.asarray(log_prob, dtype=float)
        positive = classes.index(POSITIVE_CLASS)
        return "log_probability_ratio_x_feature_value", log_prob[positive] - log_prob[1 - positive]
    calibrated = getattr(classifier, "calibrated_classifiers_", None)
    if calibrated:
        coefs = [getattr(c.estimator, "coef_", None) for c in calibrated]
        if all(c is not None for c in coefs):
            mean = np.mean([np.asarray(c, dtype=float).ravel() for c in coefs], axis=0)
            return "mean_calibrated_coefficient_x_feature_value", sign * mean
    return "unavailable", None
