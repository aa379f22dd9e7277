"""Explanations: contribution = weight x feature value, for linear, NB and union pipelines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from model_serving.explain import Explainer
from tests.support.model_fixtures import sample


@pytest.fixture(scope="module")
def data() -> tuple[list[str], list[int]]:
    frame = sample(200, seed=3)
    return frame["text"].tolist(), frame["generated"].tolist()


def _fit(steps: list[tuple[str, Any]], data: tuple[list[str], list[int]]) -> Pipeline:
    return Pipeline(steps).fit(*data)


def test_linear_contributions_are_coefficient_times_tfidf(data: Any) -> None:
    pipeline = _fit([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression())], data)
    text = data[0][0]
    explanation = Explainer(pipeline).explain([text], top_k=5)[0]
    assert explanation.method == "coefficient_x_feature_value"
    vector = pipeline[0].transform([text]).toarray()[0]
    contributions = vector * pipeline[-1].coef_[0]
    names = pipeline[0].get_feature_names_out()
    top = np.argsort(contributions)[::-1][:5]
    assert [c.feature for c in explanation.towards_ai] == [names[i] for i in top]
    assert explanation.towards_ai[0].weight == pytest.approx(contributions[top[0]], abs=1e-6)
    bottom = np.argsort(contributions)[:5]
    assert [c.feature for c in explanation.towards_human] == [names[i] for i in bottom]
    # sum of all contributions + intercept is the decision function
    assert contributions.sum() + pipeline[-1].intercept_[0] == pytest.approx(
        pipeline.decision_function([text])[0]
    )


def test_naive_bayes_uses_log_probability_ratio(data: Any) -> None:
    pipeline = _fit([("counts", CountVectorizer()), ("nb", MultinomialNB())], data)
    explanation = Explainer(pipeline).explain([data[0][1]], top_k=3)[0]
    assert explanation.method == "log_probability_ratio_x_feature_value"
    assert len(explanation.towards_ai) == 3
    assert all(c.weight > 0 for c in explanation.towards_ai)


def test_feature_union_names_are_prefixed(data: Any) -> None:
    union = FeatureUnion(
        [
            ("word", TfidfVectorizer()),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3))),
        ]
    )
    pipeline = _fit([("features", union), ("svm", LinearSVC())], data)
    explanation = Explainer(pipeline).explain([data[0][2]], top_k=10)[0]
    features = [c.feature for c in explanation.towards_ai + explanation.towards_human]
    assert features and all(f.startswith(("word__", "char__")) for f in features)


def test_calibrated_linear_model(data: Any) -> None:
    calibrated = CalibratedClassifierCV(LinearSVC(), cv=2)
    pipeline = _fit([("tfidf", TfidfVectorizer()), ("clf", calibrated)], data)
    explanation = Explainer(pipeline).explain([data[0][0]], top_k=3)[0]
    assert explanation.method == "mean_calibrated_coefficient_x_feature_value"


def test_other_classifiers_are_unavailable_not_errors(data: Any) -> None:
    pipeline = _fit(
        [("tfidf", TfidfVectorizer()), ("rf", RandomForestClassifier(n_estimators=3))], data
    )
    explanation = Explainer(pipeline).explain([data[0][0]], top_k=3)[0]
    assert explanation.method == "unavailable"
    assert explanation.towards_ai == explanation.towards_human == []


def test_text_without_known_features_has_empty_lists(data: Any) -> None:
    pipeline = _fit([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression())], data)
    explanation = Explainer(pipeline).explain(["qqqzzz xxyyzz"], top_k=3)[0]
    assert explanation.towards_ai == [] and explanation.towards_human == []
