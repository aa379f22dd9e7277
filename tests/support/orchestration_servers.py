"""Real servers for the orchestration tests: Prefect server on PostgreSQL, Alertmanager, the
webhook receiver and the worker, each a process group stopped by ``ServerProcess.stop()``; plus
:class:`OutageProxy` (make MLflow or S3 unreachable for a while), :class:`PrefectApi` (start
deployment runs and wait for their final state), ``ALL_DEPLOYMENTS`` (what the worker serves) and
:func:`put_batch` (drop a labelled batch where ``ingest`` looks) and :func:`alertmanager_payload`
(a notification as Alertmanager posts it to the webhook).

Built on the helpers of ``tests/support/servers.py`` (health checks with deadlines, never bare
sleeps).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from model_orchestration import prefect_security
from model_orchestration.settings import (
    DRIFT_CHECK_FLOW,
    INGEST_FLOW,
    RETRAIN_FLOW,
    SCORE_FLOW,
    TRAIN_FLOW,
    deployment_name,
)
from model_orchestration.storage import split_s3_uri
from platform_processes import commands
from tests.support.servers import (
    REPO_ROOT,
    S3Store,
    ServerProcess,
    ServiceUnavailable,
    free_port,
    http_ok,
    start_process,
    wait_until,
)

if TYPE_CHECKING:
    import pandas as pd

POSTGRES_HOST = os.environ.get("TEST_POSTGRES_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("TEST_POSTGRES_PORT", "5432"))
POSTGRES_USER = os.environ.get("TEST_POSTGRES_USER", "postgres")
#: Every deployment the worker serves (``flow/deployment`` names): it is ready once all exist.
ALL_DEPLOYMENTS = [
    deployment_name(flow)
    for flow in (TRAIN_FLOW, INGEST_FLOW, RETRAIN_FLOW, DRIFT_CHECK_FLOW, SCORE_FLOW)
]


async def _postgres_execute(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(
        host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, database="postgres", timeout=5
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def small_training_env(model_name: str, prefix: str, seed_csv: Path) -> dict[str, str]:
    """Registry + ingest settings for a fast, lenient training run on a small seed sample.

    One trial of one candidate, a low first-champion floor and a 0.05 gate margin: a few hundred
    essays give F1 around 0.97 with noise of a few points between versions.
    """
    return {
        "REGISTRY_MODEL_NAME": model_name,
        "REGISTRY_EXPERIMENT": model_name,
        "REGISTRY_DATA_PATH": str(seed_csv),
        "REGISTRY_DATASET_STORE": f"{prefix}/store",
        "REGISTRY_CANDIDATES": "word_tfidf_lr",
        "REGISTRY_TRIALS": "1",
        "REGISTRY_F1_FLOOR": "0.5",
        "REGISTRY_GATE_MARGIN": "0.05",
        "ORCHESTRATION_INGEST_SOURCE": f"{prefix}/incoming",
        "ORCHESTRATION_QUARANTINE": f"{prefix}/quarantine",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }


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


def prefect_client_env(server: ServerProcess) -> dict[str, str]:
    """What a Prefect client process (worker, webhook, test) needs to talk to ``server``: its URL
    and login (the server enforces it, with CSRF protection, as in compose)."""
    return {
        "PREFECT_API_URL": server.url,
        "PREFECT_HOME": server.extra["home"],
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
        **prefect_security.client_env(server.extra["auth_string"]),
    }


def start_prefect_server(
    database_url: str, home: Path, log_dir: Path, timeout: float = 120.0
) -> ServerProcess:
    """``prefect server start`` on ``database_url`` (PostgreSQL), no UI, behind a generated login
    and CSRF protection; waits on /api/health (the one route open without the login)."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    api_url = f"{origin}/api"
    auth_string = prefect_security.generate_auth_string("platform-test")
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": "",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_DATABASE_CONNECTION_URL": database_url,
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_ENABLED": "false",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        **prefect_security.server_env(auth_string, origin),
    }
    server = start_process(
        "prefect-server",
        commands.prefect_server(port),
        log_dir=log_dir,
        url=api_url,
        health=http_ok(f"{api_url}/health"),
        env=env,
        timeout=timeout,
    )
    server.extra["home"] = str(home)
    server.extra["auth_string"] = auth_string
    return server


def alertmanager_binary() -> str:
    binary = commands.find_binary(commands.ALERTMANAGER_BINARIES)
    if binary is None:
        raise ServiceUnavailable("prometheus-alertmanager is not installed (apt package)")
    return binary


def start_alertmanager(config: Path, data_dir: Path, log_dir: Path) -> ServerProcess:
    """Alertmanager with ``config`` (already rendered), clustering off, asking for the tests'
    monitoring login (``tests.monitoring_servers.LOGIN``) as in compose; waits on /-/ready."""
    from tests.support.monitoring_servers import LOGIN, write_monitoring_auth

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    web_config, _ = write_monitoring_auth(data_dir)
    args = commands.alertmanager(
        alertmanager_binary(), config, data_dir, port, web_config=web_config
    )
    health = http_ok(f"{url}/-/ready", auth=LOGIN)
    return start_process("alertmanager", args, log_dir=log_dir, url=url, health=health, timeout=30)


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
        commands.python_module("model_orchestration.webhook"),
        log_dir=log_dir,
        url=url,
        health=http_ok(f"{url}/healthz"),
        env=full_env,
        timeout=60,
        cwd=REPO_ROOT,
    )


