"""Prometheus metrics of the serving service, named exactly as in ``docs/CONTRACTS.md``.

One ``ServingMetrics`` object per process holds every metric on its own registry, so tests can
build several apps in one process. ``render()`` returns the exposition text: this registry plus
the default one (process metrics and the ``detector_drift_*`` gauges the live drift monitor
registers there). With ``PROMETHEUS_MULTIPROC_DIR`` set (several uvicorn workers) the values live
in files shared by the workers and ``render()`` aggregates them with ``MultiProcessCollector``;
gauges declare how workers combine (``livesum``, ``livemax``...).
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST as PROMETHEUS_CONTENT_TYPE
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from model_registry import contract

__all__ = ["PROMETHEUS_CONTENT_TYPE", "ServingMetrics", "multiprocess_enabled"]

#: A labelled metric whose children ``ServingMetrics._child`` keeps.
_Metric = TypeVar("_Metric", Counter, Histogram)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PROBABILITY_BUCKETS = tuple(round(i / 10, 1) for i in range(1, 11))
LENGTH_BUCKETS = (50, 100, 250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 100_000)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def multiprocess_enabled() -> bool:
    """True when metric values are shared between worker processes through files."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class ServingMetrics:
    """Every ``detector_*`` metric the serving process exports (drift gauges excepted)."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess_enabled()
        disable_created_metrics()  # no *_created series: they double the exposition for nothing
        # In multiprocess mode values go to files whatever the registry; a private registry
        # keeps several apps in one test process from clashing on names.
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "detector_http_requests_total",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "detector_http_request_duration_seconds",
            "HTTP request duration by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "detector_http_requests_in_flight",
            "HTTP requests being served right now.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.predictions = Counter(
            "detector_predictions_total",
            "Texts scored, by predicted label and model version.",
            ["label", "model_version"],
            registry=r,
        )
        self.out_of_scope = Counter(
            "detector_out_of_scope_total",
            "Texts out of the model's scope (answered 'uncertain'), by reason.",
            ["reason"],
            registry=r,
        )
        self.probability = Histogram(
            "detector_prediction_probability",
            "Predicted probability that a text is AI-generated.",
            buckets=PROBABILITY_BUCKETS,
            registry=r,
        )
        self.input_length = Histogram(
            "detector_input_length_chars",
            "Length of scored texts in characters.",
            buckets=LENGTH_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "detector_batch_size",
            "Texts per model call (micro-batches and batch requests).",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.model_info = Gauge(
            "detector_model_info",
            "The model version being served (value 1; 0 for versions no longer served).",
            ["name", "alias", "version", "run_id"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.model_loaded = Gauge(
            "detector_model_loaded",
            "1 when a model is loaded and predictions are served, else 0.",
            multiprocess_mode="livemin",
            registry=r,
        )
        self.model_reloads = Counter(
            "detector_model_reloads_total",
            "Model load attempts by result: success, refused (failed its checks), error.",
            ["result"],
            registry=r,
        )
        self.log_queue_depth = Gauge(
            "detector_prediction_log_queue_depth",
            "Prediction-log rows waiting to be written to the database.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.log_written = Counter(
            "detector_prediction_log_written_total",
            "Prediction-log rows written to the database.",
            registry=r,
        )
        self.log_dropped = Counter(
            "detector_prediction_log_dropped_total",
            "Prediction-log rows dropped because the queue was full.",
            registry=r,
        )
        self.log_rejected = Counter(
            "detector_prediction_log_rejected_total",
            "Prediction-log rows the database refused for what they hold (set aside, not retried).",
            registry=r,
        )
        self.rate_limited = Counter(
            "detector_rate_limited_total",
            "Requests refused with 429 because their client sent more than its share, by route.",
            ["route"],
            registry=r,
        )
        self.feedback = Counter(
            "detector_feedback_total",
            "Feedback received, by whether the prediction was correct.",
            ["outcome"],
            registry=r,
        )
        self.feedback_accuracy = Gauge(
            "detector_feedback_accuracy",
            "Accuracy of predictions over the recent feedback window.",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        self.feedback_window = Gauge(
            "detector_feedback_window_size",
            "Feedback items in the accuracy window.",
            multiprocess_mode="livemostrecent",
            registry=r,
        )
        for result in ("success", "refused", "error"):
            self.model_reloads.labels(result=result)
        for reason in contract.ScopeReason.ALL:
            self.out_of_scope.labels(reason=reason)
        for outcome in ("correct", "incorrect"):
            self.feedback.labels(outcome=outcome)
        for route in ("/v1/predict", "/v1/feedback", "/invocations"):
            self.rate_limited.labels(route=route)
        self.model_loaded.set(0)
        self._children: dict[tuple[str, ...], Any] = {}

    def predictions_of(self, label: str, model_version: str) -> Counter:
        """``predictions.labels(label, model_version)``, looked up once: ``labels()`` checks and
        locks on every call, and every scored text counts here."""
        return self._child(self.predictions, "predictions", label, model_version)

    def out_of_scope_of(self, reason: str) -> Counter:
        """``out_of_scope.labels(reason)``, looked up once (see ``predictions_of``)."""
        return self._child(self.out_of_scope, "out_of_scope", reason)

    def http_request_done(self, route: str, method: str, status: str, seconds: float) -> None:
        """Count and time one HTTP request (children looked up once, see ``predictions_of``;
        prometheus_client keeps a child per label set anyway, so the cache holds no more)."""
        self._child(self.http_requests, "http_requests", route, method, status).inc()
        self._child(self.http_duration, "http_duration", route).observe(seconds)

    def _child(self, metric: _Metric, name: str, *labels: str) -> _Metric:
        """``metric.labels(*labels)``, kept under ``(name, *labels)`` after the first look-up."""
        key = (name, *labels)
        child: _Metric | None = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def render(self) -> bytes:
        """The exposition text for ``GET /metrics``."""
        if self.multiprocess:
            aggregate = CollectorRegistry()
            multiprocess.MultiProcessCollector(aggregate)
            return generate_latest(aggregate)
        return generate_latest(self.registry) + generate_latest(REGISTRY)

    @staticmethod
    def mark_process_dead() -> None:
        """Drop this worker's live gauges from the shared files (at worker shutdown)."""
        if multiprocess_enabled():
            multiprocess.mark_process_dead(os.getpid())
