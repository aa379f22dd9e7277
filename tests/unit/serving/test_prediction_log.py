"""Prediction log writer: batched writes in order, flush on close, overflow counted."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, func, inspect, select

from model_serving.prediction_log import migrate
from model_serving.prediction_log.schema import feedback_table, predictions_table
from model_serving.prediction_log.writer import FeedbackRow, PredictionLogWriter, PredictionRow
from tests.servers import free_port


def row(i: int, text: str = "some text") -> PredictionRow:
    return PredictionRow(
        id=f"{i:032x}",
        created_at=datetime(2026, 1, 1),
        model_version="3",
        probability_ai=0.25,
        label="human",
        text_length=len(text),
        text_sha256="0" * 64,
        text=text,
    )


def count(url: str, table=predictions_table) -> int:  # type: ignore[no-untyped-def]
    with create_engine(url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_migrations_create_the_contract_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'log.db'}"
    migrate.upgrade(url)
    migrate.upgrade(url)  # idempotent
    inspector = inspect(create_engine(url))
    columns = {c["name"] for c in inspector.get_columns("predictions")}
    assert columns == {
        "id",
        "created_at",
        "model_version",
        "probability_ai",
        "label",
        "text_length",
        "text_sha256",
        "text",
    }
    assert {c["name"] for c in inspector.get_columns("feedback")} == {
        "id",
        "prediction_id",
        "label",
        "created_at",
    }


def test_rows_are_written_and_flushed_on_close(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    observed: list[str] = []
    writer = PredictionLogWriter(
        url, flush_interval=5.0, observers=(lambda r: observed.append(r.id),)
    )
    writer.start()
    for i in range(1200):
        assert writer.submit(row(i))
    writer.submit(FeedbackRow(prediction_id=f"{5:032x}", label="ai", created_at=datetime.now()))
    writer.close()
    assert count(url) == 1200
    assert count(url, feedback_table) == 1
    assert len(observed) == 1200
    with create_engine(url).connect() as conn:
        assert conn.execute(select(predictions_table.c.text)).scalars().first() is None


def test_text_is_stored_only_when_allowed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    writer = PredictionLogWriter(url, store_text=True)
    writer.start()
    writer.submit(row(1, "keep me"))
    writer.close()
    with create_engine(url).connect() as conn:
        assert conn.execute(select(predictions_table.c.text)).scalar_one() == "keep me"


def test_unreachable_database_adds_no_latency_and_overflow_is_counted() -> None:
    port = free_port()  # nothing listens there
    dropped: list[int] = []
    writer = PredictionLogWriter(
        f"mysql+pymysql://root@127.0.0.1:{port}/nowhere",
        queue_size=100,
        on_dropped=dropped.append,
    )
    writer.start()
    started = time.perf_counter()
    accepted = sum(writer.submit(row(i)) for i in range(150))
    elapsed = time.perf_counter() - started
    assert elapsed < 0.05  # 150 submits, no waiting on the database
    assert accepted == 100
    assert writer.dropped == 50 and sum(dropped) == 50
    started = time.perf_counter()
    writer.close(timeout=5)
    assert time.perf_counter() - started < 6


def test_rows_arriving_within_the_linger_share_one_transaction(tmp_path: Path) -> None:
    """Many requests' rows make one insert: a transaction costs far more than a row."""
    writer = PredictionLogWriter(f"sqlite:///{tmp_path / 'log.db'}", linger=2.0, flush_rows=500)
    batches: list[int] = []
    writer._on_written = batches.append
    writer.start()
    assert writer.wait_schema(30)
    for index in range(3):
        for number in range(10):
            assert writer.submit(row(index * 10 + number))
        time.sleep(0.05)  # requests arriving apart, well within the linger (not a readiness wait)
    writer.close()
    assert batches == [30]
