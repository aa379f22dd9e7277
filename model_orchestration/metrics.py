"""Prometheus metrics of the webhook receiver process (``/metrics``), in their own registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from model_orchestration.triggers import TriggerResult


@dataclass(frozen=True)
class ReceiverMetrics:
    registry: CollectorRegistry
    retrain_triggers: Counter
    drift_domain_auc: Gauge


def create_metrics() -> ReceiverMetrics:
    """A fresh registry with every series pre-initialised (so rates work from the first scrape)."""
    registry = CollectorRegistry(auto_describe=True)
    triggers = Counter(
        "detector_retrain_triggers",
        "Alert notifications received by the retrain webhook, by what they caused.",
        ["result"],
        registry=registry,
    )
    for result in TriggerResult:
        triggers.labels(result=result.value)
    auc = Gauge(
        "detector_drift_domain_auc",
        "ROC-AUC of the domain classifier telling recent logged texts from the reference texts "
        "(0.5 = indistinguishable); set by the drift_check flow. NaN until the first check.",
        registry=registry,
    )
    auc.set(float("nan"))
    return ReceiverMetrics(registry=registry, retrain_triggers=triggers, drift_domain_auc=auc)
