"""Read serving's prediction log: recent texts (for drift_check) and feedback-labelled texts
(for retrain). Uses serving's own SQLAlchemy models, read-only."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from model_registry.contract import LABEL_AI, LABEL_HUMAN
from model_registry.labelled_csv import LABEL_COLUMN, TEXT_COLUMN
from model_serving.prediction_log.schema import Feedback, Prediction

logger = logging.getLogger(__name__)

FEEDBACK_LABELS = {"ai": LABEL_AI, "human": LABEL_HUMAN}


def engine_for(database_url: str) -> Engine:
    return create_engine(database_url, pool_pre_ping=True)


def recent_texts(
    database_url: str, window: timedelta, limit: int, now: datetime | None = None
) -> list[str]:
    """Texts logged within ``window`` before ``now`` (newest first, at most ``limit``)."""
    since = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None) - window
    query = (
        select(Prediction.text)
        .where(Prediction.created_at >= since, Prediction.text.is_not(None))
        .order_by(Prediction.created_at.desc())
        .limit(limit)
    )
    engine = engine_for(database_url)
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(query) if row[0] and row[0].strip()]
    finally:
        engine.dispose()


def feedback_examples(database_url: str) -> pd.DataFrame:
    """``text, generated`` rows from predictions that got feedback and whose text was kept.

    When a prediction got several feedback rows, the most recent one wins. Feedback labels other
    than ``ai``/``human`` are counted in the log and left out.
    """
    latest = (
        select(Feedback.prediction_id, func.max(Feedback.id).label("feedback_id"))
        .group_by(Feedback.prediction_id)
        .subquery()
    )
    query = (
        select(Prediction.text, Feedback.label)
        .join(latest, latest.c.prediction_id == Prediction.id)
        .join(Feedback, Feedback.id == latest.c.feedback_id)
        .where(Prediction.text.is_not(None))
    )
    engine = engine_for(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    finally:
        engine.dispose()
    labelled = [(text, FEEDBACK_LABELS.get(label)) for text, label in rows]
    unknown = sum(1 for _, label in labelled if label is None)
    if unknown:
        logger.warning("left out %d feedback rows with an unknown label", unknown)
    kept = [(text, label) for text, label in labelled if label is not None]
    return pd.DataFrame(
        {
            TEXT_COLUMN: pd.Series([t for t, _ in kept], dtype=object),
            LABEL_COLUMN: pd.Series([lab for _, lab in kept], dtype=int),
        }
    )
