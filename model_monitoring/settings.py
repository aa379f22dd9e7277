"""Settings of the monitoring stack's rendered configuration (prefix ``MONITORING_``).

Compose uses the committed ``prometheus/prometheus.yml`` and ``alertmanager/alertmanager.yml`` as
they are (service names as targets). The embedded local mode and the tests run Prometheus and
Alertmanager as local processes, so they render copies with host:port targets, the webhook URL
and token file, and (tests) shorter intervals; the rule files are the same files.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MonitoringSettings(BaseSettings):
    """What ``python -m model_monitoring.render`` writes into the rendered configuration."""

    model_config = SettingsConfigDict(env_prefix="MONITORING_", extra="ignore")

    serving_targets: list[str] = ["127.0.0.1:8000"]
    webhook_targets: list[str] = ["127.0.0.1:8100"]
    alertmanager_targets: list[str] = ["127.0.0.1:9093"]
    prometheus_target: str = "127.0.0.1:9090"
    scrape_interval: str = Field(default="15s", pattern=r"^\d+(ms|s|m|h)$")
    evaluation_interval: str = Field(default="15s", pattern=r"^\d+(ms|s|m|h)$")
    #: Where Alertmanager posts drift/accuracy alerts (the orchestration receiver).
    webhook_url: str = "http://127.0.0.1:8100/v1/alerts"
    #: File holding the receiver's bearer token (ORCHESTRATION_WEBHOOK_TOKEN); none = no auth.
    webhook_token_file: str | None = None
    #: Files holding the Prometheus and Alertmanager login passwords (model_monitoring.web_auth)
    #: that Prometheus sends to them (alerting, scrapes); none = that server has no login.
    prometheus_password_file: str | None = None
    alertmanager_password_file: str | None = None
