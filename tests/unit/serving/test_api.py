"""The HTTP API against a fixture model: predictions, explanations, feedback, model info."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from model_monitoring.scope import DEFAULT_MIN_CHARS, DEFAULT_MIN_ROUTE_CHARS
from model_registry import contract
from model_serving.app import create_app
from tests.unit.serving.conftest import wait_ready


def test_single_prediction_matches_the_pipeline(
    client: TestClient, pipeline: Any, essays: list[str]
) -> None:
    response = client.post("/v1/predict", json={"text": essays[0]})
    assert response.status_code == 200
    body = response.json()
    expected = float(pipeline.predict_proba([essays[0]])[0, 1])
    assert body["probability_ai"] == pytest.approx(expected, abs=1e-9)
    assert body["label"] == ("ai" if expected >= 0.5 else "human")
    assert body["threshold"] == 0.5
    assert body["model_version"] == "1"
    assert len(body["prediction_id"]) == 32
    assert "explanation" not in body


def test_batch_predictions_are_in_order(
    client: TestClient, pipeline: Any, essays: list[str]
) -> None:
    response = client.post("/v1/predict", json={"texts": essays[:8]})
    assert response.status_code == 200
    got = [p["probability_ai"] for p in response.json()["predictions"]]
    np.testing.assert_allclose(got, pipeline.predict_proba(essays[:8])[:, 1], atol=1e-9)
    ids = {p["prediction_id"] for p in response.json()["predictions"]}
    assert len(ids) == 8


def test_threshold_tag_decides_the_label(
    pipeline: Any, fake_source: Any, settings_factory: Any, essays: list[str]
) -> None:
    fake_source.publish("1", pipeline, threshold="0.999")
    with TestClient(create_app(settings_factory(), source=fake_source)) as client:
        wait_ready(client)
        body = client.post("/v1/predict", json={"text": essays[0]}).json()
        assert body["threshold"] == 0.999
        assert body["label"] == ("ai" if body["probability_ai"] >= 0.999 else "human")


def test_explain_returns_weights_each_way(client: TestClient, essays: list[str]) -> None:
    body = client.post("/v1/predict", json={"text": essays[1], "explain": True}).json()
    explanation = body["explanation"]
    assert explanation["method"] == "coefficient_x_feature_value"
    assert explanation["towards_ai"] and explanation["towards_human"]
    assert all(c["weight"] > 0 for c in explanation["towards_ai"])
    assert all(c["weight"] < 0 for c in explanation["towards_human"])
    assert len(explanation["towards_ai"]) <= 10


def test_feedback_round_trip_updates_accuracy(client: TestClient, essays: list[str]) -> None:
    prediction = client.post("/v1/predict", json={"text": essays[2]}).json()
    other = "human" if prediction["label"] == "ai" else "ai"
    right = client.post(
        "/v1/feedback", json={"prediction_id": prediction["prediction_id"], "label": other}
    )
    assert right.status_code == 200
    assert right.json() == {
        "prediction_id": prediction["prediction_id"],
        "label": other,
        "predicted_label": prediction["label"],
        "correct": False,
    }
    metrics = client.get("/metrics").text
    assert 'detector_feedback_total{outcome="incorrect"} 1.0' in metrics
    assert "detector_feedback_accuracy 0.0" in metrics
    assert "detector_feedback_window_size 1.0" in metrics


def test_model_info(client: TestClient) -> None:
    body = client.get("/v1/model").json()
    assert body["name"] == contract.MODEL_NAME
    assert body["alias"] == contract.CHAMPION_ALIAS
    assert body["version"] == "1"
    assert body["run_id"] == "run-1"
    assert body["threshold"] == 0.5
    assert body["metrics"] == {"f1": 0.9}
    assert body["dataset_digest"] == "d1"
    assert body["loaded_at"]
    assert body["evaluation"] is None  # the fixture version has no per-domain evaluation
    assert body["scope"] == {
        "reference": False,
        "min_chars": DEFAULT_MIN_CHARS,
        "min_route_chars": DEFAULT_MIN_ROUTE_CHARS,
        "novelty_threshold": None,
    }


def test_invocations_speaks_the_mlflow_protocol(
    client: TestClient, pipeline: Any, essays: list[str]
) -> None:
    texts = essays[:3]
    expected_p = pipeline.predict_proba(texts)[:, 1]
    expected_labels = [int(p >= 0.5) for p in expected_p]
    bodies = [
        {"dataframe_split": {"columns": ["text"], "data": [[t] for t in texts]}},
        {"dataframe_split": {"columns": ["id", "text"], "data": [[1, t] for t in texts]}},
        {"dataframe_records": [{"text": t} for t in texts]},
        {"inputs": texts},
        {"inputs": {"text": texts}},
        {"instances": texts},
    ]
    for body in bodies:
        response = client.post("/invocations", json=body)
        assert response.status_code == 200, (body, response.text)
        assert response.json() == {"predictions": expected_labels}
    proba = client.post(
        "/invocations", json={"inputs": texts, "params": {"predict_fn": "predict_proba"}}
    ).json()["predictions"]
    np.testing.assert_allclose([row[1] for row in proba], expected_p, atol=1e-9)


def test_health_and_metrics_names(client: TestClient, essays: list[str]) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"ready": True, "model_version": "1", "reason": None}
    client.post("/v1/predict", json={"text": essays[0]})
    text = client.get("/metrics").text
    for name in (
        "detector_http_requests_total",
        "detector_http_request_duration_seconds_bucket",
        "detector_http_requests_in_flight",
        "detector_predictions_total",
        "detector_prediction_probability_bucket",
        "detector_input_length_chars_bucket",
        "detector_batch_size_bucket",
        'detector_model_info{alias="champion",name="ai-text-detector",'
        'run_id="run-1",version="1"} 1.0',
        "detector_model_loaded 1.0",
        'detector_model_reloads_total{result="success"} 1.0',
        "detector_prediction_log_queue_depth",
        "detector_prediction_log_written_total",
        "detector_prediction_log_dropped_total 0.0",
        "detector_feedback_total",
        "detector_feedback_accuracy",
        "detector_feedback_window_size",
    ):
        assert name in text, name
    assert 'route="/v1/predict"' in text
    assert "_created" not in text


def test_admin_reload_requires_the_token(client: TestClient) -> None:
    assert client.post("/admin/reload").status_code == 401
    bad = client.post("/admin/reload", headers={"authorization": "Bearer wrong"})
    assert bad.status_code == 401
    ok = client.post("/admin/reload", headers={"authorization": "Bearer secret-token"})
    assert ok.status_code == 200
    assert ok.json()["outcome"] == "unchanged"
    assert ok.json()["serving_version"] == "1"


def test_admin_disabled_without_token(
    pipeline: Any, fake_source: Any, settings_factory: Any
) -> None:
    fake_source.publish("1", pipeline)
    with TestClient(create_app(settings_factory(admin_token=None), source=fake_source)) as c:
        assert c.post("/admin/reload", headers={"authorization": "Bearer x"}).status_code == 403


@pytest.mark.parametrize(("setting", "expected"), [(0.0, None), (25.0, 25.0)])
def test_drift_sampling_rate_reaches_the_monitor(
    settings_factory: Any, fake_source: Any, setting: float, expected: float | None
) -> None:
    from model_serving.wiring import build_state

    settings = settings_factory(drift_enabled=True, drift_max_observations_per_second=setting)
    state = build_state(settings, fake_source)
    assert state.drift is not None
    assert state.drift.max_observations_per_second == expected


def test_predict_body_omits_absent_explanation(client: TestClient, essays: list[str]) -> None:
    body = client.post("/v1/predict", json={"text": essays[0]})
    assert body.headers["content-type"] == "application/json"
    assert set(body.json()) == {
        "label",
        "probability_ai",
        "threshold",
        "human_below",
        "threshold_domain",
        "model_version",
        "prediction_id",
        "in_scope",
        "scope_reason",
    }


def test_fast_path_and_fastapi_route_give_the_same_answers(
    client: TestClient, essays: list[str]
) -> None:
    """JSON bodies take the fast path; another JSON content type goes through the FastAPI route."""
    import json

    body = {"texts": essays[:3]}
    fast = client.post("/v1/predict", json=body).json()["predictions"]
    routed = client.post(
        "/v1/predict",
        content=json.dumps(body),
        headers={"content-type": "application/vnd.detector+json"},
    ).json()["predictions"]
    for a, b in zip(fast, routed, strict=True):
        assert a.keys() == b.keys() and a["prediction_id"] != b["prediction_id"]
        assert a["probability_ai"] == pytest.approx(b["probability_ai"], abs=1e-12)
    counted = [
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("detector_http_requests_total{") and "/v1/predict" in line
    ]
    assert counted == [
        'detector_http_requests_total{method="POST",route="/v1/predict",status="200"} 2.0'
    ], counted


def test_fast_path_hands_explain_and_errors_to_the_route(
    client: TestClient, essays: list[str]
) -> None:
    explained = client.post("/v1/predict", json={"text": essays[0], "explain": True})
    assert explained.status_code == 200 and explained.json()["explanation"]["towards_ai"]
    empty = client.post("/v1/predict", json={"text": "   "})
    assert empty.status_code == 422 and "whitespace" in str(empty.json()["detail"])
