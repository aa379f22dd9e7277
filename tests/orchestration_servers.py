"""Real servers for the orchestration tests: Prefect server on PostgreSQL, Alertmanager, the
webhook receiver and the worker, each a process group stopped by ``ServerProcess.stop()``.

Built on the helpers of ``tests/servers.py`` (health checks with deadlines, never bare sleeps).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path

from tests.servers import (
    REPO_ROOT,
    VENV_BIN,
    ServerProcess,
    ServiceUnavailable,
    free_port,
    http_ok,
    start_process,
)

POSTGRES_HOST = os.environ.get("TEST_POSTGRES_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("TEST_POSTGRES_PORT", "5432"))
POSTGRES_USER = os.environ.get("TEST_POSTGRES_USER", "postgres")


async def _postgres_execute(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(
        host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, database="postgres", timeout=5
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create_postgres_database(prefix: str = "prefect") -> str:
    """A fresh PostgreSQL database; return its ``postgresql+asyncpg://`` URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_postgres_execute(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        raise ServiceUnavailable(f"PostgreSQL at {POSTGRES_HOST}:{POSTGRES_PORT}: {exc}") from exc
    return f"postgresql+asyncpg://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[-1]
    with contextlib.suppress(Exception):
        asyncio.run(_postgres_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def prefect_client_env(api_url: str, home: Path) -> dict[str, str]:
    """What a Prefect client process (worker, webhook, test) needs to talk to the server."""
    return {
        "PREFECT_API_URL": api_url,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    }


def start_prefect_server(
    database_url: str, home: Path, log_dir: Path, timeout: float = 120.0
) -> ServerProcess:
    """``prefect server start`` on ``database_url`` (PostgreSQL), no UI; waits on /api/health."""
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **prefect_client_env(api_url, home),
        "PREFECT_API_URL": "",
        "PREFECT_API_DATABASE_CONNECTION_URL": database_url,
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED": "false",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    }
    server = start_process(
        "prefect-server",
        [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        log_dir=log_dir,
        url=api_url,
        health=http_ok(f"{api_url}/health"),
        env=env,
        timeout=timeout,
    )
    server.extra["home"] = str(home)
    return server


def alertmanager_binary() -> str:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        raise ServiceUnavailable("prometheus-alertmanager is not installed (apt package)")
    return binary


def start_alertmanager(config: Path, data_dir: Path, log_dir: Path) -> ServerProcess:
    """Alertmanager with ``config`` (already rendered), clustering off, waits on /-/ready."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        alertmanager_binary(),
        f"--config.file={config}",
        f"--storage.path={data_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    return start_process(
        "alertmanager", args, log_dir=log_dir, url=url, health=http_ok(f"{url}/-/ready"), timeout=30
    )


def start_prometheus(config: Path, data_dir: Path, log_dir: Path) -> ServerProcess:
    """Prometheus with ``config`` (already rendered), waits on /-/ready."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise ServiceUnavailable("prometheus is not installed (apt package)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
    ]
    return start_process(
        "prometheus", args, log_dir=log_dir, url=url, health=http_ok(f"{url}/-/ready"), timeout=30
    )


def start_webhook(env: Mapping[str, str], log_dir: Path, port: int | None = None) -> ServerProcess:
    """``python -m model_orchestration.webhook`` with ``env`` (ORCHESTRATION_* etc.)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {
        **env,
        "ORCHESTRATION_WEBHOOK_HOST": "127.0.0.1",
        "ORCHESTRATION_WEBHOOK_PORT": str(port),
    }
    return start_process(
        "webhook",
        [sys.executable, "-m", "model_orchestration.webhook"],
        log_dir=log_dir,
        url=url,
        health=http_ok(f"{url}/healthz"),
        env=full_env,
        timeout=60,
        cwd=REPO_ROOT,
    )


def start_worker(
    env: Mapping[str, str], log_dir: Path, ready: str, timeout: float = 120.0
) -> ServerProcess:
    """``python -m model_orchestration.worker``; ready once the deployment ``ready`` exists."""
    api_url = env["PREFECT_API_URL"]

    def deployment_exists() -> bool:
        import httpx

        flow, deployment = ready.split("/", 1)
        response = httpx.get(f"{api_url}/deployments/name/{flow}/{deployment}", timeout=2.0)
        return response.is_success

    return start_process(
        "worker",
        [sys.executable, "-m", "model_orchestration.worker"],
        log_dir=log_dir,
        url=api_url,
        health=deployment_exists,
        env=dict(env),
        timeout=timeout,
        cwd=REPO_ROOT,
    )
