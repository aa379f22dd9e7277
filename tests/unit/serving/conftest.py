"""Fixtures for serving unit tests: a small fitted pipeline behind a fake registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from model_serving.app import create_app
from model_serving.model_version import LoadedArtifacts, VersionInfo
from model_serving.settings import ServingSettings
from tests.support.model_fixtures import sample, small_pipeline


@pytest.fixture(scope="session")
def pipeline() -> Any:
    data = sample(300, seed=1)
    return small_pipeline(data["text"].tolist(), data["generated"].tolist())


@pytest.fixture(scope="session")
def essays() -> list[str]:
    return sample(40, seed=7)["text"].tolist()


@dataclass
class FakeSource:
    """A registry in memory: ``versions`` by number, ``alias_target`` the aliased one."""

    versions: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    alias_target: str | None = None
    down: bool = False
    loads: int = 0

    scope: dict[str, Any] = field(default_factory=dict)
    evaluations: dict[str, Any] = field(default_factory=dict)

    def publish(
        self,
        version: str,
        pipeline: Any,
        threshold: str = "0.5",
        *,
        scope_reference: Any = None,
        evaluation: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        self.versions[version] = pipeline
        self.tags[version] = {"threshold": threshold, "test_f1": "0.9", "dataset_digest": "d1"}
        self.tags[version].update(tags or {})
        self.scope[version] = scope_reference
        self.evaluations[version] = evaluation
        self.alias_target = version

    def resolve(self, name: str, alias: str) -> VersionInfo:
        if self.down:
            raise ConnectionError("registry down")
        if self.alias_target is None:
            raise LookupError(f"no version of {name} has alias {alias}")
        return VersionInfo(
            name,
            alias,
            self.alias_target,
            f"run-{self.alias_target}",
            dict(self.tags[self.alias_target]),
        )

    def load(self, info: VersionInfo) -> LoadedArtifacts:
        self.loads += 1
        return LoadedArtifacts(
            pipeline=self.versions[info.version],
            scope_reference=self.scope.get(info.version),
            evaluation=self.evaluations.get(info.version),
        )


@pytest.fixture
def fake_source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., ServingSettings]:
    def make(**overrides: Any) -> ServingSettings:
        values: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path / 'predictions.db'}",
            "poll_interval_seconds": 0.2,
            "retry_min_seconds": 0.05,
            "retry_max_seconds": 0.2,
            "admin_token": "secret-token",
            "drift_enabled": False,
            "log_flush_interval_seconds": 0.05,
            "rate_limit_predict_per_second": 0,
            "rate_limit_feedback_per_second": 0,
        }
        values.update(overrides)
        return ServingSettings(**values)

    return make


@pytest.fixture
def client(pipeline: Any, fake_source: FakeSource, settings_factory: Any) -> Iterator[TestClient]:
    """A running app serving version 1 of the fixture pipeline (ready on return)."""
    fake_source.publish("1", pipeline)
    app = create_app(settings_factory(), source=fake_source)
    with TestClient(app) as test_client:
        wait_ready(test_client)
        yield test_client


@pytest.fixture
def serve(pipeline: Any, settings_factory: Any) -> Iterator[Any]:
    """``serve(publish={...}, **settings)``: a running app on its own fake registry holding
    version 1 of the fixture pipeline (``publish``: extra ``FakeSource.publish`` arguments), as a
    context manager yielding a ready ``TestClient``."""
    from contextlib import contextmanager

    @contextmanager
    def start(publish: dict[str, Any] | None = None, **settings: Any) -> Iterator[TestClient]:
        source = FakeSource()
        source.publish("1", pipeline, **(publish or {}))
        with TestClient(create_app(settings_factory(**settings), source=source)) as test_client:
            wait_ready(test_client)
            yield test_client

    yield start


def wait_ready(client: TestClient, version: str | None = None, timeout: float = 20.0) -> None:
    from tests.support.servers import wait_until

    def ready() -> bool:
        response = client.get("/readyz")
        return response.status_code == 200 and (
            version is None or response.json()["model_version"] == version
        )

    wait_until(ready, timeout=timeout, what="serving app", interval=0.02)


class ThreadedServer:
    """A real uvicorn server for an app, on a free port, in a background thread."""

    def __init__(self, app: Any) -> None:
        import threading

        import uvicorn

        from tests.support.servers import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        import httpx

        from tests.support.servers import wait_until

        self.thread.start()
        wait_until(
            lambda: httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200,
            timeout=30,
            what="threaded serving app",
            interval=0.05,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
