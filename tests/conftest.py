"""Shared fixtures: the real servers integration and e2e tests run against.

Servers are started once per test session and torn down after it. When a server cannot be
started the dependent tests are skipped, unless ``REQUIRE_SERVICES=1`` (set by CI), in which case
they fail: CI must never pass by skipping the tests that matter.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support import servers

T = TypeVar("T")
TESTS_DIR = Path(__file__).parent


def require_services() -> bool:
    return os.environ.get("REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}


def service_or_skip(start: Callable[[], T]) -> T:
    """Run ``start``; a missing service skips the test, or fails it under REQUIRE_SERVICES=1."""
    try:
        return start()
    except servers.ServiceUnavailable as exc:
        if require_services():
            pytest.fail(f"required service unavailable: {exc}", pytrace=False)
        pytest.skip(f"service unavailable: {exc}")


@pytest.fixture(autouse=True, scope="module")
def _mlflow_uris_stay_in_their_module() -> Iterator[None]:
    """MLflow keeps the tracking and registry URIs in process globals and in environment variables
    that subprocesses inherit. A module that sets them (itself, or through serving's model loader
    run in-process) must not point the next module's clients and servers at its store."""
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved = {name: os.environ.get(name) for name in names}
    yield
    if "mlflow" in sys.modules:
        import mlflow

        # mlflow annotates these as str only, but None is what resets them to the default.
        mlflow.set_tracking_uri(saved["MLFLOW_TRACKING_URI"])  # type: ignore[arg-type]
        mlflow.set_registry_uri(saved["MLFLOW_REGISTRY_URI"])  # type: ignore[arg-type]
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by the folder it lives in (unit, integration, e2e, faults, containers)."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(TESTS_DIR).parts
        if parts and parts[0] in {"unit", "integration", "e2e", "faults", "containers"}:
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture(scope="session")
def server_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """A fresh MariaDB database for this test session (SQLAlchemy URL)."""
    url = service_or_skip(lambda: servers.create_mariadb_database("it"))
    yield url
    servers.drop_mariadb_database(url)


@pytest.fixture
def own_mariadb_url() -> Iterator[str]:
    """A MariaDB database for one test alone, for assertions on whole tables."""
    url = service_or_skip(lambda: servers.create_mariadb_database("own"))
    yield url
    servers.drop_mariadb_database(url)


@pytest.fixture(scope="session")
def s3_store(
    tmp_path_factory: pytest.TempPathFactory, server_logs: Path
) -> Iterator[servers.S3Store]:
    """A real S3-compatible store (SeaweedFS) with the buckets the platform uses."""
    data = tmp_path_factory.mktemp("s3-data")
    store = service_or_skip(
        lambda: servers.start_s3(data, server_logs, buckets=("mlflow", "datasets"))
    )
    yield store
    store.stop()


@pytest.fixture(scope="session")
def mlflow_server(s3_store: servers.S3Store, server_logs: Path) -> Iterator[servers.ServerProcess]:
    """An MLflow server: metadata in its own MariaDB database, artifacts in the S3 store."""
    backend = service_or_skip(lambda: servers.create_mariadb_database("mlflow"))
    server = service_or_skip(
        lambda: servers.start_mlflow(backend, "s3://mlflow/", server_logs, env=s3_store.env)
    )
    yield server
    server.stop()
    servers.drop_mariadb_database(backend)


@pytest.fixture
def mlflow_env(
    mlflow_server: servers.ServerProcess, s3_store: servers.S3Store, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point this test's process (and anything it spawns with os.environ) at the real stack."""
    env = {"MLFLOW_TRACKING_URI": mlflow_server.url, **s3_store.env}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
