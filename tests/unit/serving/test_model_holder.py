"""Model lifecycle with a fake registry: no champion, registry down, hot swap, refusals."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

from model_serving.app import create_app
from model_serving.model_holder import ModelHolder
from model_serving.model_version import VersionInfo
from tests.support.model_fixtures import sample, small_pipeline
from tests.support.servers import wait_until
from tests.unit.serving.conftest import FakeSource, ThreadedServer, wait_ready


def one_class_pipeline() -> Pipeline:
    """A 'broken' model: trained on a single class, predict_proba has one column."""
    return Pipeline([("tfidf", TfidfVectorizer()), ("clf", DummyClassifier())]).fit(
        ["some text", "more text"], [1, 1]
    )


def reloads(client: TestClient, result: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'detector_model_reloads_total{{result="{result}"}}'):
            return float(line.split()[-1])
    raise AssertionError("reload counter missing")


def test_starts_without_a_champion_and_becomes_ready_when_one_appears(
    pipeline: Any, fake_source: FakeSource, settings_factory: Any
) -> None:
    with TestClient(create_app(settings_factory(), source=fake_source)) as client:
        assert client.get("/healthz").status_code == 200
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["reason"] == (
            "cannot resolve the alias ai-text-detector@champion (LookupError)"
        )
        refused = client.post("/v1/predict", json={"text": "hello there"})
        assert refused.status_code == 503
        assert refused.json()["error"] == "model not available"
        assert "alias" in refused.json()["detail"]
        assert client.get("/v1/model").status_code == 503
        assert "detector_model_loaded 0.0" in client.get("/metrics").text
        fake_source.publish("1", pipeline)
        wait_ready(client, "1")
        assert client.post("/v1/predict", json={"text": "hello there"}).status_code == 200
        assert "detector_model_loaded 1.0" in client.get("/metrics").text


def test_registry_down_is_retried_without_crashing(
    pipeline: Any, fake_source: FakeSource, settings_factory: Any
) -> None:
    fake_source.publish("1", pipeline)
    fake_source.down = True
    with TestClient(create_app(settings_factory(), source=fake_source)) as client:
        wait_until(
            lambda: "(ConnectionError)" in client.get("/readyz").json()["reason"],
            timeout=10,
            what="reason",
        )
        fake_source.down = False
        wait_ready(client, "1")


def test_broken_version_is_refused_counted_and_old_keeps_serving(
    pipeline: Any, fake_source: FakeSource, settings_factory: Any
) -> None:
    fake_source.publish("1", pipeline)
    with TestClient(create_app(settings_factory(), source=fake_source)) as client:
        wait_ready(client, "1")
        fake_source.publish("2", one_class_pipeline())
        auth = {"authorization": "Bearer secret-token"}
        result = client.post("/admin/reload", headers=auth).json()
        if result["outcome"] == "refused":  # else the poller got there first
            assert result["reason"] == "the model's classes are [1], expected [0, 1]"
        assert result["serving_version"] == "1"
        wait_until(lambda: reloads(client, "refused") == 1.0, timeout=10, what="refusal")
        loads = fake_source.loads
        # The refused version is remembered, not reloaded on every poll...
        client.post("/admin/reload", headers=auth)
        assert fake_source.loads == loads
        # ...unless forced.
        forced = client.post("/admin/reload?force=true", headers=auth).json()
        assert forced["outcome"] == "refused" and fake_source.loads == loads + 1
        body = client.post("/v1/predict", json={"text": "still serving"}).json()
        assert body["model_version"] == "1"
        assert reloads(client, "success") == 1.0


def test_invalid_threshold_tag_is_refused(
    pipeline: Any, fake_source: FakeSource, settings_factory: Any
) -> None:
    fake_source.publish("1", pipeline, threshold="1.7")
    with TestClient(create_app(settings_factory(), source=fake_source)) as client:
        wait_until(
            lambda: "threshold" in (client.get("/readyz").json()["reason"] or ""),
            timeout=10,
            what="refusal reason",
        )


def test_load_error_is_counted_as_error(
    pipeline: Any, fake_source: FakeSource, settings_factory: Any
) -> None:
    fake_source.publish("1", pipeline)
    fake_source.tags["2"] = {"threshold": "0.5"}
    fake_source.alias_target = "2"  # version 2 has no artifact: load raises KeyError
    with TestClient(create_app(settings_factory(), source=fake_source)) as client:
        wait_until(lambda: reloads(client, "error") >= 1, timeout=10, what="error count")
        assert client.get("/readyz").status_code == 503


def test_hot_swap_under_concurrent_load_fails_no_request(
    pipeline: Any, fake_source: FakeSource, settings_factory: Any
) -> None:
    frame = sample(300, seed=5)
    second = small_pipeline(frame["text"].tolist(), frame["generated"].tolist(), c=1.0)
    fake_source.publish("1", pipeline)
    app = create_app(settings_factory(poll_interval_seconds=0.05), source=fake_source)
    texts = sample(20, seed=9)["text"].tolist()
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    async def hammer(url: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:

            async def one_client(i: int) -> None:
                while not stop.is_set():
                    response = await http.post("/v1/predict", json={"text": texts[i % 20]})
                    statuses.append(response.status_code)
                    if response.status_code == 200:
                        versions.add(response.json()["model_version"])

            await asyncio.gather(*(one_client(i) for i in range(8)))

    with ThreadedServer(app) as server:
        load = threading.Thread(target=lambda: asyncio.run(hammer(server.url)))
        load.start()
        wait_until(lambda: len(statuses) > 50, timeout=20, what="load")
        fake_source.publish("2", second)
        wait_until(lambda: "2" in versions, timeout=20, what="swap")
        served = len(statuses)
        wait_until(lambda: len(statuses) > served + 50, timeout=20, what="load after swap")
        stop.set()
        load.join(30)
    assert statuses and set(statuses) == {200}
    assert versions == {"1", "2"}


def test_holder_backoff_stops_promptly() -> None:
    source = FakeSource(down=True)
    holder = ModelHolder(source, name="m", alias="a", poll_interval=60, retry_min=5)
    holder.start()
    holder.stop(timeout=5)
    assert holder._thread is not None and not holder._thread.is_alive()


def test_app_accepts_requests_only_after_the_first_load_attempt(
    pipeline: Any, fake_source: FakeSource, settings_factory: Any
) -> None:
    """Startup waits for the first attempt, so a worker never answers 503 next to a ready one."""
    fake_source.publish("1", pipeline)
    with TestClient(create_app(settings_factory(), source=fake_source)) as client:
        assert client.get("/readyz").status_code == 200  # no polling: ready on startup


def test_first_attempt_wait_is_bounded(fake_source: FakeSource) -> None:
    release = threading.Event()

    class BlockedSource(FakeSource):
        def resolve(self, name: str, alias: str) -> Any:
            release.wait(10)
            return super().resolve(name, alias)

    holder = ModelHolder(BlockedSource(), name="m", alias="champion", poll_interval=5)
    holder.start()
    try:
        assert holder.wait_first_attempt(0.1) is False
        release.set()
        assert holder.wait_first_attempt(10) is True
        assert holder.current is None and "alias" in holder.reason
    finally:
        holder.stop()


@dataclass
class SlowRegistry(FakeSource):
    """Each alias lookup takes 0.6 s; their start times are kept."""

    starts: list[float] = field(default_factory=list)

    def resolve(self, name: str, alias: str) -> VersionInfo:
        self.starts.append(time.monotonic())
        time.sleep(0.6)
        return super().resolve(name, alias)


def test_polls_at_a_fixed_rate_so_a_slow_registry_does_not_stretch_the_period(
    pipeline: Any,
) -> None:
    """Replicas converge within one poll interval of an alias move: each check starts one
    interval after the previous one started, not one interval after it ended."""
    source = SlowRegistry()
    source.publish("1", pipeline)
    holder = ModelHolder(source, name="m", alias="champion", poll_interval=1.0)
    holder.start()
    try:
        wait_until(lambda: len(source.starts) >= 4, timeout=20, what="four alias checks")
    finally:
        holder.stop(timeout=5)
    starts = source.starts
    # From the second check on (the first one loads the model).
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts[1:])]
    # Fixed delay would space them 1.6 s apart (0.6 s check + 1.0 s wait).
    assert max(gaps) < 1.4, gaps
