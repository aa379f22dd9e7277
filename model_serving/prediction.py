"""Prediction, whichever HTTP path asked for it: parse, check, score, record, build the answer.

``answer_predict`` is all of ``POST /v1/predict`` after the bytes are read: the FastAPI route and
the fast path (``fast_predict``) both call it, so they answer every request with the same status
and the same bytes (``ServingError`` for every failure, rendered by ``errors.error_body``).
``score_and_record`` is shared with ``/invocations``. This module knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime

from model_registry.operating_thresholds import model_label, served_verdict
from model_serving.batching import BatchResult
from model_serving.feedback import PredictedLabel
from model_serving.prediction_log.writer import PredictionRow
from model_serving.request_parsing import check_texts, parse_predict
from model_serving.schemas import BatchPrediction, ExplanationOut, Prediction
from model_serving.wiring import ServingState


def new_prediction_id() -> str:
    return uuid.uuid4().hex


async def answer_predict(
    state: ServingState, body: bytes, content_type: str | None, client: str
) -> bytes:
    """The JSON body answering ``POST /v1/predict``; ``ServingError`` for any failure.

    ``client`` is the rate-limit key (``rate_limit.client_key``) of whoever sent it.
    """
    state.take_token("/v1/predict", client)
    settings = state.settings
    request = parse_predict(
        body,
        content_type,
        max_batch_size=settings.max_batch_size,
        max_text_chars=settings.max_text_chars,
    )
    result, predictions = await score_and_record(state, request.texts)
    if request.explain:
        explanations = await asyncio.to_thread(
            result.model.explainer.explain, request.texts, settings.explain_top_k
        )
        for prediction, explanation in zip(predictions, explanations, strict=True):
            prediction.explanation = ExplanationOut.model_validate(
                explanation, from_attributes=True
            )
    out = predictions[0] if request.single else BatchPrediction(predictions=predictions)
    return out.model_dump_json().encode()


def check_invocation_texts(state: ServingState, values: list[object]) -> list[str]:
    """The ``/invocations`` text column, validated like ``/v1/predict`` texts."""
    return check_texts(
        values,
        "inputs",
        max_batch_size=state.settings.max_batch_size,
        max_text_chars=state.settings.max_text_chars,
    )


async def score_and_record(
    state: ServingState, texts: list[str]
) -> tuple[BatchResult, list[Prediction]]:
    """Score ``texts`` (micro-batched) and record each prediction (metrics, log, recent ids)."""
    result = await state.batcher.predict(texts)
    return result, record_predictions(state, texts, result)


def record_predictions(
    state: ServingState, texts: list[str], result: BatchResult
) -> list[Prediction]:
    """Metrics, prediction log and the recent-id map for every scored text.

    Each text is judged at the threshold its scope verdict routes it to (``LoadedModel.route``:
    its routed training domain's threshold, else the global one); the answer says which.
    Out of scope, or too close to that threshold to call (``operating_thresholds.
    served_verdict``), the answer's label is "uncertain" with the reason; the log and the
    feedback bookkeeping keep the model's own label at the threshold (feedback says whether the
    model was right), with the served scope verdict.

    An id is remembered for feedback only when its row was queued for the log: feedback on a
    prediction the log dropped would otherwise reference a row that never exists.
    """
    model = result.model
    metrics = state.metrics
    version = model.version
    now = datetime.now(UTC).replace(tzinfo=None)
    out = []
    routes = model.route(result.scope)
    #: Texts per label and per out-of-scope reason, counted once per call (the same totals).
    labels: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for text, probability, scope, routed in zip(
        texts, result.probabilities.tolist(), result.scope, routes, strict=True
    ):
        label = model_label(probability, routed.threshold)
        served = served_verdict(probability, scope, routed)
        prediction_id = new_prediction_id()
        labels[label] = labels.get(label, 0) + 1
        if not served.in_scope:
            reason = str(served.reason)  # the label value ``labels()`` would make of it
            reasons[reason] = reasons.get(reason, 0) + 1
        metrics.probability.observe(probability)
        metrics.input_length.observe(len(text))
        queued = state.writer.submit(
            PredictionRow(
                id=prediction_id,
                created_at=now,
                model_version=version,
                probability_ai=probability,
                label=label,
                text_length=len(text),
                text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                text=text,
                in_scope=served.in_scope,
                scope_reason=served.reason,
                threshold=routed.threshold,
            )
        )
        if queued:
            state.recent.add(prediction_id, PredictedLabel(label, version))
        out.append(
            Prediction(
                label=served.label,
                probability_ai=probability,
                threshold=routed.threshold,
                human_below=routed.human_below,
                threshold_domain=routed.domain,
                model_version=version,
                prediction_id=prediction_id,
                in_scope=served.in_scope,
                scope_reason=served.reason,
            )
        )
    for label, count in labels.items():
        metrics.predictions_of(label, version).inc(count)
    for reason, count in reasons.items():
        metrics.out_of_scope_of(reason).inc(count)
    return out
