"""Settings of the Streamlit frontend, read from environment variables.

The serving URL is the shared ``SERVING_URL`` (also accepted as ``FRONTEND_SERVING_URL``); every
other setting uses the ``FRONTEND_`` prefix.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FrontendSettings(BaseSettings):
    """Everything the frontend can be configured with."""

    model_config = SettingsConfigDict(env_prefix="FRONTEND_", extra="ignore", validate_by_name=True)

    #: Base URL of the serving API; the page talks to nothing else.
    serving_url: str = Field(
        default="http://localhost:8000",
        validation_alias=AliasChoices("SERVING_URL", "FRONTEND_SERVING_URL"),
    )
    #: Links shown on the model page (the URLs a person's browser can reach).
    mlflow_url: str = "http://localhost:5000"
    grafana_url: str = "http://localhost:3000"
    prefect_url: str = "http://localhost:4200"

    #: Seconds to wait for serving to accept a connection / to answer a request.
    connect_timeout_seconds: float = Field(default=2.0, gt=0)
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    #: Seconds between two checks of serving's status in the sidebar (0 turns polling off).
    status_poll_seconds: float = Field(default=5.0, ge=0)

    #: Texts sent per batch request when classifying an uploaded CSV.
    batch_chunk_size: int = Field(default=32, ge=1, le=256)
    #: Largest uploaded CSV (rows with text) the page accepts.
    max_batch_rows: int = Field(default=10_000, ge=1)
    #: Largest uploaded CSV file in megabytes (10,000 rows of ~2,000-character essays). The
    #: hard cap is ``server.maxUploadSize`` in ``frontend/.streamlit/config.toml`` (20), which
    #: Streamlit's upload endpoint enforces; this setting can only lower it.
    max_upload_mb: int = Field(default=20, ge=1, le=20)
    #: How many n-grams each way the "why" list shows.
    explanation_top_k: int = Field(default=8, ge=1, le=50)
