"""A Dask scheduler and workers on this machine, started like every other server here.

Used by the bulk-scoring integration test and ``bench/bulk_score.py``; ``make``-less: the compose
``dask`` profile runs the same ``dask scheduler`` / ``dask worker`` commands in containers.
"""

from __future__ import annotations

import socket
from pathlib import Path

from platform_processes import commands
from platform_processes.launcher import ServerProcess, free_port, start_process, wait_until


def port_open(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=1.0):
        return True


def start_scheduler(log_dir: Path, *, timeout: float = 60.0) -> ServerProcess:
    """``dask scheduler`` on a free port of 127.0.0.1; ``url`` is its ``tcp://`` address."""
    port = free_port()
    return start_process(
        "dask-scheduler",
        commands.dask_scheduler(port),
        log_dir=log_dir,
        url=f"tcp://{commands.LOCALHOST}:{port}",
        health=lambda: port_open(commands.LOCALHOST, port),
        timeout=timeout,
        cwd=commands.REPO_ROOT,
    )


def start_worker(
    scheduler: ServerProcess,
    name: str,
    log_dir: Path,
    *,
    env: dict[str, str] | None = None,
    nthreads: int = 1,
    memory_limit: str = "auto",
    timeout: float = 90.0,
) -> ServerProcess:
    """A ``dask worker`` named ``name``; healthy once the scheduler lists it. Its environment is
    ``commands.DASK_WORKER_ENVIRONMENT`` plus ``env``."""
    worker = start_process(
        f"dask-worker-{name}",
        commands.dask_worker(scheduler.url, name, nthreads=nthreads, memory_limit=memory_limit),
        log_dir=log_dir,
        url=scheduler.url,
        env={**commands.DASK_WORKER_ENVIRONMENT, **(env or {})},
        cwd=commands.REPO_ROOT,
    )
    try:
        wait_until(
            lambda: name in worker_names(scheduler.url),
            timeout=timeout,
            what=worker.name,
            process=worker.process,
            log=worker.log,
        )
    except BaseException:
        worker.stop()
        raise
    return worker


def worker_names(scheduler_address: str) -> set[str]:
    """Names of the workers the scheduler knows now."""
    from distributed import Client

    with Client(scheduler_address, timeout=10) as client:
        return {str(w["name"]) for w in client.scheduler_info()["workers"].values()}
