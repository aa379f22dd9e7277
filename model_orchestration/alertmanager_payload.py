"""Typed model of Alertmanager's webhook payload (``version: "4"``).

See https://prometheus.io/docs/alerting/latest/configuration/#webhook_config. Unknown fields are
ignored (Alertmanager may add some), missing required ones are a 422 with the field named.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AlertStatus = Literal["firing", "resolved"]


class Alert(BaseModel):
    """One alert of a notification group."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    status: AlertStatus
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = Field(default=None, alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


class AlertmanagerPayload(BaseModel):
    """A notification: a group of alerts sharing ``groupLabels``."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    version: Literal["4"]
    group_key: str = Field(alias="groupKey")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts")
    status: AlertStatus
    receiver: str
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[Alert] = Field(min_length=1)

    def firing(self, names: set[str] | frozenset[str]) -> list[Alert]:
        """The firing alerts whose ``alertname`` is one of ``names``."""
        return [a for a in self.alerts if a.status == "firing" and a.name in names]
