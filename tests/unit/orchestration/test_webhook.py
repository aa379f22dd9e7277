"""The retrain webhook receiver: auth, payload validation, idempotency, metrics."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from model_orchestration.settings import OrchestrationSettings
from model_orchestration.triggers import RetrainTrigger, ThreadLauncher
from model_orchestration.webhook import create_app
from tests.support.orchestration_servers import alertmanager_payload as payload

TOKEN = "test-token-123456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class FakeLauncher:
    """Records starts; ``running`` simulates an active retrain."""

    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []
        self.running = False
        self.fail = False

    def active_run(self) -> str | None:
        return "run-1" if self.running else None

    def last_started_at(self) -> datetime | None:
        return None

    def start(self, parameters: dict[str, Any]) -> str:
        if self.fail:
            raise ConnectionError("Prefect API unreachable")
        self.starts.append(parameters)
        return f"run-{len(self.starts)}"


def settings(**overrides: Any) -> OrchestrationSettings:
    return OrchestrationSettings(**{"webhook_token": TOKEN, "cooldown_seconds": 600, **overrides})


@pytest.fixture
def launcher() -> FakeLauncher:
    return FakeLauncher()


@pytest.fixture
def client(launcher: FakeLauncher) -> TestClient:
    return TestClient(create_app(settings(), launcher=launcher))


def metric(client: TestClient, name: str, labels: dict[str, str] | None = None) -> float:
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and (labels is None or sample.labels == labels):
                return sample.value
    raise AssertionError(f"{name}{labels} not exported")


def test_health_and_metrics_exported(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    for result in ("started", "skipped_running", "skipped_cooldown", "ignored"):
        assert metric(client, "detector_retrain_triggers_total", {"result": result}) == 0
    assert metric(client, "detector_drift_domain_auc") != metric(
        client, "detector_drift_domain_auc"
    )


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong-token-xyz"}, {"Authorization": TOKEN}]
)
def test_alerts_need_the_token(
    client: TestClient, launcher: FakeLauncher, headers: dict[str, str]
) -> None:
    response = client.post("/v1/alerts", json=payload(), headers=headers)
    assert response.status_code == 401
    assert launcher.starts == []


def test_firing_drift_alert_starts_one_retrain(client: TestClient, launcher: FakeLauncher) -> None:
    response = client.post("/v1/alerts", json=payload(), headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["result"] == "started"
    assert body["run_id"] == "run-1"
    assert body["alerts"] == ["TextDriftDetected"]
    assert launcher.starts == [{"reason": "alert: TextDriftDetected"}]
    assert metric(client, "detector_retrain_triggers_total", {"result": "started"}) == 1


def test_repeat_within_cooldown_starts_nothing(client: TestClient, launcher: FakeLauncher) -> None:
    client.post("/v1/alerts", json=payload(), headers=AUTH)
    again = client.post(
        "/v1/alerts", json=payload(names=("FeedbackAccuracyLow", "TextDriftDetected")), headers=AUTH
    ).json()
    assert again["result"] == "skipped_cooldown"
    assert "nothing new started" in again["detail"]
    assert len(launcher.starts) == 1
    assert metric(client, "detector_retrain_triggers_total", {"result": "skipped_cooldown"}) == 1


def test_running_retrain_starts_nothing(client: TestClient, launcher: FakeLauncher) -> None:
    launcher.running = True
    body = client.post("/v1/alerts", json=payload(), headers=AUTH).json()
    assert body["result"] == "skipped_running"
    assert body["run_id"] == "run-1"
    assert launcher.starts == []
    assert metric(client, "detector_retrain_triggers_total", {"result": "skipped_running"}) == 1


@pytest.mark.parametrize(
    "notification",
    [payload(status="resolved"), payload(names=("HighLatencyP99",)), payload(names=("Other",))],
)
def test_resolved_or_unrelated_alerts_are_ignored(
    client: TestClient, launcher: FakeLauncher, notification: dict
) -> None:
    body = client.post("/v1/alerts", json=notification, headers=AUTH).json()
    assert body["result"] == "ignored"
    assert launcher.starts == []
    assert metric(client, "detector_retrain_triggers_total", {"result": "ignored"}) == 1


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {**payload(), "version": "3"},
        {**payload(), "alerts": []},
        {**payload(), "status": "pending"},
        [1, 2],
    ],
)
def test_malformed_payload_is_422(client: TestClient, launcher: FakeLauncher, bad: object) -> None:
    response = client.post("/v1/alerts", json=bad, headers=AUTH)
    assert response.status_code == 422
    assert "detail" in response.json()
    assert launcher.starts == []


def test_invalid_json_is_4xx(client: TestClient) -> None:
    response = client.post(
        "/v1/alerts", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 422


def test_launcher_failure_is_503_so_alertmanager_retries(
    client: TestClient, launcher: FakeLauncher
) -> None:
    launcher.fail = True
    response = client.post("/v1/alerts", json=payload(), headers=AUTH)
    assert response.status_code == 503
    assert response.json() == {
        "error": "could not start retrain",
        "detail": "ConnectionError (see the receiver's log)",
    }
    launcher.fail = False
    assert client.post("/v1/alerts", json=payload(), headers=AUTH).json()["result"] == "started"


def test_drift_report_sets_the_auc_gauge(client: TestClient) -> None:
    assert client.post("/v1/drift", json={"auc": 0.9}).status_code == 401
    assert client.post("/v1/drift", json={"auc": 1.5}, headers=AUTH).status_code == 422
    response = client.post("/v1/drift", json={"auc": 0.91, "drifted": True}, headers=AUTH)
    assert response.status_code == 200
    assert metric(client, "detector_drift_domain_auc") == pytest.approx(0.91)


def test_cooldown_expires() -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    launcher = FakeLauncher()
    trigger = RetrainTrigger(launcher, timedelta(minutes=10), clock=lambda: now[0])
    assert trigger.request("a").result == "started"
    now[0] += timedelta(minutes=9)
    assert trigger.request("b").result == "skipped_cooldown"
    now[0] += timedelta(minutes=2)
    assert trigger.request("c").result == "started"
    assert [s["reason"] for s in launcher.starts] == ["a", "c"]


def test_concurrent_alert_burst_starts_exactly_one_thread_run() -> None:
    release = threading.Event()
    calls: list[str] = []

    def slow_retrain(reason: str) -> None:
        calls.append(reason)
        release.wait(10)

    launcher = ThreadLauncher(slow_retrain)
    client = TestClient(create_app(settings(cooldown_seconds=0), launcher=launcher))
    results: list[str] = []

    def post() -> None:
        results.append(client.post("/v1/alerts", json=payload(), headers=AUTH).json()["result"])

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    release.set()
    launcher.join(10)
    assert sorted(results) == ["skipped_running"] * 7 + ["started"]
    assert calls == ["alert: TextDriftDetected"]
    # Finished and no cool-down: the next alert starts a new run.
    assert client.post("/v1/alerts", json=payload(), headers=AUTH).json()["result"] == "started"
    launcher.join(10)


def test_settings_need_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORCHESTRATION_WEBHOOK_TOKEN", raising=False)
    with pytest.raises(ValueError, match="ORCHESTRATION_WEBHOOK_TOKEN"):
        create_app(OrchestrationSettings(), launcher=FakeLauncher())
    with pytest.raises(ValueError, match="at least 8"):
        OrchestrationSettings(webhook_token="short")
    monkeypatch.setenv("ORCHESTRATION_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setenv("ORCHESTRATION_RETRAIN_ALERTS", "A, B")
    assert OrchestrationSettings().retrain_alerts == ["A", "B"]


async def call_asgi(
    app: Any, headers: dict[str, str], chunks: list[bytes]
) -> tuple[int, dict[str, Any], int]:
    """POST /v1/alerts straight through ASGI; return status, JSON body and how many body
    chunks the application pulled (``receive`` calls)."""
    import json

    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        if pulled > len(chunks):
            return {"type": "http.disconnect"}
        return {
            "type": "http.request",
            "body": chunks[pulled - 1],
            "more_body": pulled < len(chunks),
        }

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/alerts",
        "raw_path": b"/v1/alerts",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 8100),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), pulled


def test_token_is_checked_before_the_body_is_read() -> None:
    import asyncio

    app = create_app(settings(), launcher=FakeLauncher())
    huge = [b"{" * 65536] * 64  # 4 MiB of junk a scanner might send
    headers = {"content-type": "application/json", "content-length": str(65536 * 64)}
    status, body, pulled = asyncio.run(call_asgi(app, headers, huge))
    assert status == 401
    assert body == {"error": "unauthorized", "detail": "missing or wrong bearer token"}
    assert pulled == 0, "the body was read before the token was checked"


def test_body_over_the_limit_is_413_before_it_is_read() -> None:
    import asyncio

    app = create_app(settings(webhook_max_body_bytes=1024), launcher=FakeLauncher())
    announced = {**AUTH, "content-type": "application/json", "content-length": "5000"}
    status, body, pulled = asyncio.run(call_asgi(app, announced, [b" " * 5000]))
    assert (status, pulled) == (413, 0)
    assert set(body) == {"error", "detail"}
    # Streamed without a length: refused once the limit is passed, not read to the end.
    chunked = {**AUTH, "content-type": "application/json"}
    status, body, pulled = asyncio.run(call_asgi(app, chunked, [b" " * 600] * 10))
    assert status == 413
    assert pulled <= 2


def test_every_error_has_the_serving_error_shape(client: TestClient) -> None:
    for response in (
        client.post("/v1/alerts", json=payload()),
        client.post("/v1/alerts", json={"version": "3"}, headers=AUTH),
        client.post("/v1/drift", json={"auc": 2}, headers=AUTH),
    ):
        assert response.status_code in (401, 422), response.text
        assert set(response.json()) == {"error", "detail"}, response.text
    unauthorised = client.post("/v1/alerts", json=payload())
    assert unauthorised.headers["www-authenticate"] == "Bearer"
