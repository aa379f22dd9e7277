"""Fixtures of the orchestration unit tests: one Prefect test harness per session, small data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.support.model_fixtures import sample


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect API (SQLite) for flows run in these tests."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def seed_rows() -> pd.DataFrame:
    return sample(60, seed=1)


@pytest.fixture
def orchestration_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed_rows: pd.DataFrame
) -> dict[str, Path]:
    """Folders for incoming batches, quarantine and the dataset store; a small seed corpus."""
    paths = {
        "incoming": tmp_path / "incoming",
        "quarantine": tmp_path / "quarantine",
        "datasets": tmp_path / "datasets",
        "seed": tmp_path / "seed.csv",
    }
    paths["incoming"].mkdir()
    seed_rows.to_csv(paths["seed"], index=False)
    monkeypatch.setenv("ORCHESTRATION_INGEST_SOURCE", str(paths["incoming"]))
    monkeypatch.setenv("ORCHESTRATION_QUARANTINE", str(paths["quarantine"]))
    monkeypatch.setenv("ORCHESTRATION_IO_RETRIES", "2")
    monkeypatch.setenv("ORCHESTRATION_IO_RETRY_DELAY_SECONDS", "0")
    monkeypatch.setenv("REGISTRY_DATASET_STORE", str(paths["datasets"]))
    monkeypatch.setenv("REGISTRY_DATA_PATH", str(paths["seed"]))
    monkeypatch.delenv("ORCHESTRATION_HTTP_SOURCE_URL", raising=False)
    return paths
