"""Every bad input is a 4xx with a JSON body that says what is wrong (never a 5xx)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from model_serving.app import create_app
from tests.unit.serving.conftest import wait_ready

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{", 422, "not valid JSON"),
        (b'{"text": "abc"', 422, "not valid JSON"),
        (b'\xff\xfe{"text": "abc"}', 400, "UTF-8"),
        (b'{"text": "caf\xc3"}', 400, "UTF-8"),
        (b"", 422, "missing"),
        (b"null", 422, "missing"),
        (b"[]", 422, "JSON object"),
        (b'"just a string"', 422, "JSON object"),
        (b"{}", 422, "exactly one"),
        (b'{"text": null}', 422, "exactly one"),
        (b'{"text": 3}', 422, "valid string"),
        (b'{"text": ["a"]}', 422, "valid string"),
        (b'{"text": ""}', 422, "empty"),
        (b'{"text": " \\n\\t "}', 422, "whitespace"),
        (b'{"texts": []}', 422, "at least 1"),
        (b'{"texts": "abc"}', 422, "valid list"),
        (b'{"texts": ["ok", null]}', 422, "valid string"),
        (b'{"texts": ["ok", "  "]}', 422, "texts[1]"),
        (b'{"text": "a", "texts": ["b"]}', 422, "exactly one"),
        (b'{"text": "a", "explain": "yes"}', 422, "boolean"),
        (b'{"text": "a", "surprise": 1}', 422, "Extra inputs"),
    ],
)
def test_bad_predict_bodies_are_described_4xx(
    client: TestClient, body: bytes, status: int, needle: str
) -> None:
    response = client.post("/v1/predict", content=body, headers=JSON)
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == {"error", "detail"}
    assert needle.lower() in response.text.lower()
    assert "Traceback" not in response.text


def test_body_without_json_content_type_is_explained(client: TestClient) -> None:
    response = client.post("/v1/predict", content=b'{"text": "a"}')
    assert response.status_code == 422
    assert "Content-Type: application/json" in response.json()["error"]


def test_over_long_text_and_oversized_batch(
    pipeline: Any, fake_source: Any, settings_factory: Any
) -> None:
    fake_source.publish("1", pipeline)
    settings = settings_factory(max_text_chars=50, max_batch_size=3)
    with TestClient(create_app(settings, source=fake_source)) as client:
        wait_ready(client)
        long = client.post("/v1/predict", json={"text": "x" * 51})
        assert long.status_code == 422
        assert "51 characters; the limit is 50" in long.json()["error"]
        batch = client.post("/v1/predict", json={"texts": ["a b c"] * 4})
        assert batch.status_code == 422
        assert "4 texts; the limit is 3" in batch.json()["error"]
        in_batch = client.post("/v1/predict", json={"texts": ["fine", "y" * 60]})
        assert "texts[1] has 60 characters" in in_batch.json()["error"]
        assert client.post("/v1/predict", json={"texts": ["a b", "c d", "e f"]}).status_code == 200


def test_body_over_byte_limit_is_refused_from_content_length(
    pipeline: Any, fake_source: Any, settings_factory: Any
) -> None:
    fake_source.publish("1", pipeline)
    with TestClient(create_app(settings_factory(max_body_bytes=1000), source=fake_source)) as c:
        wait_ready(c)
        response = c.post("/v1/predict", json={"text": "word " * 400})
        assert response.status_code == 413
        assert "1000 bytes" in response.json()["error"]
        assert c.post("/v1/predict", json={"text": "word " * 100}).status_code == 200


def test_streamed_body_over_byte_limit_is_refused_while_reading(
    pipeline: Any, fake_source: Any, settings_factory: Any
) -> None:
    """No Content-Length (chunked): the bytes are counted as they arrive."""
    fake_source.publish("1", pipeline)
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(1000):
            sent.append(1)
            yield b"word " * 20
        yield b'"}'

    with TestClient(create_app(settings_factory(max_body_bytes=2000), source=fake_source)) as c:
        wait_ready(c)
        response = c.post("/v1/predict", content=chunks(), headers=JSON)
        assert response.status_code == 413
        assert "2000 bytes" in response.json()["error"]


def test_invalid_content_length_header_is_400(client: TestClient) -> None:
    response = client.post(
        "/v1/predict", content=b'{"text": "a"}', headers={**JSON, "content-length": "abc"}
    )
    assert response.status_code == 400


def test_feedback_validation(client: TestClient) -> None:
    assert client.post("/v1/feedback", json={"prediction_id": "x"}).status_code == 422
    wrong_label = client.post("/v1/feedback", json={"prediction_id": "x", "label": "robot"})
    assert wrong_label.status_code == 422
    unknown = client.post("/v1/feedback", json={"prediction_id": "nope", "label": "ai"})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "unknown prediction_id"


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b'{"inputs": 3}',
        b'{"dataframe_split": {"columns": ["a", "b"], "data": [["x", "y"]]}}',
        b'{"dataframe_split": {"columns": ["text"], "data": [["x", "y"]]}}',
        b'{"dataframe_records": [1, 2]}',
        b'{"inputs": ["a"], "dataframe_records": [{"text": "b"}]}',
        b'{"inputs": [null]}',
        b'{"inputs": ["   "]}',
        b'{"inputs": []}',
        b'{"inputs": ["a"], "params": {"predict_fn": "explode"}}',
    ],
)
def test_bad_invocations_are_4xx(client: TestClient, body: bytes) -> None:
    response = client.post("/invocations", content=body, headers=JSON)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]


def test_unknown_route_and_method_are_json_4xx(client: TestClient) -> None:
    assert client.get("/nope").status_code == 404
    assert client.get("/nope").json()["error"]
    assert client.get("/v1/predict").status_code == 405
