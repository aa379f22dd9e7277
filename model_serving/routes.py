"""HTTP routes: prediction, feedback, model info, health, metrics, admin reload, /invocations.

Thin: each route takes its dependencies (``dependencies``), calls the prediction logic
(``prediction``) or the state, and returns a schema; failures are ``errors.ServingError``.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from model_serving import invocations
from model_serving.dependencies import AdminDep, ClientDep, StateDep
from model_serving.errors import ModelUnavailable
from model_serving.feedback_intake import record_feedback
from model_serving.metrics import PROMETHEUS_CONTENT_TYPE
from model_serving.model_version import LoadedModel
from model_serving.prediction import answer_predict, check_invocation_texts, score_and_record
from model_serving.schemas import (
    BatchPrediction,
    ErrorBody,
    FeedbackRequest,
    FeedbackResponse,
    Health,
    InvocationsResponse,
    ModelInfo,
    Prediction,
    PredictRequest,
    Readiness,
    ReloadResponse,
    ScopeInfo,
)
from model_serving.wiring import ServingState

logger = logging.getLogger(__name__)
router = APIRouter()
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 413, 422, 429, 503)
}
PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
    }
}


@router.post(
    "/v1/predict",
    response_model=Prediction | BatchPrediction,
    responses=ERRORS,
    summary="Classify one text or a batch of texts as AI-generated or human-written",
    openapi_extra=PREDICT_BODY,
)
async def predict(request: Request, state: StateDep, client: ClientDep) -> Response:
    """Parsed, checked and answered by ``prediction.answer_predict``, as on the fast path.

    The body is read here rather than declared as a parameter: FastAPI's own parsing would be a
    second parser next to the one the fast path uses. The schema above documents it.
    """
    body = await request.body()
    answer = await answer_predict(state, body, request.headers.get("content-type"), client)
    return Response(answer, media_type="application/json")


@router.post(
    "/v1/feedback",
    response_model=FeedbackResponse,
    responses={code: {"model": ErrorBody} for code in (404, 409, 422, 429, 503)},
    summary="Give the true label of an earlier prediction (once per prediction)",
)
def feedback(body: FeedbackRequest, state: StateDep, client: ClientDep) -> FeedbackResponse:
    state.take_token("/v1/feedback", client)
    return record_feedback(state, body.prediction_id, body.label)


def _current(state: ServingState) -> LoadedModel:
    model = state.holder.current
    if model is None:
        raise ModelUnavailable(state.holder.reason)
    return model


@router.get(
    "/v1/model",
    response_model=ModelInfo,
    responses={503: {"model": ErrorBody}},
    summary="The model version being served",
)
async def model_info(state: StateDep) -> ModelInfo:
    model = _current(state)
    info = model.info
    return ModelInfo(
        name=info.name,
        alias=info.alias,
        version=info.version,
        run_id=info.run_id,
        threshold=model.threshold,
        operating_thresholds=model.thresholds.to_dict(),
        metrics=model.metrics,
        dataset_digest=model.dataset_digest,
        loaded_at=model.loaded_at,
        explain_method=model.explainer.method,
        scoring=model.scoring,
        scope=ScopeInfo(
            reference=model.scope.reference is not None,
            min_chars=model.scope.min_chars,
            min_route_chars=model.scope.min_route_chars,
            novelty_threshold=model.scope.novelty_threshold,
        ),
        evaluation=model.evaluation,
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
async def readyz(state: StateDep, response: Response) -> Readiness:
    model = state.holder.current
    if model is None:
        response.status_code = 503
        return Readiness(ready=False, reason=state.holder.reason)
    return Readiness(ready=True, model_version=model.version)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: StateDep) -> Response:
    state.refresh_drift()
    return Response(state.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)


@router.post(
    "/admin/reload",
    response_model=ReloadResponse,
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
    summary="Check the alias now and load the version it points at (bearer token)",
)
async def admin_reload(
    state: StateDep,
    _admin: AdminDep,
    force: Annotated[bool, Query(description="Retry versions refused earlier")] = False,
) -> ReloadResponse:
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
async def invocations_route(
    request: Request, state: StateDep, client: ClientDep
) -> InvocationsResponse:
    state.take_token("/invocations", client)
    values, predict_fn = invocations.parse_invocation(await request.body())
    result, predictions = await score_and_record(state, check_invocation_texts(state, values))
    return InvocationsResponse(
        predictions=invocations.format_predictions(
            result.probabilities.tolist(),
            [prediction.threshold for prediction in predictions],
            predict_fn or result.model.pyfunc_predict_fn,
        )
    )
