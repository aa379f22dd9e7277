"""Everything one serving process holds at run time, wired together from the settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from model_registry import contract
from model_serving.batching import MicroBatcher
from model_serving.errors import RateLimited
from model_serving.feedback import AccuracyWindow, RecentPredictions
from model_serving.metrics import ServingMetrics
from model_serving.mlflow_source import MlflowModelSource
from model_serving.model_holder import ModelHolder
from model_serving.model_version import LoadedModel, ModelSource
from model_serving.prediction_log.writer import PredictionLogWriter, PredictionRow
from model_serving.rate_limit import RateLimiter
from model_serving.settings import ServingSettings

if TYPE_CHECKING:  # model_monitoring is imported only when drift monitoring is enabled
    from model_monitoring.live_drift import LiveDriftMonitor

logger = logging.getLogger(__name__)


@dataclass
class ServingState:
    settings: ServingSettings
    metrics: ServingMetrics
    holder: ModelHolder
    batcher: MicroBatcher
    writer: PredictionLogWriter
    recent: RecentPredictions
    accuracy: AccuracyWindow
    predict_limit: RateLimiter
    feedback_limit: RateLimiter
    drift: LiveDriftMonitor | None  # None when drift monitoring is disabled

    def start(self) -> None:
        self.writer.start()
        self.batcher.start()
        self.holder.start()

    def stop(self) -> None:
        """Stop polling, answer queued predictions, then flush the prediction log."""
        self.holder.stop()
        self.batcher.stop()
        self.writer.close()
        self.metrics.mark_process_dead()

    def take_token(self, route: str, client: str) -> None:
        """Count ``client``'s request on ``route`` against its rate limit (``RateLimited``)."""
        limiter = self.feedback_limit if route == "/v1/feedback" else self.predict_limit
        try:
            limiter.take(client)
        except RateLimited:
            self.metrics.rate_limited.labels(route=route).inc()
            raise

    def refresh_drift(self) -> None:
        if self.drift is not None:
            self.drift.refresh()


def build_state(settings: ServingSettings, source: ModelSource | None = None) -> ServingState:
    """Wire metrics, model holder, batcher, prediction log and drift monitor (nothing started)."""
    metrics = ServingMetrics()
    drift = None
    observers: tuple[Callable[[PredictionRow], None], ...] = ()
    if settings.drift_enabled:
        from model_monitoring.live_drift import LiveDriftMonitor

        drift = LiveDriftMonitor(
            settings.drift_window_size,
            settings.drift_window_seconds,
            max_observations_per_second=settings.drift_max_observations_per_second or None,
            registry=metrics.registry,
        )

        def observe(row: PredictionRow) -> None:
            drift.observe(row.text, row.probability_ai, row.threshold)

        observers = (observe,)

    def on_swap(old: LoadedModel | None, new: LoadedModel) -> None:
        if old is not None:
            info = old.info
            metrics.model_info.labels(info.name, info.alias, info.version, info.run_id).set(0)
        info = new.info
        metrics.model_info.labels(info.name, info.alias, info.version, info.run_id).set(1)
        metrics.model_loaded.set(1)
        if drift is not None:
            drift.set_reference(new.reference_profile, new.threshold, new.version)

    if source is None:
        source = MlflowModelSource(
            contract.tracking_uri(), require_model_sha256=settings.require_model_sha256
        )
    holder = ModelHolder(
        source,
        name=settings.model_name,
        alias=settings.model_alias,
        poll_interval=settings.poll_interval_seconds,
        retry_min=settings.retry_min_seconds,
        retry_max=settings.retry_max_seconds,
        on_swap=(on_swap,),
        on_reload=lambda result: metrics.model_reloads.labels(result=result).inc(),
        compile_scorer=settings.compiled_scorer,
    )
    batcher = MicroBatcher(
        lambda: holder.current,
        lambda: holder.reason or "no model loaded",
        enabled=settings.batching_enabled,
        max_wait=settings.batch_max_wait_ms / 1000.0,
        max_size=settings.batch_max_size,
        on_batch=metrics.batch_size.observe,
    )
    writer = PredictionLogWriter(
        settings.database_url,
        store_text=settings.store_text,
        queue_size=settings.log_queue_size,
        flush_rows=settings.log_flush_rows,
        flush_interval=settings.log_flush_interval_seconds,
        linger=settings.log_linger_seconds,
        on_written=metrics.log_written.inc,
        on_dropped=metrics.log_dropped.inc,
        on_rejected=metrics.log_rejected.inc,
        on_depth=metrics.log_queue_depth.set,
        observers=observers,
    )
    return ServingState(
        settings=settings,
        metrics=metrics,
        holder=holder,
        batcher=batcher,
        writer=writer,
        recent=RecentPredictions(),
        accuracy=AccuracyWindow(settings.feedback_window_size),
        predict_limit=RateLimiter(
            settings.rate_limit_predict_per_second, settings.rate_limit_predict_burst
        ),
        feedback_limit=RateLimiter(
            settings.rate_limit_feedback_per_second, settings.rate_limit_feedback_burst
        ),
        drift=drift,
    )
