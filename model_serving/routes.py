"""HTTP routes: prediction, feedback, model info, health, metrics, admin reload, /invocations."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from model_serving import invocations
from model_serving.batching import BatchResult, ModelUnavailable
from model_serving.errors import ServiceError
from model_serving.explain import Explanation
from model_serving.feedback import PredictedLabel
from model_serving.metrics import PROMETHEUS_CONTENT_TYPE
from model_serving.model_holder import LoadedModel
from model_serving.prediction_log.writer import FeedbackRow, PredictionRow
from model_serving.schemas import (
    BatchPrediction,
    ErrorBody,
    ExplanationOut,
    FeedbackRequest,
    FeedbackResponse,
    Health,
    InvocationsResponse,
    ModelInfo,
    Prediction,
    PredictRequest,
    Readiness,
    ReloadResponse,
)
from model_serving.state import ServingState

router = APIRouter()
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (413, 422, 503)}
FEEDBACK_LOOKUP_SECONDS = 2.0
SCHEMA_WAIT_SECONDS = 5.0


def _state(request: Request) -> ServingState:
    return request.app.state.serving


def check_texts(state: ServingState, texts: list[Any], field: str) -> list[str]:
    settings = state.settings
    if not texts:
        raise ServiceError(422, f"{field} is empty: give at least one text")
    if len(texts) > settings.max_batch_size:
        raise ServiceError(
            422, f"{field} has {len(texts)} texts; the limit is {settings.max_batch_size}"
        )
    for index, text in enumerate(texts):
        where = f"{field}[{index}]" if len(texts) > 1 or field != "text" else field
        if not isinstance(text, str):
            raise ServiceError(422, f"{where} must be a string, got {type(text).__name__}")
        if not text.strip():
            raise ServiceError(422, f"{where} is empty or only whitespace")
        if len(text) > settings.max_text_chars:
            raise ServiceError(
                422,
                f"{where} has {len(text)} characters; the limit is {settings.max_text_chars}",
            )
    return texts


async def score_texts(state: ServingState, texts: list[str]) -> BatchResult:
    try:
        return await state.batcher.predict(texts)
    except ModelUnavailable as exc:
        raise ServiceError(503, "model not available", str(exc)) from exc
    except RuntimeError as exc:
        raise ServiceError(500, "prediction failed", str(exc)) from exc


def record_predictions(
    state: ServingState, texts: list[str], result: BatchResult
) -> list[Prediction]:
    """Metrics, prediction log and the recent-id map for every scored text."""
    model = result.model
    metrics = state.metrics
    version = model.version
    now = datetime.now(UTC).replace(tzinfo=None)
    out = []
    for text, probability in zip(texts, result.probabilities.tolist(), strict=True):
        label = model.label(probability)
        prediction_id = uuid.uuid4().hex
        metrics.predictions.labels(label, version).inc()
        metrics.probability.observe(probability)
        metrics.input_length.observe(len(text))
        state.writer.submit(
            PredictionRow(
                id=prediction_id,
                created_at=now,
                model_version=version,
                probability_ai=probability,
                label=label,
                text_length=len(text),
                text_sha256=hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
                text=text,
            )
        )
        state.recent.add(prediction_id, PredictedLabel(label, version))
        out.append(
            Prediction(
                label=label,
                probability_ai=probability,
                threshold=model.threshold,
                model_version=version,
                prediction_id=prediction_id,
            )
        )
    return out


def _explanation_out(explanation: Explanation) -> ExplanationOut:
    return ExplanationOut.model_validate(explanation, from_attributes=True)


@router.post(
    "/v1/predict",
    response_model=Prediction | BatchPrediction,
    response_model_exclude_none=True,
    responses=ERRORS,
    summary="Classify one text or a batch of texts as AI-generated or human-written",
)
async def predict(body: PredictRequest, request: Request) -> Response:
    state = _state(request)
    single = body.text is not None
    texts = check_texts(state, body.all_texts(), "text" if single else "texts")
    result = await score_texts(state, texts)
    predictions = record_predictions(state, texts, result)
    if body.explain:
        explanations = await run_in_threadpool(
            result.model.explainer.explain, texts, state.settings.explain_top_k
        )
        for prediction, explanation in zip(predictions, explanations, strict=True):
            prediction.explanation = _explanation_out(explanation)
    return predictions_response(predictions, single=single)


def predictions_response(predictions: list[Prediction], *, single: bool) -> Response:
    """The ``/v1/predict`` body: one prediction, or ``{"predictions": [...]}``.

    Serialised here (pydantic-core, exclude_none) and returned as a Response: FastAPI would
    otherwise validate the returned model again against the response union (~10% of a
    request's CPU). The route's declared response_model still documents the body in OpenAPI.
    """
    out = predictions[0] if single else BatchPrediction(predictions=predictions)
    return Response(out.model_dump_json(exclude_none=True), media_type="application/json")


def _find_prediction(state: ServingState, prediction_id: str) -> PredictedLabel | None:
    deadline = time.monotonic() + FEEDBACK_LOOKUP_SECONDS
    state.writer.wait_schema(SCHEMA_WAIT_SECONDS)  # just after startup the migration may run
    while True:
        found = state.recent.get(prediction_id)
        if found is not None:
            return found
        try:
            row = state.writer.find_prediction(prediction_id)
        except Exception as exc:
            raise ServiceError(503, "prediction log database unavailable", str(exc)[:200]) from exc
        if row is not None:
            return PredictedLabel(row[0], row[1])
        # With several workers another one may have made it and not flushed yet: look again
        # briefly. A single worker knows all its unflushed ids, so it answers at once.
        if state.settings.workers == 1 or time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


@router.post(
    "/v1/feedback",
    response_model=FeedbackResponse,
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}},
    summary="Give the true label of an earlier prediction",
)
def feedback(body: FeedbackRequest, request: Request) -> FeedbackResponse:
    state = _state(request)
    predicted = _find_prediction(state, body.prediction_id)
    if predicted is None:
        raise ServiceError(404, "unknown prediction_id", body.prediction_id)
    accepted = state.writer.submit(
        FeedbackRow(
            prediction_id=body.prediction_id,
            label=body.label,
            created_at=datetime.now(UTC).replace(tzinfo=None),
        )
    )
    if not accepted:
        raise ServiceError(503, "prediction log queue is full; retry later")
    correct = predicted.label == body.label
    metrics = state.metrics
    metrics.feedback.labels(outcome="correct" if correct else "incorrect").inc()
    accuracy, window = state.accuracy.add(correct)
    metrics.feedback_accuracy.set(accuracy)
    metrics.feedback_window.set(window)
    return FeedbackResponse(
        prediction_id=body.prediction_id,
        label=body.label,
        predicted_label=predicted.label,  # type: ignore[arg-type]
        correct=correct,
    )


def _current(state: ServingState) -> LoadedModel:
    model = state.holder.current
    if model is None:
        raise ServiceError(503, "model not available", state.holder.reason)
    return model


@router.get(
    "/v1/model",
    response_model=ModelInfo,
    responses={503: {"model": ErrorBody}},
    summary="The model version being served",
)
async def model_info(request: Request) -> ModelInfo:
    model = _current(_state(request))
    info = model.info
    return ModelInfo(
        name=info.name,
        alias=info.alias,
        version=info.version,
        run_id=info.run_id,
        threshold=model.threshold,
        metrics=model.metrics,
        dataset_digest=model.dataset_digest,
        loaded_at=model.loaded_at,
        explain_method=model.explainer.method,
        scoring=model.scoring,
    )


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness}},
    summary="Readiness: a model is loaded",
)
async def readyz(request: Request, response: Response) -> Readiness:
    state = _state(request)
    model = state.holder.current
    if model is None:
        response.status_code = 503
        return Readiness(ready=False, reason=state.holder.reason)
    return Readiness(ready=True, model_version=model.version)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    state = _state(request)
    state.refresh_drift()
    return Response(state.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)


@router.post(
    "/admin/reload",
    response_model=ReloadResponse,
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
    summary="Check the alias now and load the version it points at (bearer token)",
)
async def admin_reload(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    force: Annotated[bool, Query(description="Retry versions refused earlier")] = False,
) -> ReloadResponse:
    state = _state(request)
    token = state.settings.admin_token
    if token is None:
        raise ServiceError(403, "admin routes are disabled: SERVING_ADMIN_TOKEN is not set")
    expected = f"Bearer {token.get_secret_value()}".encode()
    if not hmac.compare_digest((authorization or "").encode(), expected):
        raise ServiceError(401, "missing or wrong bearer token")
    result = await run_in_threadpool(lambda: state.holder.check_now(force=force))
    current = state.holder.current
    return ReloadResponse(
        outcome=result.outcome,
        version=result.version,
        reason=result.reason,
        serving_version=current.version if current else None,
    )


@router.post(
    "/invocations",
    response_model=InvocationsResponse,
    responses={400: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}},
    summary="MLflow scoring protocol (dataframe_split, dataframe_records, inputs)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "dataframe_split": {"type": "object"},
                            "dataframe_records": {"type": "array", "items": {"type": "object"}},
                            "inputs": {},
                            "instances": {},
                            "params": {"type": "object"},
                        },
                    }
                }
            },
        }
    },
)
async def invocations_route(request: Request) -> InvocationsResponse:
    state = _state(request)
    try:
        values, predict_fn = invocations.parse_invocation(await request.body())
    except invocations.InvocationError as exc:
        raise ServiceError(400, str(exc)) from exc
    texts = check_texts(state, values, "inputs")
    result = await score_texts(state, texts)
    record_predictions(state, texts, result)
    return InvocationsResponse(
        predictions=invocations.format_predictions(
            result.probabilities.tolist(),
            result.model.threshold,
            predict_fn or result.model.pyfunc_predict_fn,
        )
    )
