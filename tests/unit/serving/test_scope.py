"""Every prediction says whether the text is in the model's scope; out of scope it is 'uncertain'.

The scope checks themselves are ``model_monitoring.scope`` (tested there); here: that serving
runs them with the version's own reference, answers and counts them, logs them, leaves
``/invocations`` unchanged, and shows the version's evaluation in ``GET /v1/model``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from model_monitoring.scope import (
    FEATURE_NAMES,
    DomainProfile,
    ScopeReference,
    build_scope_reference,
)
from model_serving.prediction_log.schema import predictions_table

SHORT = "Too short to judge, says the scope check."
FRENCH = (
    "Le comité a examiné la proposition pendant plusieurs semaines et a demandé un budget plus "
    "clair avant de rendre sa décision. Les membres ont rappelé que les dépenses prévues pour "
    "la rénovation de la bibliothèque municipale dépassaient largement les estimations faites "
    "au printemps, et que les habitants du quartier attendaient des réponses précises sur le "
    "calendrier des travaux ainsi que sur la fermeture temporaire des salles de lecture."
)
EVALUATION = {
    "threshold": 0.5,
    "fpr_target": 0.01,
    "domains": {"student_essay": {"n_human": 10, "n_ai": 10, "f1": 0.97, "roc_auc": 0.99}},
}


def far_away_reference() -> ScopeReference:
    """A training domain no real text resembles: every English text of length is 'unlike'."""
    n = len(FEATURE_NAMES)
    return ScopeReference(
        domains={"elsewhere": DomainProfile(n_texts=10, mean=(1000.0,) * n, sd=(1.0,) * n)}
    )


@pytest.mark.parametrize("path_headers", ["application/json", "application/vnd.detector+json"])
def test_out_of_scope_texts_are_uncertain_with_the_probability_unchanged(
    client: TestClient, pipeline: Any, essays: list[str], path_headers: str
) -> None:
    texts = [essays[0], SHORT, FRENCH]
    response = client.post(
        "/v1/predict",
        content=json.dumps({"texts": texts}),
        headers={"content-type": path_headers},
    )
    assert response.status_code == 200, response.text
    got = response.json()["predictions"]
    expected = pipeline.predict_proba(texts)[:, 1]
    np.testing.assert_allclose([p["probability_ai"] for p in got], expected, atol=1e-9)
    assert got[0]["in_scope"] is True and got[0]["scope_reason"] is None
    assert got[0]["label"] == ("ai" if expected[0] >= 0.5 else "human")
    assert [(p["label"], p["in_scope"], p["scope_reason"]) for p in got[1:]] == [
        ("uncertain", False, "too_short"),
        ("uncertain", False, "not_english"),
    ]
    assert all(p["model_version"] == "1" for p in got)


def test_out_of_scope_is_counted_and_logged_with_the_models_own_label(
    serve: Any, tmp_path: Path
) -> None:
    with serve(database_url=f"sqlite:///{tmp_path / 'log.db'}") as client:
        body = client.post("/v1/predict", json={"text": SHORT}).json()
        metrics = client.get("/metrics").text
        assert 'detector_out_of_scope_total{reason="too_short"} 1.0' in metrics
        assert 'detector_out_of_scope_total{reason="not_english"} 0.0' in metrics
        model_label = "ai" if body["probability_ai"] >= 0.5 else "human"
        assert f'detector_predictions_total{{label="{model_label}",model_version="1"}} 1.0' in (
            metrics
        )
        feedback = client.post(
            "/v1/feedback", json={"prediction_id": body["prediction_id"], "label": model_label}
        )
        assert feedback.json()["correct"] is True  # judged against the model's label
    with create_engine(f"sqlite:///{tmp_path / 'log.db'}").connect() as conn:
        row = conn.execute(
            select(
                predictions_table.c.label,
                predictions_table.c.in_scope,
                predictions_table.c.scope_reason,
            )
        ).one()
    assert tuple(row) == (model_label, False, "too_short")


def test_invocations_answers_are_unchanged_out_of_scope(client: TestClient, pipeline: Any) -> None:
    texts = [SHORT, FRENCH]
    expected = pipeline.predict_proba(texts)[:, 1]
    labels = client.post("/invocations", json={"inputs": texts}).json()["predictions"]
    assert labels == [int(p >= 0.5) for p in expected]
    rows = client.post(
        "/invocations", json={"inputs": texts, "params": {"predict_fn": "predict_proba"}}
    ).json()["predictions"]
    np.testing.assert_allclose([row[1] for row in rows], expected, atol=1e-9)


def test_the_versions_scope_reference_decides_unlike_training_data(
    serve: Any, essays: list[str]
) -> None:
    with serve(publish={"scope_reference": far_away_reference()}) as client:
        body = client.post("/v1/predict", json={"text": essays[0]}).json()
        assert (body["label"], body["scope_reason"]) == ("uncertain", "unlike_training_data")
        scope = client.get("/v1/model").json()["scope"]
        assert scope["reference"] is True and scope["novelty_threshold"] > 0


def test_a_reference_built_from_the_training_texts_keeps_them_in_scope(
    serve: Any, essays: list[str]
) -> None:
    reference = build_scope_reference(essays, ["student_essay"] * len(essays))
    with serve(publish={"scope_reference": reference}) as client:
        got = client.post("/v1/predict", json={"texts": essays[:5]}).json()["predictions"]
        assert sum(p["in_scope"] for p in got) >= 4, got


def test_model_info_shows_the_versions_evaluation(serve: Any) -> None:
    with serve(publish={"evaluation": EVALUATION}) as client:
        info = client.get("/v1/model").json()
        assert info["evaluation"] == EVALUATION
        assert info["version"] == "1"
