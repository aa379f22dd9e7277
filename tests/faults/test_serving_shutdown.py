"""Stopping serving under load: SIGTERM loses no row, SIGKILL at most what was queued in memory.

``docker compose stop`` sends SIGTERM to the container's first process (serving's supervisor),
waits ``stop_grace_period`` and then SIGKILLs every process left. The figures here size that
period: how long serving takes from SIGTERM to exit under 50 requests/s, once with a plain log
and once with a backlog the writer must flush (the prediction log's database was cut for
``BACKLOG_SECONDS`` and comes back at the moment of the SIGTERM). Every prediction answered 200
must then be in MariaDB. A SIGKILL of the whole process group (what Docker does at the deadline)
loses the rows still queued in memory; the test bounds the loss by the queue depth read just
before the kill plus one batch being written.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from model_serving.settings import ServingSettings
from platform_processes.launcher import signal_group
from tests.faults.load import PacedLoad, record
from tests.support.orchestration_servers import OutageProxy
from tests.support.servers import ServerProcess
from tests.support.serving_servers import metric, written_ids

pytestmark = pytest.mark.timeout(400)

RATE = 50.0
LOAD_SECONDS = 5.0
BACKLOG_SECONDS = 10.0
WORKERS = 2
EXIT_DEADLINE = 120.0


def stopped(server: ServerProcess, signum: int) -> float:
    """Send ``signum`` as Docker does (SIGTERM to the first process, SIGKILL to all of them);
    return the seconds until the supervisor exited."""
    started = time.monotonic()
    if signum == signal.SIGKILL:
        signal_group(server.pid, signal.SIGKILL)
    else:
        os.kill(server.pid, signum)
    server.process.wait(timeout=EXIT_DEADLINE)
    return time.monotonic() - started


def queued(server: ServerProcess) -> float:
    return float(metric(server.url, "detector_prediction_log_queue_depth") or 0.0)


def test_sigterm_under_load_loses_no_row_and_sigkill_at_most_the_queue(
    own_mariadb_url: str,
    mariadb_through_proxy: tuple[OutageProxy, str],
    champion: str,
    mlflow_env: dict[str, str],
    serving: Callable[..., Any],
) -> None:
    proxy, through_proxy = mariadb_through_proxy
    env = {**mlflow_env, "SERVING_WORKERS": str(WORKERS)}
    figures: dict[str, Any] = {"workers": WORKERS, "rate_per_second_target": RATE}

    # 1. SIGTERM under load, the database up: drain, flush, exit.
    plain = serving({**env, "SERVING_DATABASE_URL": own_mariadb_url})
    with PacedLoad(plain.url, RATE) as load:
        time.sleep(LOAD_SECONDS)  # load runs meanwhile
        plain_seconds = stopped(plain, signal.SIGTERM)
    plain_answered = set(load.prediction_ids)
    plain_lost = plain_answered - written_ids(own_mariadb_url)
    figures["sigterm"] = {
        **load.summary(),
        "exit_code": plain.process.returncode,
        "seconds_sigterm_to_exit": round(plain_seconds, 2),
        "rows_answered_200": len(plain_answered),
        "rows_lost": len(plain_lost),
    }

    # 2. SIGTERM under load with a backlog: the database was cut, comes back at the SIGTERM.
    backlog = serving({**env, "SERVING_DATABASE_URL": through_proxy})
    with PacedLoad(backlog.url, RATE) as load:
        time.sleep(2.0)
        proxy.down()
        try:
            time.sleep(BACKLOG_SECONDS)  # the outage lasts this long, by definition
            backlog_rows = queued(backlog)
        finally:
            proxy.up()
        backlog_seconds = stopped(backlog, signal.SIGTERM)
    backlog_answered = set(load.prediction_ids)
    backlog_lost = backlog_answered - written_ids(own_mariadb_url)
    figures["sigterm_with_backlog"] = {
        **load.summary(),
        "exit_code": backlog.process.returncode,
        "database_cut_seconds": BACKLOG_SECONDS,
        "rows_queued_in_one_worker_at_sigterm": backlog_rows,
        "seconds_sigterm_to_exit": round(backlog_seconds, 2),
        "rows_answered_200": len(backlog_answered),
        "rows_lost": len(backlog_lost),
    }

    # 3. SIGKILL of every process under load: the rows queued in memory are lost, no more.
    killed = serving({**env, "SERVING_DATABASE_URL": own_mariadb_url})
    with PacedLoad(killed.url, RATE) as load:
        time.sleep(LOAD_SECONDS)
        depth_before_kill = queued(killed)
        stopped(killed, signal.SIGKILL)
    killed_answered = set(load.prediction_ids)
    killed_lost = killed_answered - written_ids(own_mariadb_url)
    settings = ServingSettings()
    bound = WORKERS * (settings.log_queue_size + settings.log_flush_rows)
    figures["sigkill"] = {
        **load.summary(),
        "rows_answered_200": len(killed_answered),
        "rows_lost": len(killed_lost),
        "rows_queued_in_one_worker_before_kill": depth_before_kill,
        "loss_bound_rows": bound,
        "loss_bound": "workers x (SERVING_LOG_QUEUE_SIZE + SERVING_LOG_FLUSH_ROWS)",
    }
    record("serving_stop_under_load", figures)

    assert plain.process.returncode == 0 and backlog.process.returncode == 0
    assert plain_answered and not plain_lost, sorted(plain_lost)[:5]
    assert backlog_rows > 0.3 * RATE * BACKLOG_SECONDS / WORKERS, backlog_rows
    assert backlog_answered and not backlog_lost, sorted(backlog_lost)[:5]
    assert len(killed_lost) <= bound
