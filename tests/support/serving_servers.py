"""Serving as a real process for the tests: the project's launcher, ``platform_processes.serving``
(shared with the benchmarks), re-exported under the name the test modules import, and what the
tests read back from the prediction log."""

from __future__ import annotations

from sqlalchemy import create_engine, select

from model_serving.prediction_log.schema import predictions_table
from platform_processes.serving import listening_sockets, metric, start_serving

__all__ = ["listening_sockets", "metric", "start_serving", "written_ids"]


def written_ids(url: str) -> set[str]:
    """The ids of every prediction row in the prediction log at ``url``."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(select(predictions_table.c.id)).scalars())
    finally:
        engine.dispose()
