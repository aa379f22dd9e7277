"""SQLAlchemy models of the prediction log (``predictions``) and feedback (``feedback``) tables.

Shared with orchestration, which reads these tables to build retraining data: keep this module
free of FastAPI and of anything but SQLAlchemy. The tables are created by the Alembic migrations
in ``model_serving/prediction_log/migrations`` (see ``migrate.upgrade``), never by
``metadata.create_all`` in production code.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

PREDICTION_ID_LENGTH = 32  # uuid4 hex


class Base(DeclarativeBase):
    """Declarative base of the serving tables."""


class Prediction(Base):
    """One scored text. ``text`` is stored only when ``SERVING_STORE_TEXT=true``."""

    __tablename__ = "predictions"

    id: Mapped[str] = mapped_column(String(PREDICTION_ID_LENGTH), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)
    model_version: Mapped[str] = mapped_column(String(64), nullable=False)
    probability_ai: Mapped[float] = mapped_column(Float, nullable=False)
    label: Mapped[str] = mapped_column(String(8), nullable=False)
    text_length: Mapped[int] = mapped_column(Integer, nullable=False)
    text_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    text: Mapped[str | None] = mapped_column(Text().with_variant(Text(length=2**24), "mysql"))
    #: Whether the model could judge the text (``label`` is still the model's own label; the API
    #: answered "uncertain" when this is false). NULL for rows written before scope existed.
    in_scope: Mapped[bool | None] = mapped_column(Boolean)
    scope_reason: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        Index("ix_predictions_created_at", "created_at"),
        Index("ix_predictions_model_version", "model_version"),
    )


class Feedback(Base):
    """A user's true label for a prediction: at most one per prediction (a repeat would count
    twice in the live accuracy and in training data)."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prediction_id: Mapped[str] = mapped_column(
        String(PREDICTION_ID_LENGTH), ForeignKey("predictions.id"), nullable=False
    )
    label: Mapped[str] = mapped_column(String(8), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)

    __table_args__ = (Index("ux_feedback_prediction_id", "prediction_id", unique=True),)


metadata = Base.metadata
# The Table objects (typed as such; ``Model.__table__`` is typed as a bare ``FromClause``).
predictions_table = metadata.tables[Prediction.__tablename__]
feedback_table = metadata.tables[Feedback.__tablename__]
