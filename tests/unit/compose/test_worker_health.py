"""The worker's healthcheck (compose runs `python -m model_orchestration.worker healthcheck`):
a first boot that could not train turns it unhealthy with a clear log line, never silently on."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from model_orchestration import worker
from model_orchestration.settings import OrchestrationSettings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OrchestrationSettings:
    monkeypatch.setenv("ORCHESTRATION_WORKER_STATUS_FILE", str(tmp_path / "worker" / "status"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    return OrchestrationSettings()


def test_a_failed_first_boot_is_unhealthy_and_logged(
    settings: OrchestrationSettings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def no_seed_corpus() -> bool:
        raise FileNotFoundError("/var/lib/platform/data/ai_human_essays.csv.gz")

    monkeypatch.setattr(worker, "has_champion", no_seed_corpus)
    monkeypatch.setattr(worker, "build_deployments", lambda _settings: [])
    monkeypatch.setattr("prefect.serve", lambda *deployments, **kwargs: None)
    with caplog.at_level(logging.ERROR):
        assert worker.main([]) == 0
    assert "FIRST BOOT FAILED" in caplog.text and "ai_human_essays" in caplog.text
    assert worker.healthcheck(settings) == 1
    assert settings.worker_status_file.read_text().startswith("failed: FileNotFoundError")


def test_a_first_boot_that_trained_is_healthy(
    settings: OrchestrationSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "has_champion", lambda: True)
    monkeypatch.setattr(worker, "build_deployments", lambda _settings: [])
    monkeypatch.setattr("prefect.serve", lambda *deployments, **kwargs: None)
    assert worker.main([]) == 0
    assert worker.healthcheck(settings) == 0


def test_healthcheck_fails_when_the_prefect_api_does_not_answer(
    settings: OrchestrationSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.servers import free_port

    worker.write_status(settings.worker_status_file, "ok")
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    assert worker.healthcheck(settings) == 1
