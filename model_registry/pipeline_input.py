"""The first step of every model pipeline: turn whatever MLflow hands over into a list of texts.

``TfidfVectorizer`` iterates over its input; given a DataFrame it iterates over the *column
names* and silently scores the word "text" for every row, with no error (what a model logged
with a DataFrame signature does under ``mlflow models serve``). ``TextColumn`` accepts a list,
tuple, Series, 1-D or single-column 2-D array, or a DataFrame (its ``text`` column, or its only
column) and yields a list of ``str``.

This module is pickled *by value* into each model artifact
(``cloudpickle.register_pickle_by_value``), so a model loads anywhere scikit-learn does, with or
without this package installed. Keep it small and free of imports beyond numpy and scikit-learn
(pandas is not needed to load or run a model).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


def to_text_list(values: Any, column: str = "text") -> list[str]:
    """The texts in ``values`` as a list of ``str`` (missing values become ``""``)."""
    if isinstance(values, str | bytes):
        raise ValueError("expected a sequence of texts, got a single string")
    if hasattr(values, "columns") and hasattr(values, "iloc"):  # a DataFrame (pandas or alike)
        columns = list(values.columns)
        if column in columns:
            values = values[column]
        elif len(columns) == 1:
            values = values.iloc[:, 0]
        else:
            raise ValueError(f"expected a '{column}' column, got columns {columns}")
    if isinstance(values, np.ndarray) and values.ndim == 2:
        if values.shape[1] != 1:
            raise ValueError(f"expected one column of texts, got shape {values.shape}")
        values = values[:, 0]
    return ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in values]


class TextColumn(TransformerMixin, BaseEstimator):
    """Stateless transformer: any tabular or sequence input to a list of texts."""

    def __init__(self, column: str = "text") -> None:
        self.column = column

    def fit(self, X: Any, y: Any = None) -> TextColumn:  # noqa: N803 (scikit-learn API)
        return self

    def transform(self, X: Any) -> list[str]:  # noqa: N803
        return to_text_list(X, self.column)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([self.column], dtype=object)

    def __sklearn_is_fitted__(self) -> bool:
        return True
