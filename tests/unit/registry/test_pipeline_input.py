"""The model pipeline scores the texts whatever container MLflow passes (the DataFrame trap)."""

from __future__ import annotations

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from model_registry import pipeline_input
from model_registry.candidates import CANDIDATES, FEATURE_FACTORIES, build_pipeline
from model_registry.linear_scorer import linear_weights
from tests.support.model_fixtures import sample


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return sample(200)


@pytest.mark.parametrize("name", sorted(CANDIDATES))
def test_every_candidate_scores_texts_from_any_container(name: str, data: pd.DataFrame) -> None:
    spec = CANDIDATES[name]
    texts, labels = data["text"].tolist(), data["generated"].to_numpy()
    # Labels as training passes them (only the supervised LM block reads them).
    features = {f: FEATURE_FACTORIES[f]().fit(texts, labels) for f in spec.features}
    pipeline = build_pipeline(features, spec, spec.make_classifier(spec.default_params, 0))
    pipeline.fit(texts, labels)  # refits the extractors too; fine for this test
    expected = pipeline.predict_proba(texts[:5])[:, 1]
    containers = [
        pd.DataFrame({"text": texts[:5]}),
        pd.DataFrame({"text": texts[:5], "other": range(5)}),
        pd.Series(texts[:5]),
        np.asarray(texts[:5], dtype=object),
        np.asarray(texts[:5], dtype=object).reshape(-1, 1),
        tuple(texts[:5]),
    ]
    for container in containers:
        assert np.allclose(pipeline.predict_proba(container)[:, 1], expected)
    # Not the column name scored for every row (the measured trap): probabilities differ.
    assert np.ptp(expected) > 0.01
    weights, _ = linear_weights(pipeline[-1])
    assert weights.shape == (len(pipeline[:-1].get_feature_names_out()),)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="single string"):
        pipeline_input.to_text_list("one text")
    with pytest.raises(ValueError, match="'text' column"):
        pipeline_input.to_text_list(pd.DataFrame({"a": ["x"], "b": ["y"]}))


def test_text_column_is_pickled_by_value() -> None:
    cloudpickle.register_pickle_by_value(pipeline_input)
    try:
        payload = cloudpickle.dumps(pipeline_input.TextColumn())
    finally:
        cloudpickle.unregister_pickle_by_value(pipeline_input)
    assert b"to_text_list" in payload  # the code travels with the model
