"""Feedback on an earlier prediction: find it, refuse a repeat, queue the row, update accuracy.

At most one feedback per prediction: a repeat would count again in the live accuracy window (one
client could fire ``FeedbackAccuracyLow``) and again as labelled training data. This worker claims
the id in memory (atomic, so two concurrent requests cannot both pass) and looks the database up
for feedback another worker or an earlier run stored; the unique index on
``feedback.prediction_id`` settles the rare race between two workers (the writer sets the second
row aside).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from model_serving.errors import Conflict, NotFound, PredictionLogUnavailable
from model_serving.feedback import PredictedLabel
from model_serving.prediction_log.writer import FeedbackRow
from model_serving.schemas import FeedbackResponse
from model_serving.wiring import ServingState

logger = logging.getLogger(__name__)
FEEDBACK_LOOKUP_SECONDS = 2.0
SCHEMA_WAIT_SECONDS = 5.0


def record_feedback(state: ServingState, prediction_id: str, label: str) -> FeedbackResponse:
    """Blocking (database look-ups): call it from a worker thread."""
    predicted = find_prediction(state, prediction_id)
    if predicted is None:
        raise NotFound("unknown prediction_id", prediction_id)
    if not state.recent.claim_feedback(prediction_id) or _stored_feedback(state, prediction_id):
        raise Conflict("this prediction already has feedback", prediction_id)
    accepted = state.writer.submit(
        FeedbackRow(
            prediction_id=prediction_id,
            label=label,
            created_at=datetime.now(UTC).replace(tzinfo=None),
        )
    )
    if not accepted:
        state.recent.release_feedback(prediction_id)
        raise PredictionLogUnavailable("prediction log queue is full; retry later")
    correct = predicted.label == label
    metrics = state.metrics
    metrics.feedback.labels(outcome="correct" if correct else "incorrect").inc()
    accuracy, window = state.accuracy.add(correct)
    metrics.feedback_accuracy.set(accuracy)
    metrics.feedback_window.set(window)
    return FeedbackResponse(
        prediction_id=prediction_id,
        label=label,
        predicted_label=predicted.label,
        correct=correct,
    )


def _stored_feedback(state: ServingState, prediction_id: str) -> bool:
    """Whether the database already holds feedback on it; False when it cannot be asked (the
    unique index still refuses a second row)."""
    try:
        return state.writer.has_feedback(prediction_id)
    except Exception as exc:
        logger.warning("feedback look-up failed (%s); relying on this worker", type(exc).__name__)
        return False


def find_prediction(state: ServingState, prediction_id: str) -> PredictedLabel | None:
    deadline = time.monotonic() + FEEDBACK_LOOKUP_SECONDS
    state.writer.wait_schema(SCHEMA_WAIT_SECONDS)  # just after startup the migration may run
    while True:
        found = state.recent.get(prediction_id)
        if found is not None:
            return found
        try:
            row = state.writer.find_prediction(prediction_id)
        except Exception as exc:
            logger.warning("prediction look-up failed: %s", type(exc).__name__, exc_info=True)
            raise PredictionLogUnavailable("prediction log database unavailable") from exc
        if row is not None:
            return PredictedLabel(row[0], row[1])
        # With several workers another one may have made it and not flushed yet: look again
        # briefly. A single worker knows all its unflushed ids, so it answers at once.
        if state.settings.workers == 1 or time.monotonic() >= deadline:
            return None
        time.sleep(0.1)
