"""Write prediction and feedback rows off the request path: bounded queue + one writer thread.

``submit`` never blocks: when the queue is full the row is dropped and counted (the
``detector_prediction_log_dropped_total`` metric), never silently lost. The writer thread applies
the migrations (retrying while the database is down), then inserts rows in batches, in arrival
order, so a feedback row always follows the prediction it refers to. ``close`` flushes everything
still queued.

Two kinds of write failure are told apart, so that no row can stop the log:

- the database is unreachable or busy (anything else): the unwritten rows are kept and retried
  with backoff, in order;
- a row is refused for what it holds (an integrity, data or encoding error): the batch is split
  in halves until the refused row is alone; it is set aside (``rejected_rows``, the last 100),
  counted (``detector_prediction_log_rejected_total``) and logged by id, and the rows behind it
  are written. A single row refused for a duplicate key that is already in the table exactly
  (the same prediction id; feedback with the same label) was written by an earlier attempt
  whose commit outcome was unknown (the connection dropped after the commit): it counts as
  written.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, exc, insert, select

from model_serving.prediction_log import migrate
from model_serving.prediction_log.schema import feedback_table, predictions_table

logger = logging.getLogger(__name__)
#: While lingering, how often the writer looks for more rows (see ``_collect``).
LINGER_POLL_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class PredictionRow:
    """One scored text. ``text`` travels in memory (drift observers use it) and is written
    only when the writer was built with ``store_text=True``; ``threshold`` (the one the text was
    judged at, routed per domain) is in memory only, for the drift monitor's near-threshold
    share."""

    id: str
    created_at: datetime
    model_version: str
    probability_ai: float
    label: str
    text_length: int
    text_sha256: str
    text: str
    in_scope: bool = True
    scope_reason: str | None = None
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    prediction_id: str
    label: str
    created_at: datetime


Row = PredictionRow | FeedbackRow


class PredictionLogWriter:
    """Bounded queue of rows and the thread that writes them in batches."""

    def __init__(
        self,
        url: str,
        *,
        store_text: bool = False,
        queue_size: int = 10_000,
        flush_rows: int = 500,
        flush_interval: float = 0.5,
        linger: float = 0.1,
        on_written: Callable[[int], None] = lambda n: None,
        on_dropped: Callable[[int], None] = lambda n: None,
        on_rejected: Callable[[int], None] = lambda n: None,
        on_depth: Callable[[int], None] = lambda n: None,
        observers: tuple[Callable[[PredictionRow], None], ...] = (),
    ) -> None:
        self.url = url
        self.store_text = store_text
        self.flush_rows = flush_rows
        self.flush_interval = flush_interval
        self.linger = linger
        self._queue: queue.Queue[Row] = queue.Queue(maxsize=queue_size)
        self._on_written = on_written
        self._on_dropped = on_dropped
        self._on_rejected = on_rejected
        self._on_depth = on_depth
        self._observers = observers
        self._stop = threading.Event()
        self._schema_ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self.dropped = 0
        self.written = 0
        self.rejected = 0
        #: The last rows the database refused for what they hold, with the error's type.
        self.rejected_rows: deque[tuple[Row, str]] = deque(maxlen=100)

    # --- producer side (request path) ----------------------------------------------------

    def submit(self, row: Row) -> bool:
        """Queue ``row`` without blocking; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self.dropped += 1
            self._on_dropped(1)
            return False
        return True

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    @property
    def schema_ready(self) -> bool:
        return self._schema_ready.is_set()

    def wait_schema(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the migrations have been applied."""
        return self._schema_ready.wait(timeout)

    def find_prediction(self, prediction_id: str) -> tuple[str, str] | None:
        """``(label, model_version)`` of a logged prediction, or None (database look-up)."""
        engine = self._require_engine()
        with engine.connect() as conn:
            found = conn.execute(
                select(predictions_table.c.label, predictions_table.c.model_version).where(
                    predictions_table.c.id == prediction_id
                )
            ).first()
        return (found[0], found[1]) if found else None

    def has_feedback(self, prediction_id: str) -> bool:
        """Whether the database holds feedback on ``prediction_id``."""
        engine = self._require_engine()
        with engine.connect() as conn:
            found = conn.execute(
                select(feedback_table.c.id).where(feedback_table.c.prediction_id == prediction_id)
            ).first()
        return found is not None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._engine = migrate.make_engine(self.url)
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting work, write everything still queued (within ``timeout``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.error("prediction log: %d rows not flushed at shutdown", self.depth)
        if self._engine is not None:
            self._engine.dispose()

    # --- writer thread -------------------------------------------------------------------

    def _require_engine(self) -> Engine:
        if self._engine is None or not self._schema_ready.is_set():
            raise RuntimeError("the prediction log database is not ready")
        return self._engine

    def _run(self) -> None:
        backoff = 0.5
        while not self._schema_ready.is_set():
            try:
                migrate.upgrade(self.url, self._engine)
                self._schema_ready.set()
            except Exception as exc:
                logger.warning("prediction log database not ready (%s); retrying", _short(exc))
                # Shutting down with the database still down: give it one last chance.
                if self._stop.wait(backoff) and not self._try_final_migration():
                    logger.error("prediction log: %d rows lost, database down", self.depth)
                    return
                backoff = min(backoff * 2, 10.0)
        pending: list[Row] = []
        backoff = 0.5
        while True:
            stopping = self._stop.is_set()
            if not pending:
                pending = self._collect(block=not stopping)
            self._on_depth(self.depth)
            if pending:
                try:
                    self._write_all(pending)  # removes rows from pending as they are settled
                    backoff = 0.5
                except Exception as exc:
                    logger.warning("prediction log write failed (%s); retrying", _short(exc))
                    if stopping and backoff > 4:
                        logger.error("prediction log: %d rows lost at shutdown", len(pending))
                        return
                    time.sleep(backoff)  # the writer thread only, never a request
                    backoff = min(backoff * 2, 10.0)
                continue
            if stopping and self._queue.empty():
                self._on_depth(0)
                return

    def _try_final_migration(self) -> bool:
        try:
            migrate.upgrade(self.url, self._engine)
        except Exception:
            return False
        self._schema_ready.set()
        return True

    def _collect(self, *, block: bool) -> list[Row]:
        """The next batch: up to ``flush_rows`` rows, waiting up to ``linger`` s to fill it.

        Lingering makes one transaction of many requests' rows instead of one per request
        (a transaction costs far more than a row); when stopping, nothing waits.
        """
        rows: list[Row] = []
        try:
            if block:
                rows.append(self._queue.get(timeout=self.flush_interval))
            else:
                rows.append(self._queue.get_nowait())
        except queue.Empty:
            return rows
        deadline = time.monotonic() + self.linger
        while True:
            while len(rows) < self.flush_rows:
                try:
                    rows.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            remaining = deadline - time.monotonic()
            if len(rows) >= self.flush_rows or remaining <= 0 or self._stop.is_set():
                break
            # Polled rather than woken by every ``put``: a wake-up per row is a thread switch per
            # request on the request path's GIL; a few polls per linger cost next to nothing.
            self._stop.wait(min(remaining, LINGER_POLL_SECONDS))
        for row in rows:
            if isinstance(row, PredictionRow):
                for observe in self._observers:
                    try:
                        observe(row)
                    except Exception:  # an observer must never stop the log
                        logger.exception("prediction observer failed")
        return rows

    def _write_all(self, pending: list[Row]) -> None:
        """Write ``pending`` in order, setting aside rows refused for their content.

        Rows leave ``pending`` once written or set aside; a failure that is not a row's fault
        propagates with the unwritten rows still in ``pending``. A refused batch is bisected:
        a bad row among n costs about log2(n) extra transactions.
        """
        chunk = len(pending)
        while pending:
            rows = pending[:chunk]
            try:
                self._write(rows)
            except Exception as error:
                if not row_caused(error):
                    raise
                if len(rows) > 1:
                    chunk = (len(rows) + 1) // 2
                    continue
                self._settle_refused(rows[0], error)
            del pending[: len(rows)]
            chunk = len(pending)

    def _settle_refused(self, row: Row, error: BaseException) -> None:
        if isinstance(error, exc.IntegrityError) and self._already_written(row):
            logger.info("prediction log: %s was already written (earlier commit)", _describe(row))
            self.written += 1
            self._on_written(1)
            return
        logger.warning(
            "prediction log: the database refused %s (%s); set aside, the rows behind it go on",
            _describe(row),
            _short(error),
        )
        self.rejected += 1
        self.rejected_rows.append((row, type(error).__name__))
        self._on_rejected(1)

    def _already_written(self, row: Row) -> bool:
        engine = self._require_engine()
        with engine.connect() as conn:
            if isinstance(row, PredictionRow):
                query = select(predictions_table.c.id).where(predictions_table.c.id == row.id)
            else:
                query = select(feedback_table.c.id).where(
                    (feedback_table.c.prediction_id == row.prediction_id)
                    & (feedback_table.c.label == row.label)
                )
            return conn.execute(query).first() is not None

    def _write(self, rows: list[Row]) -> None:
        engine = self._require_engine()
        with engine.begin() as conn:
            # Consecutive runs of the same kind keep arrival order across both tables.
            for kind, run in _runs(rows):
                if kind is PredictionRow:
                    predictions = [self._prediction(r) for r in run if isinstance(r, PredictionRow)]
                    conn.execute(insert(predictions_table), predictions)
                else:
                    conn.execute(
                        insert(feedback_table),
                        [
                            {
                                "prediction_id": r.prediction_id,
                                "label": r.label,
                                "created_at": r.created_at,
                            }
                            for r in run
                            if isinstance(r, FeedbackRow)
                        ],
                    )
        self.written += len(rows)
        self._on_written(len(rows))

    def _prediction(self, row: PredictionRow) -> dict[str, object]:
        return {
            "id": row.id,
            "created_at": row.created_at,
            "model_version": row.model_version,
            "probability_ai": row.probability_ai,
            "label": row.label,
            "text_length": row.text_length,
            "text_sha256": row.text_sha256,
            "text": row.text if self.store_text else None,
            "in_scope": row.in_scope,
            "scope_reason": row.scope_reason,
        }


def row_caused(error: BaseException) -> bool:
    """Whether the database refused a write for what a row holds, not for being unreachable."""
    if isinstance(error, exc.IntegrityError | exc.DataError | UnicodeError):
        return True
    return isinstance(getattr(error, "orig", None), UnicodeError)


def _describe(row: Row) -> str:
    if isinstance(row, PredictionRow):
        return f"prediction {row.id}"
    return f"feedback on prediction {row.prediction_id}"


def _runs(rows: list[Row]) -> list[tuple[type, list[Row]]]:
    runs: list[tuple[type, list[Row]]] = []
    for row in rows:
        if runs and runs[-1][0] is type(row):
            runs[-1][1].append(row)
        else:
            runs.append((type(row), [row]))
    return runs


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
