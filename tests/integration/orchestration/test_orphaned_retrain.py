"""A worker killed mid-retrain must not block every later alert.

A real Prefect server, worker and webhook receiver: an alert starts a retrain, the worker (and
its flow-run process) is SIGKILLed while the run is RUNNING, so the run stays RUNNING on the
server and sends no heartbeat any more. Right after the kill an alert is still
``skipped_running`` (the run started moments ago); once no heartbeat came for
``ORCHESTRATION_RETRAIN_STALE_AFTER_SECONDS``, the next alert starts a new retrain and the
orphaned run is marked crashed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from model_orchestration.settings import RETRAIN_FLOW, deployment_name
from tests.conftest import service_or_skip
from tests.integration.orchestration.conftest import worker_env
from tests.support import servers
from tests.support.orchestration_servers import (
    PrefectApi,
    alertmanager_payload,
    start_webhook,
    start_worker,
)

HEARTBEAT_SECONDS = 30  # Prefect's minimum
STALE_AFTER_SECONDS = 70
TOKEN = "orphan-test-token-0123456789"

pytestmark = pytest.mark.usefixtures("mlflow_env")


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (from /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and everything it started, as a killed container would."""
    for victim in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


@pytest.fixture
def orphan_stack(
    prefect_server: servers.ServerProcess,
    s3_store: servers.S3Store,
    mlflow_server: servers.ServerProcess,
    tmp_path: Path,
    server_logs: Path,
) -> Iterator[tuple[servers.ServerProcess, servers.ServerProcess]]:
    run = uuid.uuid4().hex[:8]
    env = {
        **worker_env(
            prefect_server,
            s3_store,
            tmp_path,
            f"orphan-it-{run}",
            f"s3://datasets/orphan-it-{run}",
        ),
        "MLFLOW_TRACKING_URI": mlflow_server.url,
        "ORCHESTRATION_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "ORCHESTRATION_RETRAIN_STALE_AFTER_SECONDS": str(STALE_AFTER_SECONDS),
        "ORCHESTRATION_WEBHOOK_TOKEN": TOKEN,
        "ORCHESTRATION_COOLDOWN_SECONDS": "0",
    }
    worker = service_or_skip(
        lambda: start_worker(env, server_logs, ready=deployment_name(RETRAIN_FLOW), timeout=180)
    )
    webhook = service_or_skip(lambda: start_webhook(env, server_logs))
    yield worker, webhook
    webhook.stop()
    worker.stop()


def alert(webhook: servers.ServerProcess) -> dict[str, Any]:
    response = httpx.post(
        f"{webhook.url}/v1/alerts",
        json=alertmanager_payload(),
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_killed_worker_leaves_no_retrain_that_blocks_alerts_forever(
    orphan_stack: tuple[servers.ServerProcess, servers.ServerProcess],
    prefect_server: servers.ServerProcess,
) -> None:
    worker, webhook = orphan_stack
    api = PrefectApi.of(prefect_server)
    first = alert(webhook)
    assert first["result"] == "started", first
    run_id = first["run_id"]

    def running() -> bool:
        return (api.flow_run(run_id).get("state") or {}).get("type") == "RUNNING"

    servers.wait_until(running, timeout=120, what="the retrain run to be RUNNING", interval=0.5)
    kill_tree(worker.process.pid)
    worker.process.wait(timeout=10)
    killed_at = time.monotonic()

    second = alert(webhook)
    assert second["result"] == "skipped_running", second
    assert second["run_id"] == run_id

    started: dict[str, Any] = {}

    def alert_starts_a_new_run() -> bool:
        started.update(alert(webhook))
        return started["result"] == "started"

    servers.wait_until(
        alert_starts_a_new_run,
        timeout=STALE_AFTER_SECONDS + 4 * HEARTBEAT_SECONDS,
        what="an alert to start a retrain after the worker was killed",
        interval=5,
    )
    # Not before the bound: the last heartbeat came at the latest when the worker died.
    assert time.monotonic() - killed_at >= STALE_AFTER_SECONDS - HEARTBEAT_SECONDS - 5
    assert started["run_id"] != run_id
    orphan = api.flow_run(run_id)
    assert orphan["state"]["type"] == "CRASHED", orphan["state"]
    assert "no heartbeat" in orphan["state"]["message"]
