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

The weights are ``model_registry.linear_scorer.feature_weights`` (the one reading of a
classifier's weights, which the compiled scorer uses too). Only the text's nonzero features are
considered (the matrix stays sparse); the top ``k`` positive
contributions are returned as ``towards_ai`` and the top ``k`` negative ones as ``towards_human``.
Other classifiers get ``method="unavailable"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from model_registry.linear_scorer import feature_weights


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
        try:
            method, weights = feature_weights(classifier)
        except TypeError:
            return
        if weights.shape[0] != names.shape[0]:
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
