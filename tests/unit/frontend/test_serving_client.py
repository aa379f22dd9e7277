"""The HTTP client: typed answers and one clear error type per kind of failure."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from frontend.serving_client import (
    BadInput,
    NoModelYet,
    PredictionNotFound,
    ServingClient,
    ServingUnavailable,
    UnexpectedResponse,
)
from tests.unit.frontend.fake_serving import FakeServing


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> ServingClient:
    return ServingClient("http://serving.test/", transport=httpx.MockTransport(handler))


def _answer(status: int, body: object) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str | bytes):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body)

    return handler


def test_predict_with_explanation_is_typed() -> None:
    fake = FakeServing()
    prediction = _client(fake.handle).predict("Additionally, yes.", explain=True)

    assert prediction.label == "ai"
    assert prediction.probability_ai == pytest.approx(0.91)
    assert prediction.model_version == "7"
    assert prediction.explanation is not None
    assert prediction.explanation.towards_ai[0].feature == "additionally"
    assert fake.requests[0][2] == {"text": "Additionally, yes.", "explain": True}


def test_batch_keeps_order_and_checks_the_count() -> None:
    fake = FakeServing()
    predictions = _client(fake.handle).predict_batch(["dont", "additionally", "dont"])
    assert [p.label for p in predictions] == ["human", "ai", "human"]

    one_short = _answer(200, {"predictions": []})
    with pytest.raises(UnexpectedResponse, match="0 predictions for 1 texts"):
        _client(one_short).predict_batch(["x"])


def test_feedback_round_trip_and_unknown_id() -> None:
    fake = FakeServing()
    client = _client(fake.handle)
    prediction = client.predict("dont")

    receipt = client.send_feedback(prediction.prediction_id, "human")

    assert receipt.prediction_id == prediction.prediction_id
    assert fake.feedback == [(prediction.prediction_id, "human")]
    with pytest.raises(PredictionNotFound, match="unknown prediction_id: nope"):
        client.send_feedback("nope", "ai")


def test_feedback_accepts_an_empty_or_minimal_body() -> None:
    receipt = _client(_answer(201, {"status": "stored"})).send_feedback("abc", "ai")
    assert (receipt.prediction_id, receipt.label) == ("abc", "ai")


def test_connection_refused_is_serving_unavailable() -> None:
    client = ServingClient("http://127.0.0.1:9", connect_timeout=0.5)
    with pytest.raises(ServingUnavailable, match=r"cannot reach serving at http://127.0.0.1:9"):
        client.model_info()


def test_timeout_is_serving_unavailable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ServingUnavailable, match="did not answer in time"):
        _client(slow).predict("x")


def test_503_is_no_model_yet_with_the_reason() -> None:
    with pytest.raises(NoModelYet, match="no champion yet"):
        _client(_answer(503, {"detail": "no champion yet"})).model_info()


def test_4xx_carries_the_servers_message_flattened() -> None:
    body = {
        "detail": [
            {"loc": ["body", "text"], "msg": "String should have at least 1 character"},
            {"loc": ["body", "explain"], "msg": "Input should be a valid boolean"},
        ]
    }
    with pytest.raises(BadInput) as caught:
        _client(_answer(422, body)).predict("")
    assert caught.value.status_code == 422
    assert caught.value.message == (
        "text: String should have at least 1 character; explain: Input should be a valid boolean"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": "text exceeds 100000 characters"}, "text exceeds 100000 characters"),
        (
            {"error": "texts is empty: give at least one text", "detail": None},
            "texts is empty: give at least one text",
        ),
        (
            {
                "error": "invalid request body",
                "detail": [{"loc": ["text"], "msg": "text is empty", "type": "value_error"}],
            },
            "invalid request body: text: text is empty",
        ),
        ({"detail": "batch is empty"}, "batch is empty"),
        ("plain text error\nsecond line", "plain text error"),
        ("", "request rejected (HTTP 413)"),
    ],
)
def test_error_message_shapes(body: object, message: str) -> None:
    with pytest.raises(BadInput) as caught:
        _client(_answer(413, body)).predict("x")
    assert caught.value.message == message


def test_503_on_feedback_is_a_busy_log_not_a_missing_model() -> None:
    busy = _answer(503, {"error": "prediction log queue is full; retry later", "detail": None})
    with pytest.raises(ServingUnavailable, match="queue is full"):
        _client(busy).send_feedback("abc", "ai")


def test_5xx_is_unavailable_without_the_body() -> None:
    with pytest.raises(ServingUnavailable, match=r"^serving failed with HTTP 500$"):
        _client(_answer(500, "Traceback (most recent call last): ...")).predict("x")


def test_answers_that_do_not_match_are_unexpected() -> None:
    with pytest.raises(UnexpectedResponse, match="does not match Prediction: label"):
        _client(_answer(200, {"label": "robot", "probability_ai": 1})).predict("x")
    with pytest.raises(UnexpectedResponse, match="non-JSON"):
        _client(_answer(200, b"<html>")).predict("x")


def test_unknown_fields_are_ignored() -> None:
    info = FakeServing().model_info() | {"new_field": [1, 2]}
    model = _client(_answer(200, info)).model_info()
    assert model.version == "7"
    assert json.loads(model.model_dump_json())["metrics"]["test_f1"] == pytest.approx(0.9612)
