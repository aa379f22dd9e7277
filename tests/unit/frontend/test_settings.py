"""Frontend settings: shared SERVING_URL, FRONTEND_* for the rest, defaults for local use."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from frontend.settings import FrontendSettings


def test_defaults_are_the_local_ports() -> None:
    settings = FrontendSettings()
    assert settings.serving_url == "http://localhost:8000"
    assert settings.mlflow_url == "http://localhost:5000"
    assert settings.grafana_url == "http://localhost:3000"
    assert settings.prefect_url == "http://localhost:4200"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVING_URL", "http://serving:8000")
    monkeypatch.setenv("FRONTEND_GRAFANA_URL", "http://grafana.example")
    monkeypatch.setenv("FRONTEND_BATCH_CHUNK_SIZE", "64")
    settings = FrontendSettings()
    assert settings.serving_url == "http://serving:8000"
    assert settings.grafana_url == "http://grafana.example"
    assert settings.batch_chunk_size == 64


def test_prefixed_serving_url_is_accepted_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTEND_SERVING_URL", "http://other:8000")
    assert FrontendSettings().serving_url == "http://other:8000"


def test_invalid_values_fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTEND_BATCH_CHUNK_SIZE", "0")
    with pytest.raises(ValidationError, match="batch_chunk_size"):
        FrontendSettings()