def start_worker(
    env: Mapping[str, str], log_dir: Path, ready: str | Sequence[str], timeout: float = 120.0
) -> ServerProcess:
    """``python -m model_orchestration.worker``; ready once every deployment in ``ready``
    (``flow/deployment`` names) exists on the Prefect server."""
    api_url = env["PREFECT_API_URL"]
    login = prefect_security.basic_auth_header(env["PREFECT_API_AUTH_STRING"])
    names = [ready] if isinstance(ready, str) else list(ready)

    def deployment_exists() -> bool:
        return all(
            httpx.get(f"{api_url}/deployments/name/{name}", headers=login, timeout=2.0).is_success
            for name in names
        )

    return start_process(
        "worker",
        commands.python_module("model_orchestration.worker"),
        log_dir=log_dir,
        url=api_url,
        health=deployment_exists,
        env=dict(env),
        timeout=timeout,
        cwd=REPO_ROOT,
    )


def put_batch(s3_store: S3Store, incoming: str, name: str, frame: pd.DataFrame) -> None:
    """Write ``frame`` as CSV object ``name`` under ``incoming`` (``s3://bucket/prefix``)."""
    bucket, prefix = split_s3_uri(incoming)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    s3_store.client().put_object(Bucket=bucket, Key=prefix + name, Body=buffer.getvalue())


def alertmanager_payload(
    status: str = "firing", names: tuple[str, ...] = ("TextDriftDetected",)
) -> dict[str, Any]:
    """An Alertmanager v4 webhook notification with one alert per name."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="TextDriftDetected"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "retrain-webhook",
        "groupLabels": {"alertname": names[0]},
        "commonLabels": {"severity": "warning"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": name, "severity": "warning"},
                "annotations": {"summary": "drift"},
                "startsAt": "2026-11-23T08:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": f"fp{i}",
            }
            for i, name in enumerate(names)
        ],
    }


# --- a switchable TCP proxy: "the server is briefly unavailable" without touching the server ---


class OutageProxy:
    """Forwards 127.0.0.1:<port> to ``target``; ``down()`` refuses connections until ``up()``.

    Clients are pointed at the proxy instead of the real server (MLflow, S3), so a test can make a
    server unreachable for a while (connection refused, open connections cut) and bring it back,
    while the server itself, shared with other tests, keeps running.
    """

    def __init__(self, target: str) -> None:
        host, _, port = target.removeprefix("http://").partition(":")
        self.target = (host, int(port.rstrip("/")))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self.up()

    def up(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, set()
        for sock in [*connections, *([listener] if listener else [])]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._connections.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


# --- the Prefect REST API, as a test sees it ----------------------------------------------------


@dataclass
class PrefectApi:
    """Start deployment runs and wait for their final state over Prefect's REST API, logged in
    and with a CSRF token on every state-changing request, as Prefect's own client does."""

    url: str
    auth_string: str
    _csrf: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, server: ServerProcess) -> PrefectApi:
        return cls(server.url, server.extra["auth_string"])

    @property
    def login(self) -> dict[str, str]:
        return prefect_security.basic_auth_header(self.auth_string)

    def csrf_headers(self) -> dict[str, str]:
        if not self._csrf:
            client = uuid.uuid4().hex
            response = httpx.get(
                f"{self.url}/csrf-token", params={"client": client}, headers=self.login, timeout=10
            )
            response.raise_for_status()
            self._csrf = {
                "Prefect-Csrf-Token": response.json()["token"],
                "Prefect-Csrf-Client": client,
            }
        return self._csrf

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.url}{path}", headers=self.login, timeout=10)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        headers = {**self.login, **self.csrf_headers()}
        response = httpx.post(f"{self.url}{path}", json=body, headers=headers, timeout=10)
        response.raise_for_status()
        return response.json()

    def deployment(self, full_name: str) -> dict[str, Any]:
        return self.get(f"/deployments/name/{full_name}")

    def start(self, full_name: str, parameters: dict[str, Any] | None = None) -> str:
        """Create a run of deployment ``flow/deployment``; return its id."""
        deployment = self.deployment(full_name)
        run = self.post(
            f"/deployments/{deployment['id']}/create_flow_run", {"parameters": parameters or {}}
        )
        return str(run["id"])

    def flow_run(self, run_id: str) -> dict[str, Any]:
        return self.get(f"/flow_runs/{run_id}")

    def task_runs(self, run_id: str) -> list[dict[str, Any]]:
        body = {"flow_runs": {"id": {"any_": [run_id]}}, "limit": 200}
        return list(self.post("/task_runs/filter", body))

    def flow_runs(self, flow_name: str) -> list[dict[str, Any]]:
        body = {"flows": {"name": {"any_": [flow_name]}}, "sort": "START_TIME_DESC", "limit": 50}
        return list(self.post("/flow_runs/filter", body))

    def wait_final(self, run_id: str, timeout: float) -> dict[str, Any]:
        """The run once its state is final (completed, failed, crashed, cancelled)."""
        final = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
        seen: dict[str, Any] = {}

        def done() -> bool:
            seen.update(self.flow_run(run_id))
            return (seen.get("state") or {}).get("type") in final

        wait_until(done, timeout=timeout, what=f"flow run {run_id} to finish", interval=0.5)
        return seen
