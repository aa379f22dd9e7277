"""Several uvicorn workers on one port, each with its own ``SO_REUSEPORT`` listening socket.

``uvicorn --workers N`` shares one listening socket between the workers; under keep-alive load one
worker accepts nearly every connection (the measurement is in ``model_serving/README.md``), so the
second worker adds no throughput. With ``SO_REUSEPORT`` the kernel spreads
new connections over the workers' sockets. A worker calls ``listen()`` only once its application
has started (asyncio does it when serving begins), so connections never queue behind a worker that
is still loading the model.

The supervisor forwards SIGINT/SIGTERM to the workers (each drains and flushes its prediction log),
restarts a worker that dies unexpectedly, and exits once every worker has stopped.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn

logger = logging.getLogger("model_serving")

#: A worker that dies sooner than this after its start is not restarted (a crash loop).
MIN_UPTIME_FOR_RESTART_SECONDS = 10.0


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker process needs (picklable: workers are spawned, not forked)."""

    host: str
    port: int
    uvicorn_options: dict[str, Any]


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A bound, not yet listening TCP socket that other workers can bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(False)
    return sock


def run_worker(spec: WorkerSpec) -> None:
    """Entry point of one worker process."""
    from platform_processes.logging_config import configure_logging

    configure_logging(str(spec.uvicorn_options.get("log_level", "info")).upper())
    sock = reuse_port_socket(spec.host, spec.port)
    config = uvicorn.Config(**spec.uvicorn_options)
    uvicorn.Server(config).run(sockets=[sock])


def forget_metrics_of(pid: int | None) -> None:
    """Drop a stopped worker's live gauges from multiprocess ``/metrics`` (crashes included)."""
    if pid is not None and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


class Supervisor:
    """Start ``count`` workers, forward stop signals, restart a worker that dies on its own."""

    def __init__(self, spec: WorkerSpec, count: int) -> None:
        self.spec = spec
        self.count = count
        self.context = multiprocessing.get_context("spawn")
        self.workers: dict[int, tuple[BaseProcess, float]] = {}
        self.stopping = False

    def start_worker(self, slot: int) -> None:
        process = self.context.Process(
            target=run_worker, args=(self.spec,), name=f"serving-worker-{slot}"
        )
        process.start()
        self.workers[slot] = (process, time.monotonic())
        logger.info("worker %d started (pid %s)", slot, process.pid)

    def stop(self, _signum: int = signal.SIGTERM, _frame: FrameType | None = None) -> None:
        """Ask every worker to drain and stop.

        Always SIGTERM: a second SIGINT would make uvicorn skip its shutdown (and the prediction
        log flush); a worker that already got the signal from its process group is not harmed.
        """
        self.stopping = True
        for process, _ in self.workers.values():
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)

    def run(self) -> int:
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGTERM, self.stop)
        for slot in range(self.count):
            self.start_worker(slot)
        failed = False
        while self.workers:
            for slot, (process, started) in list(self.workers.items()):
                process.join(timeout=0.5)
                if process.is_alive():
                    continue
                del self.workers[slot]
                forget_metrics_of(process.pid)
                if self.stopping:
                    continue
                uptime = time.monotonic() - started
                logger.error(
                    "worker %d (pid %s) exited with %s after %.0f s",
                    slot,
                    process.pid,
                    process.exitcode,
                    uptime,
                )
                if uptime >= MIN_UPTIME_FOR_RESTART_SECONDS:
                    self.start_worker(slot)
                else:
                    failed = True
                    self.stop(signal.SIGTERM)
        return 1 if failed else 0
