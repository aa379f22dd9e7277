"""Serving against the real stack: MLflow server (MariaDB + S3 store) and MariaDB prediction log.

The service runs as a real subprocess (``python -m model_serving``). Each test uses its own
registered model name, so other tests' champions never interfere.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from sqlalchemy import create_engine, select

from model_serving.prediction_log.schema import feedback_table, predictions_table
from tests.conftest import service_or_skip
from tests.support.load_threads import ThreadedLoad
from tests.support.model_fixtures import register_small_model, sample
from tests.support.servers import ServerProcess, wait_until
from tests.support.serving_servers import metric, start_serving

pytestmark = pytest.mark.timeout(300)


def wrong_labels_pipeline() -> Pipeline:
    """Registers fine (predict_proba has two columns) but its classes are [0, 2]: refused."""
    data = sample(40, seed=2)
    labels = [2 * int(y) for y in data["generated"]]
    return Pipeline([("tfidf", TfidfVectorizer()), ("clf", DummyClassifier())]).fit(
        data["text"].tolist(), labels
    )


class Load(ThreadedLoad):
    """Threads posting single texts until stopped; every status and version recorded."""

    def __init__(self, url: str, texts: list[str], threads: int = 4) -> None:
        super().__init__(threads)
        self.url = url
        self.texts = texts
        self.statuses: list[int] = []
        self.versions: list[str] = []
        self.errors: list[str] = []

    def _run(self, offset: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            i = offset
            while not self._stop.is_set():
                try:
                    response = client.post("/v1/predict", json={"text": self.texts[i % 50]})
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                    continue
                self.statuses.append(response.status_code)
                if response.status_code == 200:
                    self.versions.append(response.json()["model_version"])
                i += 1


@pytest.fixture
def model_name() -> str:
    return f"serving-it-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def serving(
    mlflow_env: dict[str, str], model_name: str, server_logs: Path, request: Any
) -> Iterator[dict[str, Any]]:
    """Settings for a serving process on ``model_name``; the test starts it (stopped after)."""
    started: list[ServerProcess] = []

    def start(**extra: str) -> ServerProcess:
        env = {
            **mlflow_env,
            "SERVING_MODEL_NAME": model_name,
            "SERVING_POLL_INTERVAL_SECONDS": "0.5",
            "SERVING_RETRY_MIN_SECONDS": "0.2",
            "SERVING_RETRY_MAX_SECONDS": "1",
            **extra,
        }
        name = f"serving-{request.node.name[:40]}"
        server = service_or_skip(lambda: start_serving(env, server_logs, name=name))
        started.append(server)
        return server

    yield {"start": start, "tracking_uri": mlflow_env["MLFLOW_TRACKING_URI"]}
    for server in started:
        server.stop()


def test_ready_only_with_a_champion_hot_swap_under_load_and_broken_version_refused(
    serving: dict[str, Any], model_name: str
) -> None:
    server = serving["start"]()
    url, uri = server.url, serving["tracking_uri"]
    assert httpx.get(f"{url}/healthz").status_code == 200
    not_ready = httpx.get(f"{url}/readyz")
    assert not_ready.status_code == 503, not_ready.text
    assert not_ready.json()["reason"]
    refused = httpx.post(f"{url}/v1/predict", json={"text": "An essay about cars."})
    assert refused.status_code == 503 and refused.json()["detail"]

    first = register_small_model(uri, model_name=model_name, n_train=300, seed=1)
    wait_until(http_ok_json(f"{url}/readyz"), timeout=60, what="ready after champion")
    info = httpx.get(f"{url}/v1/model").json()
    assert info["version"] == first and info["name"] == model_name
    assert info["threshold"] == 0.5 and "f1" in info["metrics"]
    assert info["scoring"] == "compiled"  # a word TF-IDF + LR pipeline, loaded from the registry

    texts = sample(50, seed=11)["text"].tolist()
    with Load(url, texts) as load:
        wait_until(lambda: len(load.statuses) > 30, timeout=60, what="load on v1")
        second = register_small_model(uri, model_name=model_name, n_train=300, seed=2)
        wait_until(lambda: second in load.versions[-20:], timeout=60, what="swap to v2")
        seen = len(load.statuses)
        wait_until(lambda: len(load.statuses) > seen + 30, timeout=60, what="load on v2")
    assert load.errors == []
    assert load.statuses and set(load.statuses) == {200}, sorted(set(load.statuses))
    assert set(load.versions) == {first, second}

    broken = register_small_model(
        uri, model_name=model_name, n_train=40, seed=3, pipeline=wrong_labels_pipeline()
    )
    reloads = 'detector_model_reloads_total{result="refused"}'
    wait_until(lambda: metric(url, reloads) == 1.0, timeout=60, what="refusal")
    body = httpx.post(f"{url}/v1/predict", json={"text": texts[0]}).json()
    assert body["model_version"] == second != broken
    token = {"authorization": f"Bearer {server.extra['admin_token']}"}
    reload = httpx.post(f"{url}/admin/reload", headers=token, timeout=60).json()
    assert reload == {
        "outcome": "refused",
        "version": broken,
        "reason": reload["reason"],
        "serving_version": second,
    }
    assert "classes" in reload["reason"]
    assert metric(url, 'detector_model_reloads_total{result="success"}') == 2.0
    assert metric(url, "detector_model_loaded") == 1.0


def http_ok_json(url: str) -> Callable[[], bool]:
    return lambda: httpx.get(url, timeout=5).status_code == 200


def test_feedback_and_prediction_log_in_mariadb_survive_a_clean_shutdown(
    serving: dict[str, Any], model_name: str, own_mariadb_url: str
) -> None:
    mariadb_url = own_mariadb_url  # the session's database also holds other tests' predictions
    version = register_small_model(serving["tracking_uri"], model_name=model_name, n_train=300)
    server = serving["start"](SERVING_DATABASE_URL=mariadb_url, SERVING_WORKERS="2")
    url = server.url
    wait_until(http_ok_json(f"{url}/readyz"), timeout=90, what="ready")
    texts = sample(60, seed=12)["text"].tolist()
    ids: list[str] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for text in texts[:40]:
            response = client.post("/v1/predict", json={"text": text})
            assert response.status_code == 200
            ids.append(response.json()["prediction_id"])
        batch = client.post("/v1/predict", json={"texts": texts[40:]}).json()["predictions"]
        ids += [p["prediction_id"] for p in batch]
        invoked = client.post("/invocations", json={"inputs": texts[:2]})
        assert invoked.status_code == 200 and len(invoked.json()["predictions"]) == 2
        first = client.post("/v1/predict", json={"text": texts[0]}).json()
        ids.append(first["prediction_id"])
        feedback = client.post(
            "/v1/feedback", json={"prediction_id": first["prediction_id"], "label": "ai"}
        )
        assert feedback.status_code == 200, feedback.text
        assert feedback.json()["correct"] == (first["label"] == "ai")
        unknown = client.post("/v1/feedback", json={"prediction_id": "0" * 32, "label": "ai"})
        assert unknown.status_code == 404
        metrics_text = client.get("/metrics").text
    # Both workers' counters are summed in multiprocess mode.
    assert f'detector_predictions_total{{label="ai",model_version="{version}"}}' in metrics_text
    assert "detector_http_requests_in_flight" in metrics_text
    server.stop(timeout=60)
    assert server.process.returncode is not None

    engine = create_engine(mariadb_url)
    with engine.connect() as conn:
        logged = {
            row.id: row
            for row in conn.execute(
                select(
                    predictions_table.c.id,
                    predictions_table.c.model_version,
                    predictions_table.c.text,
                    predictions_table.c.text_length,
                )
            )
        }
        feedback_rows = conn.execute(select(feedback_table)).all()
    engine.dispose()
    assert set(ids) <= set(logged), f"{len(set(ids) - set(logged))} predictions not logged"
    assert len(logged) == len(ids) + 2  # + the two /invocations rows
    assert all(row.model_version == version and row.text is None for row in logged.values())
    assert logged[ids[0]].text_length == len(texts[0])
    assert [(r.prediction_id, r.label) for r in feedback_rows] == [(first["prediction_id"], "ai")]


def test_scope_reference_and_evaluation_come_from_the_versions_run(
    serving: dict[str, Any], model_name: str
) -> None:
    """The run that logged the model holds the scope reference and the per-domain evaluation;
    serving loads both with the model and answers with them (a version without them serves too,
    as the other tests show)."""
    import json

    from mlflow import MlflowClient

    from model_monitoring.scope import build_scope_reference
    from model_registry import contract

    uri = serving["tracking_uri"]
    version = register_small_model(uri, model_name=model_name, n_train=300, alias=None)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run_id = client.get_model_version(model_name, version).run_id
    assert run_id is not None
    texts = sample(60, seed=13)["text"].tolist()
    reference = build_scope_reference(texts, [contract.DEFAULT_DOMAIN] * len(texts))
    evaluation = {"threshold": 0.5, "domains": {contract.DEFAULT_DOMAIN: {"f1": 0.97}}}
    client.log_text(run_id, reference.to_json(), contract.SCOPE_REFERENCE_ARTIFACT)
    client.log_text(run_id, json.dumps(evaluation), contract.EVALUATION_BY_DOMAIN_ARTIFACT)
    client.set_registered_model_alias(model_name, contract.CHAMPION_ALIAS, version)

    url = serving["start"]().url
    wait_until(http_ok_json(f"{url}/readyz"), timeout=90, what="ready")
    info = httpx.get(f"{url}/v1/model").json()
    assert info["version"] == version
    assert info["evaluation"] == evaluation
    assert info["scope"]["reference"] is True
    short = httpx.post(f"{url}/v1/predict", json={"text": "Too short."}).json()
    assert (short["label"], short["in_scope"], short["scope_reason"]) == (
        "uncertain",
        False,
        "too_short",
    )
    assert metric(url, 'detector_out_of_scope_total{reason="too_short"}') == 1.0
