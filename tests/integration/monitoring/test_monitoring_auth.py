"""Prometheus and Alertmanager ask for a login, as compose runs them (issue 14, item 7).

The Debian binaries run with the project's rendered configurations and a web config made by
``model_monitoring.web_auth``: an anonymous or wrong login is a 401 on every route (so nobody
who reaches Alertmanager can post an alert that reaches the webhook with its token), the
lifecycle API is off, and Prometheus itself logs in to Alertmanager and to itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from model_monitoring.render import render_alertmanager
from model_monitoring.settings import MonitoringSettings
from tests.conftest import service_or_skip
from tests.support import servers
from tests.support.monitoring_servers import LOGIN, start_project_prometheus
from tests.support.orchestration_servers import start_alertmanager


@dataclass
class Monitoring:
    prometheus: servers.ServerProcess
    alertmanager: servers.ServerProcess


@pytest.fixture(scope="module")
def monitoring(tmp_path_factory: pytest.TempPathFactory, server_logs: Path) -> Iterator[Monitoring]:
    work = tmp_path_factory.mktemp("monitoring-auth")
    settings = MonitoringSettings(webhook_url=f"http://127.0.0.1:{servers.free_port()}/v1/alerts")
    config = render_alertmanager(settings, work / "alertmanager.yml")
    started: list[servers.ServerProcess] = []
    try:
        alertmanager = service_or_skip(
            lambda: start_alertmanager(config, work / "alertmanager", server_logs)
        )
        started.append(alertmanager)
        prometheus = service_or_skip(
            lambda: start_project_prometheus(
                work / "prometheus",
                server_logs,
                serving_targets=[],
                alertmanager_targets=[alertmanager.url.removeprefix("http://")],
                interval="1s",
            )
        )
        started.append(prometheus)
        yield Monitoring(prometheus, alertmanager)
    finally:
        for server in reversed(started):
            server.stop()


ROUTES = {
    "prometheus": ("/-/ready", "/metrics", "/api/v1/query?query=up", "/api/v1/status/config"),
    "alertmanager": ("/-/ready", "/metrics", "/api/v2/status", "/api/v2/alerts"),
}


@pytest.mark.parametrize("server", sorted(ROUTES))
def test_every_route_needs_the_login(monitoring: Monitoring, server: str) -> None:
    url = getattr(monitoring, server).url
    for path in ROUTES[server]:
        assert httpx.get(url + path, timeout=5).status_code == 401, path
        wrong = httpx.get(url + path, auth=(LOGIN[0], "not-the-password"), timeout=5)
        assert wrong.status_code == 401, path
        assert httpx.get(url + path, auth=LOGIN, timeout=5).status_code == 200, path


def test_nobody_can_post_an_alert_without_the_login(monitoring: Monitoring) -> None:
    alert = [{"labels": {"alertname": "TextDriftDetected", "category": "drift"}}]
    url = f"{monitoring.alertmanager.url}/api/v2/alerts"
    assert httpx.post(url, json=alert, timeout=5).status_code == 401
    listed = httpx.get(url, auth=LOGIN, timeout=5).json()
    assert listed == [], "the anonymous alert was accepted"


def test_prometheus_has_no_lifecycle_api(monitoring: Monitoring) -> None:
    url = monitoring.prometheus.url
    for path in ("/-/quit", "/-/reload"):
        assert httpx.post(url + path, auth=LOGIN, timeout=5).status_code != 200, path
    assert monitoring.prometheus.alive()
    assert httpx.get(f"{url}/-/ready", auth=LOGIN, timeout=5).status_code == 200


def test_prometheus_logs_in_to_alertmanager_and_itself(monitoring: Monitoring) -> None:
    def targets_up() -> bool:
        response = httpx.get(
            f"{monitoring.prometheus.url}/api/v1/targets", auth=LOGIN, timeout=5
        ).json()
        health = {t["labels"]["job"]: t["health"] for t in response["data"]["activeTargets"]}
        return health.get("alertmanager") == "up" and health.get("prometheus") == "up"

    servers.wait_until(targets_up, timeout=30, what="alertmanager and prometheus targets up")
    managers = httpx.get(
        f"{monitoring.prometheus.url}/api/v1/alertmanagers", auth=LOGIN, timeout=5
    ).json()
    assert managers["data"]["activeAlertmanagers"], managers
