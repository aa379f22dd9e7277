"""No input stops the prediction log; feedback once per prediction; per-client rate limits;
no exception text in answers (issue 14, serving items)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select

from model_serving.prediction_log.schema import predictions_table
from tests.support.servers import free_port

JSON = {"content-type": "application/json"}
ROUTE_ONLY = {"content-type": "application/vnd.detector+json"}  # not the fast path's type


def logged_ids(database_url: str) -> set[str]:
    with create_engine(database_url).connect() as conn:
        return set(conn.execute(select(predictions_table.c.id)).scalars())


@pytest.mark.parametrize("headers", [JSON, ROUTE_ONLY], ids=["fast_path", "route"])
def test_a_lone_surrogate_is_400_and_the_log_keeps_flowing(
    serve: Any, tmp_path: Path, headers: dict[str, str]
) -> None:
    """The issue's reproduction: with texts stored, one such request stopped every later row."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    ids = []
    with serve(database_url=url, store_text=True) as client:
        bad = client.post("/v1/predict", content=b'{"text": "a \\ud800"}', headers=headers)
        assert bad.status_code == 400, bad.text
        invocation = client.post("/invocations", content=b'{"inputs": ["a \\ud800"]}', headers=JSON)
        assert invocation.status_code == 400, invocation.text
        for i in range(20):
            response = client.post(
                "/v1/predict", content=json.dumps({"text": f"text number {i}"}), headers=headers
            )
            assert response.status_code == 200
            ids.append(response.json()["prediction_id"])
    assert set(ids) <= logged_ids(url)


def test_feedback_is_accepted_once_per_prediction(client: TestClient, essays: list[str]) -> None:
    prediction = client.post("/v1/predict", json={"text": essays[3]}).json()
    body = {"prediction_id": prediction["prediction_id"], "label": "ai"}
    assert client.post("/v1/feedback", json=body).status_code == 200
    again = client.post("/v1/feedback", json={**body, "label": "human"})
    assert again.status_code == 409, again.text
    assert again.json()["error"] == "this prediction already has feedback"
    assert "detector_feedback_window_size 1.0" in client.get("/metrics").text


def test_feedback_repeat_is_refused_after_a_restart(serve: Any, essays: list[str]) -> None:
    """The database, not only this process's memory, knows which predictions have feedback."""
    with serve() as first:
        prediction_id = first.post("/v1/predict", json={"text": essays[4]}).json()["prediction_id"]
        body = {"prediction_id": prediction_id, "label": "human"}
        assert first.post("/v1/feedback", json=body).status_code == 200
    with serve() as second:
        assert second.post("/v1/feedback", json=body).status_code == 409


def test_an_id_whose_row_was_dropped_is_not_remembered(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Feedback on it would reference a row that never exists (a foreign-key violation)."""
    with serve() as client:
        writer = client.app.state.serving.writer
        with monkeypatch.context() as patch:
            patch.setattr(writer, "submit", lambda row: False)  # the queue is full
            dropped = client.post("/v1/predict", json={"text": "second text"}).json()
        refused = client.post(
            "/v1/feedback", json={"prediction_id": dropped["prediction_id"], "label": "ai"}
        )
        assert refused.status_code == 404, refused.text
        assert writer.rejected == 0


def test_database_errors_do_not_reach_the_client(serve: Any) -> None:
    down = f"mysql+pymysql://root@127.0.0.1:{free_port()}/nowhere"
    with serve(database_url=down) as client:
        response = client.post("/v1/feedback", json={"prediction_id": "f" * 32, "label": "ai"})
        assert response.status_code == 503
        assert response.json() == {"error": "prediction log database unavailable", "detail": None}


@pytest.mark.parametrize("headers", [JSON, ROUTE_ONLY], ids=["fast_path", "route"])
def test_predict_is_rate_limited_per_client(serve: Any, headers: dict[str, str]) -> None:
    with serve(
        rate_limit_predict_per_second=0.2,
        rate_limit_predict_burst=3,
        rate_limit_client_header="X-Forwarded-For",
    ) as client:
        body = json.dumps({"text": "some text"})

        def post(who: str) -> Any:
            return client.post(
                "/v1/predict", content=body, headers={**headers, "x-forwarded-for": who}
            )

        assert [post("10.0.0.1").status_code for _ in range(3)] == [200, 200, 200]
        limited = post("10.0.0.1")
        assert limited.status_code == 429, limited.text
        assert limited.headers["retry-after"] == "5"
        assert set(limited.json()) == {"error", "detail"}
        assert post("10.0.0.2").status_code == 200  # another client has its own share
        invocation = client.post(
            "/invocations",
            json={"inputs": ["x y"]},
            headers={"x-forwarded-for": "10.0.0.1"},
        )
        assert invocation.status_code == 429
        assert 'detector_rate_limited_total{route="/v1/predict"} 1.0' in client.get("/metrics").text


def test_feedback_is_rate_limited_per_client(serve: Any) -> None:
    with serve(rate_limit_feedback_per_second=0.5, rate_limit_feedback_burst=2) as client:
        body = {"prediction_id": "0" * 32, "label": "ai"}
        assert [client.post("/v1/feedback", json=body).status_code for _ in range(2)] == [404, 404]
        limited = client.post("/v1/feedback", json=body)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "2"


# --- property: whatever JSON arrives, every accepted prediction reaches the database -----------

#: Any code point, lone surrogates included (``characters()`` leaves them out unless asked).
any_char = st.characters() | st.characters(
    min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"]
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(any_char, max_size=30),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["text", "texts", "explain", "inputs", "x"]), children)
    ),
    max_leaves=8,
)
any_text = st.text(any_char, min_size=1, max_size=60)
bodies = st.one_of(
    json_values.map(json.dumps),
    any_text.map(lambda t: json.dumps({"text": t})),
    st.lists(any_text, min_size=1, max_size=4).map(lambda ts: json.dumps({"texts": ts})),
    st.lists(any_text, min_size=1, max_size=4).map(lambda ts: json.dumps({"inputs": ts})),
)


def test_every_accepted_prediction_reaches_the_database(serve: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    accepted: list[str] = []
    invocation_rows = [0]
    with serve(database_url=url, store_text=True, max_batch_size=8) as client:

        @given(body=bodies)
        @settings(
            max_examples=150,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def send(body: str) -> None:
            raw = body.encode("utf-8")  # json.dumps escapes every non-ASCII character
            for path, headers in (
                ("/v1/predict", JSON),
                ("/v1/predict", ROUTE_ONLY),
                ("/invocations", JSON),
            ):
                response = client.post(path, content=raw, headers=headers)
                assert response.status_code < 500, (path, body, response.text)
                if response.status_code != 200:
                    continue
                payload = response.json()
                if path == "/invocations":
                    invocation_rows[0] += len(payload["predictions"])
                    continue
                for item in payload.get("predictions", [payload]):
                    accepted.append(item["prediction_id"])

        send()
    assert accepted, "the strategy produced no valid request"
    logged = logged_ids(url)
    assert set(accepted) <= logged
    assert len(logged) == len(accepted) + invocation_rows[0]


@pytest.mark.parametrize(
    "body",
    [
        b'{"prediction_id": ' + b"[" * 5000 + b"]" * 5000 + b', "label": "ai"}',
        b"[" * 100_000,
    ],
)
def test_deeply_nested_feedback_is_400_not_500(client: TestClient, body: bytes) -> None:
    response = client.post("/v1/feedback", content=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "request body nests JSON too deeply", "detail": None}
