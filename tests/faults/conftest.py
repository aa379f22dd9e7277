"""The fault tier: real servers, each fault injected for real, under bounded load.

Every test here starts real processes (serving through ``platform_processes``, MLflow and the S3
store from ``tests/conftest.py``, the machine's MariaDB), injects one fault (a TCP proxy cut, a
SIGKILL, hostile inputs) while ``tests.faults.load.PacedLoad`` sends requests to 127.0.0.1 only,
and records what it measured with ``tests.faults.load.record`` in ``bench/results/faults.json``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import service_or_skip
from tests.support.model_fixtures import register_small_model
from tests.support.orchestration_servers import OutageProxy
from tests.support.servers import MARIADB_HOST, MARIADB_PORT, ServerProcess
from tests.support.serving_servers import start_serving


@pytest.fixture
def model_name() -> str:
    return f"faults-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def champion(mlflow_env: dict[str, str], model_name: str) -> str:
    """A small champion registered on the real MLflow server under this test's own name."""
    return register_small_model(
        mlflow_env["MLFLOW_TRACKING_URI"], model_name=model_name, n_train=300, seed=3
    )


@pytest.fixture
def serving(
    server_logs: Path, model_name: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., ServerProcess]]:
    """Start serving on ``model_name`` with the given environment (stopped after the test)."""
    started: list[ServerProcess] = []

    def start(env: dict[str, str], **options: Any) -> ServerProcess:
        full = {
            "SERVING_MODEL_NAME": model_name,
            "SERVING_POLL_INTERVAL_SECONDS": "0.5",
            "SERVING_RETRY_MIN_SECONDS": "0.2",
            "SERVING_RETRY_MAX_SECONDS": "1",
            **env,
        }
        name = f"faults-{request.node.name[:40]}"
        server = service_or_skip(
            lambda: start_serving(full, server_logs, name=name, wait_ready=True, **options)
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def mariadb_through_proxy(own_mariadb_url: str) -> tuple[OutageProxy, str]:
    """A TCP proxy in front of MariaDB that a test can take down, and the test's own database URL
    through it."""
    proxy = OutageProxy(f"http://{MARIADB_HOST}:{MARIADB_PORT}")
    url = own_mariadb_url.replace(f"@{MARIADB_HOST}:{MARIADB_PORT}/", f"@127.0.0.1:{proxy.port}/")
    return proxy, url
