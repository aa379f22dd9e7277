"""The SO_REUSEPORT worker supervisor: connections spread over workers, SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.servers import free_port, wait_until
from tests.support.serving_servers import listening_sockets

SUPERVISE = """
from model_serving.workers import Supervisor, WorkerSpec
options = {"app": "tests.unit.serving.pid_app:app", "log_level": "warning", "log_config": None}
raise SystemExit(Supervisor(WorkerSpec("127.0.0.1", %d, options), 2).run())
"""


def test_two_workers_share_the_port_and_stop_on_sigterm() -> None:
    port = free_port()
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISE % port], start_new_session=True, cwd=os.getcwd()
    )
    try:
        wait_until(lambda: listening_sockets(port) == 2, timeout=60, what="two listeners")
        pids = set()
        for _ in range(40):  # a new connection each time: the kernel picks a socket per connection
            with httpx.Client() as client:
                pids.add(client.get(f"http://127.0.0.1:{port}/").text)
        assert len(pids) == 2, pids
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
        assert listening_sockets(port) == 0
        for pid in pids:  # every worker is gone, not orphaned
            assert not Path(f"/proc/{pid}").exists()
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
