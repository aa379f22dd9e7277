"""MariaDB (the prediction log) unreachable for 30 s under 50 requests/s.

Serving reaches the machine's MariaDB (127.0.0.1:3306) through :class:`OutageProxy`; cutting the
proxy refuses new connections and cuts the open ones, as a database restart or a network
partition would. Serving must keep answering 200 (the log is written off the request path), keep
the rows in its bounded queue, and write every one of them once the database is back: the set of
ids in the table equals the set of ids the clients were given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.faults.load import PacedLoad, record
from tests.support.orchestration_servers import OutageProxy
from tests.support.servers import ServerProcess, wait_until
from tests.support.serving_servers import metric, written_ids

pytestmark = pytest.mark.timeout(300)

RATE = 50.0
OUTAGE_SECONDS = 30.0
BEFORE_SECONDS = AFTER_SECONDS = 5.0


def test_mariadb_down_30s_under_load_loses_no_row(
    own_mariadb_url: str,
    mariadb_through_proxy: tuple[OutageProxy, str],
    champion: str,
    mlflow_env: dict[str, str],
    serving: Callable[..., Any],
) -> None:
    proxy, through_proxy = mariadb_through_proxy
    server: ServerProcess = serving({**mlflow_env, "SERVING_DATABASE_URL": through_proxy})

    with PacedLoad(server.url, RATE) as load:
        time.sleep(BEFORE_SECONDS)  # load runs meanwhile: the baseline before the fault
        proxy.down()
        cut_at = time.monotonic()
        try:
            time.sleep(OUTAGE_SECONDS)  # the fault itself lasts this long, by definition
            queued_at_end_of_outage = metric(server.url, "detector_prediction_log_queue_depth")
            answered_during_outage = load.sent
        finally:
            proxy.up()
        restored_at = time.monotonic()
        time.sleep(AFTER_SECONDS)
    figures = load.summary()

    answered = set(load.prediction_ids)
    caught_up = time.monotonic()
    wait_until(
        lambda: answered <= written_ids(own_mariadb_url),
        timeout=90,
        what="every answered prediction written to MariaDB",
        interval=1.0,
    )
    catch_up_seconds = time.monotonic() - restored_at
    written = written_ids(own_mariadb_url)
    dropped = metric(server.url, "detector_prediction_log_dropped_total")
    record(
        "mariadb_down_30s",
        {
            **figures,
            "outage_seconds": round(restored_at - cut_at, 1),
            "requests_sent_by_end_of_outage": answered_during_outage,
            "rows_queued_at_end_of_outage": queued_at_end_of_outage,
            "rows_answered_200": len(answered),
            "rows_written": len(written & answered),
            "rows_lost": len(answered - written),
            "rows_dropped_metric": dropped,
            "seconds_from_restore_to_all_written": round(catch_up_seconds, 1),
            "seconds_waited_after_load": round(time.monotonic() - caught_up, 1),
        },
    )
    assert load.statuses and set(load.statuses) == {200}, (load.statuses, load.non_200[:5])
    assert not load.errors, load.errors[:5]
    assert figures["rate_per_second"] >= 0.9 * RATE
    assert queued_at_end_of_outage and queued_at_end_of_outage > 0.5 * RATE * OUTAGE_SECONDS
    assert answered <= written and dropped == 0
