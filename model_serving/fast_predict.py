"""The common case of ``POST /v1/predict`` answered without FastAPI's per-request machinery.

A well-formed JSON body without ``explain`` is parsed straight from bytes
(``PredictRequest.model_validate_json``), then checked, scored, recorded and serialised by the
same functions the FastAPI route uses (``routes.check_texts``, ``score_texts``,
``record_predictions``, ``predictions_response``). Routing, dependency solving, the ``Request``
object and the JSON -> dict -> model double parse cost a large share of a request's CPU next to
the model call.

Anything else -- invalid JSON or UTF-8, a validation or limit error, ``explain``, another content
type -- returns ``None``, and the middleware replays the body to the FastAPI route, so every
error body and the OpenAPI description stay exactly those of ``routes.predict``. A 503 (no model)
or 500 from scoring is answered here by ``errors.error_response``, as the route's handler does.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.responses import Response

from model_serving.errors import ServiceError, error_response
from model_serving.routes import (
    check_texts,
    predictions_response,
    record_predictions,
    score_texts,
)
from model_serving.schemas import PredictRequest
from model_serving.state import ServingState

PATH = "/v1/predict"


def wants_fast_path(scope: dict, method: str) -> bool:
    """POST /v1/predict with a JSON content type."""
    if method != "POST" or scope.get("path") != PATH:
        return False
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


async def fast_predict(state: ServingState, body: bytes) -> Response | None:
    """The response for the common case; ``None`` to let the FastAPI route answer."""
    try:
        request = PredictRequest.model_validate_json(body)
    except (ValidationError, ValueError):
        return None
    if request.explain:
        return None
    single = request.text is not None
    try:
        texts = check_texts(state, request.all_texts(), "text" if single else "texts")
    except ServiceError:
        return None
    try:
        result = await score_texts(state, texts)
    except ServiceError as exc:
        return error_response(exc.status_code, exc.error, exc.detail)
    return predictions_response(record_predictions(state, texts, result), single=single)
