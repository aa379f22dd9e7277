"""Settings of the serving service, read from ``SERVING_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from model_registry import contract


def default_database_url() -> str:
    """SQLite under the embedded-mode state folder (created at startup, not at import)."""
    return f"sqlite:///{contract.local_state_dir() / 'serving' / 'predictions.db'}"


class ServingSettings(BaseSettings):
    """Everything the serving process can be configured with (prefix ``SERVING_``)."""

    model_config = SettingsConfigDict(env_prefix="SERVING_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: str = "info"

    model_name: str = contract.MODEL_NAME
    model_alias: str = contract.CHAMPION_ALIAS
    #: Seconds between two checks of the alias.
    poll_interval_seconds: float = Field(default=30.0, gt=0)
    #: Backoff between failed load attempts: starts at min, doubles, capped at max.
    retry_min_seconds: float = Field(default=1.0, gt=0)
    retry_max_seconds: float = Field(default=30.0, gt=0)
    #: A worker waits up to this long for its first load attempt before accepting connections.
    startup_wait_seconds: float = Field(default=60.0, ge=0)
    #: Bearer token for ``POST /admin/reload``; admin routes are disabled when unset.
    admin_token: SecretStr | None = None

    #: Refuse a version that has no ``model_sha256`` tag (a version with a tag that does not match
    #: its artifact is always refused).
    require_model_sha256: bool = False

    database_url: str = Field(default_factory=default_database_url)
    #: The account ``python -m model_serving.prediction_log.migrate`` applies the migrations with
    #: (DDL); unset: ``database_url``. Compose runs the migration as a one-shot with its own user,
    #: so serving's ``database_url`` needs only SELECT and INSERT (the writer's check of the
    #: schema at head changes nothing).
    migrate_database_url: str | None = None
    store_text: bool = False
    log_queue_size: int = Field(default=10_000, ge=1)
    log_flush_rows: int = Field(default=500, ge=1)
    log_flush_interval_seconds: float = Field(default=0.5, gt=0)
    #: How long the writer waits for more rows before writing a batch (one transaction for
    #: many requests' rows); also the longest a row waits in memory under light load.
    log_linger_seconds: float = Field(default=0.1, ge=0)

    max_text_chars: int = Field(default=100_000, ge=1)
    max_batch_size: int = Field(default=256, ge=1)
    max_body_bytes: int = Field(default=5_000_000, ge=1)

    #: Score with the pipeline compiled to arrays (``linear_scorer``) when it is a word TF-IDF +
    #: linear pipeline and reproduces the pipeline's probabilities at load; false always scores
    #: with the scikit-learn pipeline itself.
    compiled_scorer: bool = True

    #: Answer ``POST /v1/predict`` with JSON in an ASGI layer before FastAPI's routing (same
    #: parser, validator and answer as the route; only the per-request overhead differs).
    fast_path: bool = True

    batching_enabled: bool = True
    batch_max_wait_ms: float = Field(default=2.0, ge=0)
    batch_max_size: int = Field(default=32, ge=1)

    #: Per client and worker (token bucket; 0 switches a limit off): requests per second and
    #: the burst allowed above it, for /v1/predict and /invocations, and for /v1/feedback.
    rate_limit_predict_per_second: float = Field(default=50.0, ge=0)
    rate_limit_predict_burst: int = Field(default=200, ge=1)
    rate_limit_feedback_per_second: float = Field(default=2.0, ge=0)
    rate_limit_feedback_burst: int = Field(default=20, ge=1)
    #: A header set by a trusted reverse proxy naming the client (``X-Forwarded-For``); unset:
    #: the peer address is the client. Never set it without such a proxy: clients could pick
    #: their own key.
    rate_limit_client_header: str | None = None

    explain_top_k: int = Field(default=10, ge=1, le=100)
    feedback_window_size: int = Field(default=500, ge=1)

    drift_enabled: bool = True
    drift_window_size: int = Field(default=500, ge=1)
    drift_window_seconds: float = Field(default=3600.0, gt=0)
    #: Per worker: above this rate texts are sampled uniformly into the drift window, which
    #: bounds the drift cost under heavy load; 0 observes every text.
    drift_max_observations_per_second: float = Field(default=100.0, ge=0)
