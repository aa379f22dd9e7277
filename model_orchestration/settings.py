"""Settings of the orchestration service (webhook receiver + Prefect worker).

Prefix ``ORCHESTRATION_``.

One class for both processes so that compose and the embedded mode pass the same names. Prefect's
own ``PREFECT_API_URL`` (read by Prefect itself) decides whether the webhook starts deployment runs
on a Prefect server or runs ``retrain`` in a background thread.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from model_registry import contract
from model_registry.settings import scheduler_address_or_none

#: Names of the flows and of their deployments (``<flow>/<deployment>`` on the Prefect server).
TRAIN_FLOW = "train"
INGEST_FLOW = "ingest"
RETRAIN_FLOW = "retrain"
DRIFT_CHECK_FLOW = "drift_check"
SCORE_FLOW = "score"
DEPLOYMENT_SUFFIX = "worker"


def deployment_name(flow_name: str) -> str:
    """The full ``flow/deployment`` name the worker serves ``flow_name`` under."""
    return f"{flow_name}/{flow_name}-{DEPLOYMENT_SUFFIX}"


def _default_ingest_source() -> str:
    return str(contract.local_state_dir() / "incoming")


def _default_quarantine() -> str:
    return str(contract.local_state_dir() / "quarantine")


def _default_worker_status_file() -> Path:
    return contract.local_state_dir() / "worker" / "status"


def _default_score_input() -> str:
    return str(contract.local_state_dir() / "scoring" / "input")


def _default_score_output() -> str:
    return str(contract.local_state_dir() / "scoring" / "output")


def _default_predictions_db() -> str:
    return f"sqlite:///{contract.local_state_dir() / 'serving' / 'predictions.db'}"


class OrchestrationSettings(BaseSettings):
    """Everything the webhook receiver and the worker read from the environment."""

    model_config = SettingsConfigDict(env_prefix="ORCHESTRATION_", extra="ignore")

    # --- webhook receiver ---------------------------------------------------------------------
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8100, ge=1, le=65535)
    #: Shared bearer token Alertmanager sends (``http_config.authorization.credentials``).
    #: Required by the receiver (it refuses to start without one); unused by the worker.
    webhook_token: SecretStr | None = Field(default=None, min_length=8)
    #: Request bodies above this many bytes are refused (413) before they are parsed.
    webhook_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    #: No new retrain is started within this many seconds of the previous start.
    cooldown_seconds: float = Field(default=1800.0, ge=0)
    #: Alert names that start a retrain when firing (others are acknowledged and ignored).
    #: Comma-separated in the environment.
    retrain_alerts: Annotated[list[str], NoDecode] = [
        "TextDriftDetected",
        "PredictionDriftDetected",
        "FeedbackAccuracyLow",
    ]
    #: Where ``drift_check`` reports its AUC so the receiver exports it (``/v1/drift``); optional.
    webhook_url: str | None = None

    # --- ingestion ----------------------------------------------------------------------------
    #: New labelled CSV batches: a local folder (embedded mode) or ``s3://bucket/prefix``.
    ingest_source: str = Field(default_factory=_default_ingest_source)
    #: Where rejected batches go with their validation report: a folder or ``s3://bucket/prefix``.
    quarantine: str = Field(default_factory=_default_quarantine)
    #: Optional HTTP source returning a labelled CSV (``text,generated``) on GET.
    http_source_url: str | None = None
    http_source_timeout_seconds: float = Field(default=30.0, gt=0)

    # --- schedules ----------------------------------------------------------------------------
    #: 0 disables the schedule (the deployment still runs on demand).
    ingest_interval_seconds: int = Field(default=300, ge=0)
    drift_check_interval_seconds: int = Field(default=900, ge=0)
    #: Periodic retrain (cron, UTC); skipped when no new data arrived since the champion.
    #: Empty disables it.
    retrain_cron: str = "0 3 * * *"
    #: Flow runs the worker executes at the same time.
    max_concurrent_runs: int = Field(default=2, ge=1)
    #: Seconds between the heartbeat events of the worker's flow runs (Prefect's minimum is 30).
    heartbeat_seconds: int = Field(default=60, ge=30)
    #: ingest, train and retrain share one slot (see ``flows/dataset_slot.py``): how long a run
    #: waits for it before failing, and the lease that frees it when its holder is killed.
    dataset_slot_timeout_seconds: float = Field(default=3600.0, gt=0)
    dataset_slot_lease_seconds: float = Field(default=300.0, ge=30)
    #: A retrain run with no heartbeat (nor start) for this long is orphaned (its worker is gone):
    #: it no longer blocks alerts and is marked crashed. At least two heartbeats.
    retrain_stale_after_seconds: float = Field(default=300.0, gt=0)
    #: Run ``train`` once at worker start when the registry has no champion.
    first_boot_train: bool = True
    #: Where the worker records its state for its healthcheck (a failed first boot = unhealthy).
    worker_status_file: Path = Field(default_factory=_default_worker_status_file)

    # --- prediction log (serving's database) --------------------------------------------------
    predictions_database_url: str = Field(default_factory=_default_predictions_db)
    #: drift_check compares texts logged within this window with the reference.
    drift_window_minutes: int = Field(default=60, ge=1)
    drift_min_texts: int = Field(default=50, ge=2)
    drift_max_texts: int = Field(default=2000, ge=2)
    drift_seed: int = 0

    # --- bulk scoring (``score`` flow) ---------------------------------------------------------
    #: Datasets to score are read only inside this area (a folder or ``s3://bucket/prefix``).
    score_input_area: str = Field(default_factory=_default_score_input)
    #: Scored datasets are written only inside this area (a folder or ``s3://bucket/prefix``).
    score_output_area: str = Field(default_factory=_default_score_output)
    #: ``tcp://host:8786`` of a Dask scheduler; unset or ``none`` scores in the flow's own
    #: process. Tuning reads it too (``RegistrySettings.dask_scheduler_address``).
    dask_scheduler_address: str | None = None
    #: Rows per partition (one unit of work, one output file, the granularity of a resume).
    score_rows_per_partition: int = Field(default=20_000, ge=100, le=1_000_000)
    #: Input files one run may read (a run plans every one of them before scoring).
    score_max_files: int = Field(default=10_000, ge=1)
    #: Characters of a text that are scored (serving's own request limit); longer texts are cut.
    score_max_text_chars: int = Field(default=100_000, ge=1000)

    # --- task retries -------------------------------------------------------------------------
    io_retries: int = Field(default=3, ge=0)
    io_retry_delay_seconds: float = Field(default=5.0, ge=0)

    #: Empty or ``none`` (compose's .env default) means no cluster.
    _no_scheduler = field_validator("dask_scheduler_address", mode="before")(
        scheduler_address_or_none
    )

    @field_validator("retrain_alerts", mode="before")
    @classmethod
    def _split_alerts(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @model_validator(mode="after")
    def _stale_bound_spans_heartbeats(self) -> OrchestrationSettings:
        if self.retrain_stale_after_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                "ORCHESTRATION_RETRAIN_STALE_AFTER_SECONDS must be at least twice "
                "ORCHESTRATION_HEARTBEAT_SECONDS, or a live run could be taken for an orphan"
            )
        return self

    @property
    def retrain_stale_after(self) -> timedelta:
        return timedelta(seconds=self.retrain_stale_after_seconds)

    @property
    def cooldown(self) -> timedelta:
        return timedelta(seconds=self.cooldown_seconds)

    @property
    def ingest_source_is_s3(self) -> bool:
        return self.ingest_source.startswith("s3://")

    def ingest_folder(self) -> Path:
        return Path(self.ingest_source)


def prefect_api_url() -> str | None:
    """Prefect's own ``PREFECT_API_URL``; ``None`` means the embedded mode (no server)."""
    return os.environ.get("PREFECT_API_URL") or None
