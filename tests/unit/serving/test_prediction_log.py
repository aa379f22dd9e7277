"""Prediction log writer: batched writes in order, flush on close, overflow counted."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Insert, Table, create_engine, func, inspect, select

from model_serving.prediction_log import migrate
from model_serving.prediction_log.schema import feedback_table, predictions_table
from model_serving.prediction_log.writer import FeedbackRow, PredictionLogWriter, PredictionRow
from tests.support.servers import free_port


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


def count(url: str, table: Table = predictions_table) -> int:
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
        "in_scope",
        "scope_reason",
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


def wait_settled(writer: PredictionLogWriter, rows: int, timeout: float = 20.0) -> None:
    from tests.support.servers import wait_until

    wait_until(
        lambda: writer.written + writer.rejected >= rows,
        timeout=timeout,
        what=f"{rows} rows written or set aside",
        interval=0.02,
    )


def test_a_row_the_database_refuses_is_set_aside_and_the_rows_behind_it_are_written(
    tmp_path: Path,
) -> None:
    """A text that cannot be encoded as UTF-8 used to fail its whole batch forever."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    rejected: list[int] = []
    writer = PredictionLogWriter(url, store_text=True, linger=0.5, on_rejected=rejected.append)
    writer.start()
    assert writer.wait_schema(30)
    for i in range(10):
        writer.submit(row(i, "a \ud800 lone surrogate" if i == 4 else f"text {i}"))
    wait_settled(writer, 10)
    for i in range(10, 30):  # nothing behind it is blocked
        writer.submit(row(i))
    writer.close()
    assert count(url) == 29
    assert writer.rejected == 1 and sum(rejected) == 1
    assert [r.id for r, _ in writer.rejected_rows if isinstance(r, PredictionRow)] == [f"{4:032x}"]
    assert len(writer.rejected_rows) == 1


def test_feedback_on_a_missing_prediction_does_not_block_the_log(tmp_path: Path) -> None:
    """A foreign-key violation is the row's fault: set aside, the others written."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    writer = PredictionLogWriter(url, linger=0.5)
    writer.start()
    assert writer.wait_schema(30)
    writer.submit(row(1))
    writer.submit(FeedbackRow(prediction_id=f"{999:032x}", label="ai", created_at=datetime.now()))
    writer.submit(FeedbackRow(prediction_id=f"{1:032x}", label="ai", created_at=datetime.now()))
    for i in range(2, 12):
        writer.submit(row(i))
    writer.close()
    assert count(url) == 11
    assert count(url, feedback_table) == 1
    assert writer.rejected == 1


def test_a_duplicate_key_after_an_unknown_commit_counts_as_written(tmp_path: Path) -> None:
    """The connection dropped after the commit: the retried rows are in the table already."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    writer = PredictionLogWriter(url, linger=0.5)
    writer.start()
    assert writer.wait_schema(30)
    for i in range(5):
        writer.submit(row(i))
    writer.submit(FeedbackRow(prediction_id=f"{2:032x}", label="ai", created_at=datetime.now()))
    wait_settled(writer, 6)
    for i in range(8):  # the same five rows and feedback again, then new ones
        writer.submit(row(i))
    writer.submit(FeedbackRow(prediction_id=f"{2:032x}", label="ai", created_at=datetime.now()))
    writer.submit(FeedbackRow(prediction_id=f"{3:032x}", label="ai", created_at=datetime.now()))
    writer.close()
    assert count(url) == 8
    assert count(url, feedback_table) == 2
    assert writer.rejected == 0
    assert writer.written == 6 + 10


def test_migration_keeps_one_feedback_per_prediction(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    url = f"sqlite:///{tmp_path / 'log.db'}"
    config = migrate.alembic_config(url)
    command.upgrade(config, "0001")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(insert_prediction(), [{"id": "p1"}, {"id": "p2"}])
        conn.execute(
            text(
                "INSERT INTO feedback (prediction_id, label, created_at) VALUES "
                "('p1', 'ai', '2026-01-01'), ('p1', 'human', '2026-01-02'), "
                "('p2', 'ai', '2026-01-01')"
            )
        )
    migrate.upgrade(url)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT prediction_id, label FROM feedback ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("p1", "ai"), ("p2", "ai")]
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO feedback (prediction_id, label, created_at) "
                    "VALUES ('p2', 'human', '2026-01-03')"
                )
            )
    except IntegrityError:
        pass
    else:
        raise AssertionError("a second feedback on one prediction was accepted")


def insert_prediction() -> Insert:
    from sqlalchemy import bindparam, insert

    return insert(predictions_table).values(
        id=bindparam("id"),
        created_at=datetime(2026, 1, 1),
        model_version="1",
        probability_ai=0.5,
        label="ai",
        text_length=1,
        text_sha256="0" * 64,
    )


def test_migrate_cli_uses_the_migrate_account_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m model_serving.prediction_log.migrate` (compose's one-shot `app-migrate`)
    migrates SERVING_MIGRATE_DATABASE_URL, not serving's own SERVING_DATABASE_URL."""
    migrated, serving = tmp_path / "migrate.db", tmp_path / "serving.db"
    monkeypatch.setenv("SERVING_MIGRATE_DATABASE_URL", f"sqlite:///{migrated}")
    monkeypatch.setenv("SERVING_DATABASE_URL", f"sqlite:///{serving}")
    assert migrate.main(["--wait", "0"]) == 0
    tables = inspect(create_engine(f"sqlite:///{migrated}")).get_table_names()
    assert {"predictions", "feedback", "alembic_version"} <= set(tables)
    assert not serving.exists()


def test_migrate_cli_fails_clearly_when_the_database_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVING_MIGRATE_DATABASE_URL", "mysql+pymysql://nobody:x@127.0.0.1:1/app")
    assert migrate.main(["--wait", "0"]) == 1
