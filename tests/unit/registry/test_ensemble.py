"""The two-block ensemble is exactly the sum of two logistic regressions, and stays compilable."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from model_registry.candidates import CANDIDATES, style_features, word_features
from model_registry.ensemble import TwoBlockLogitSum
from model_registry.linear_scorer import MAX_ABS_DIFFERENCE, compile_linear_scorer, linear_weights
from model_registry.pipeline_input import TextColumn
from model_registry.style_features import feature_names
from tests.support.model_fixtures import sample


def test_log_odds_are_the_sum_of_the_two_blocks() -> None:
    rng = np.random.default_rng(0)
    x = sp.csr_matrix(rng.normal(size=(300, 8)))
    y = (x[:, 0].toarray().ravel() + x[:, 7].toarray().ravel() > 0).astype(int)
    model = TwoBlockLogitSum(C=2.0, tail_C=0.5, tail_width=3).fit(x, y)
    head = LogisticRegression(C=2.0, max_iter=3000).fit(x[:, :5], y)
    tail = LogisticRegression(C=0.5, max_iter=3000).fit(x[:, 5:], y)
    expected = head.decision_function(x[:, :5]) + tail.decision_function(x[:, 5:])
    np.testing.assert_allclose(model.decision_function(x), expected, rtol=1e-6, atol=1e-8)
    weights, intercept = linear_weights(model)
    np.testing.assert_allclose(x @ weights + intercept, expected, rtol=1e-6, atol=1e-8)


def test_the_candidate_pipeline_compiles_to_the_same_probabilities() -> None:
    frame = sample(300, seed=5)
    spec = CANDIDATES["word_style_stack"]
    pipeline = Pipeline(
        [
            ("text", TextColumn()),
            ("features", FeatureUnion([("word", word_features()), ("style", style_features())])),
            ("clf", spec.make_classifier(spec.default_params, 0)),
        ]
    ).fit(frame["text"].tolist(), frame["generated"].tolist())
    assert pipeline[-1].tail_width == len(feature_names())
    scorer = compile_linear_scorer(pipeline)
    assert scorer is not None
    texts = sample(60, seed=9)["text"].tolist()
    difference = np.abs(scorer.predict_proba(texts) - pipeline.predict_proba(texts)).max()
    assert difference <= MAX_ABS_DIFFERENCE
