"""A calibrated two-expert ensemble that is still one logistic model (and so stays compilable).

``TwoBlockLogitSum`` fits one logistic regression on the leading feature block (word TF-IDF) and
another on the trailing ``tail_width`` columns (the style profile), each with its own
regularisation, and adds their log-odds (a product of experts: each block's evidence counts once,
and the small dense block is not drowned by, or slowing down, the 300k sparse columns as it does in
one joint fit). The sum is again ``x . w + b``, so the fitted estimator *is* a
``LogisticRegression`` (``coef_``, ``intercept_``, ``predict_proba``): Platt calibration on
validation (``evaluation.calibrate_linear``) rescales the summed log-odds, explanations and the
compiled scorer treat it like any logistic regression.

This module is pickled *by value* into each model artifact: numpy and scikit-learn only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression


class TwoBlockLogitSum(LogisticRegression):
    """Logistic regression on ``X[:, :-tail_width]`` plus one on ``X[:, -tail_width:]``."""

    def __init__(
        self,
        C: float = 1.0,  # noqa: N803 (scikit-learn's name)
        tail_C: float = 1.0,  # noqa: N803
        tail_width: int = 1,
        tail_weight: float = 1.0,
        max_iter: int = 3000,
        random_state: int | None = None,
    ) -> None:
        super().__init__(C=C, max_iter=max_iter, random_state=random_state)
        self.tail_C = tail_C
        self.tail_width = tail_width
        self.tail_weight = tail_weight

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> TwoBlockLogitSum:  # noqa: N803
        matrix = sp.csr_matrix(X)
        split = matrix.shape[1] - self.tail_width
        if split <= 0:
            raise ValueError(f"{matrix.shape[1]} columns, tail_width {self.tail_width}")
        head = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.random_state)
        tail = LogisticRegression(
            C=self.tail_C, max_iter=self.max_iter, random_state=self.random_state
        )
        head.fit(matrix[:, :split], y, sample_weight=sample_weight)
        tail.fit(matrix[:, split:], y, sample_weight=sample_weight)
        self.coef_ = np.hstack([head.coef_, self.tail_weight * tail.coef_])
        self.intercept_ = head.intercept_ + self.tail_weight * tail.intercept_
        self.classes_ = head.classes_
        self.n_features_in_ = matrix.shape[1]
        self.n_iter_ = np.asarray([int(np.max(head.n_iter_)) + int(np.max(tail.n_iter_))])
        return self
