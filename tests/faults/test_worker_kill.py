"""SIGKILL of a serving worker under load: the supervisor restarts it; failures counted.

Serving runs two workers (each its own ``SO_REUSEPORT`` socket). One is killed with SIGKILL while
40 requests/s arrive: the requests it was holding fail (counted and stated, not hidden), the
kernel sends new connections to the surviving worker, and the supervisor starts a replacement,
which listens again once its model is loaded.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from model_serving.workers import MIN_UPTIME_FOR_RESTART_SECONDS
from tests.faults.load import PacedLoad, record
from tests.support.servers import ServerProcess, wait_until
from tests.support.serving_servers import listening_sockets

pytestmark = pytest.mark.timeout(300)

RATE = 40.0
WORKERS = 2


def worker_pids(supervisor: int) -> list[int]:
    """The supervisor's worker processes (spawned ``multiprocessing`` children)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    pids = []
    for pid in map(int, children):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
            pids.append(pid)
    return sorted(pids)


def test_sigkill_of_a_worker_under_load_is_restarted(
    champion: str, mlflow_env: dict[str, str], serving: Callable[..., Any]
) -> None:
    server: ServerProcess = serving({**mlflow_env, "SERVING_WORKERS": str(WORKERS)})
    supervisor = server.process.pid
    port = int(server.url.rsplit(":", 1)[1])
    wait_until(
        lambda: len(worker_pids(supervisor)) == WORKERS,
        timeout=30,
        what="both serving workers running",
    )
    before = worker_pids(supervisor)
    # A worker that dies sooner than this after its start counts as a crash loop (not restarted).
    ready_at = time.monotonic()

    with PacedLoad(server.url, RATE) as load:
        time.sleep(max(3.0, MIN_UPTIME_FOR_RESTART_SECONDS + 1 - (time.monotonic() - ready_at)))
        victim = before[0]
        killed_at = time.monotonic()
        sent_at_kill = load.sent
        os.kill(victim, signal.SIGKILL)
        wait_until(
            lambda: (
                len(set(worker_pids(supervisor)) - set(before)) == 1
                and listening_sockets(port) == WORKERS
            ),
            timeout=90,
            what="a replacement worker listening",
            interval=0.1,
        )
        restart_seconds = time.monotonic() - killed_at
        time.sleep(3)  # load runs meanwhile: answers after the restart
    figures = load.summary()
    after = worker_pids(supervisor)
    failed = len(load.errors) + sum(n for status, n in load.statuses.items() if status != 200)
    record(
        "serving_worker_sigkill",
        {
            **figures,
            "workers": WORKERS,
            "requests_before_kill": sent_at_kill,
            "failed_requests": failed,
            "failed_share": round(failed / max(load.sent, 1), 4),
            "failure_kinds": sorted({kind for _, kind in load.errors}),
            "seconds_to_replacement_listening": round(restart_seconds, 1),
        },
    )

    assert server.process.poll() is None, "the supervisor must survive a worker's death"
    assert victim not in after and len(after) == WORKERS and before[1] in after
    # Only the requests the killed worker held may fail (a few at 40/s); every other one is 200.
    assert failed <= 10, (load.errors, load.non_200[:5])
    assert load.statuses[200] >= load.sent - failed
    after_restart = [at for at, _ in load.errors if at > killed_at - load.started + restart_seconds]
    assert not after_restart, after_restart

    # And it still stops cleanly: SIGTERM reaches the supervisor and its workers, which drain
    # and exit 0 (a child that inherited a blocked SIGTERM was SIGKILLed at the deadline).
    stop_started = time.monotonic()
    server.stop(timeout=30)
    assert server.process.returncode == 0
    assert time.monotonic() - stop_started < 20
