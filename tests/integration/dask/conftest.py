"""A real Dask cluster for the tests of this folder: a ``dask scheduler`` and two ``dask worker``
processes over TCP on 127.0.0.1. Each test module defines ``platform_home`` (the workers'
``PLATFORM_HOME``: the SQLite registry of that module)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from platform_processes import ServerProcess, dask_cluster, stop_all
from tests.conftest import service_or_skip


@pytest.fixture(scope="module")
def cluster(
    platform_home: Path, server_logs: Path
) -> Iterator[tuple[ServerProcess, list[ServerProcess]]]:
    """A scheduler and two single-threaded workers (the registry is the SQLite one of the test)."""
    env = {"PLATFORM_HOME": str(platform_home)}
    scheduler = service_or_skip(lambda: dask_cluster.start_scheduler(server_logs))
    workers: list[ServerProcess] = []
    try:
        for name in ("a", "b"):
            workers.append(
                service_or_skip(
                    partial(dask_cluster.start_worker, scheduler, name, server_logs, env=env)
                )
            )
        yield scheduler, workers
    finally:
        stop_all([*workers, scheduler])
