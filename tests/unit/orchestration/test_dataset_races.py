"""ingest and train at the same time lose nothing; ``LATEST`` only moves by compare-and-set.

The race is forced, not hoped for: ``train`` is held right after it loaded ``LATEST`` until the
concurrent ``ingest`` has finished (or at most ``HOLD_SECONDS``). Without a shared slot, ingest
commits its rows in that window and train then overwrites ``LATEST`` with the set it loaded before,
so the ingested rows vanish although their batch already moved to ``processed/``. With the slot,
ingest waits for train and merges onto train's result.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import model_registry.workflow as train_module
from model_orchestration.flows.dataset_slot import LatestMoved, compare_and_set_latest
from model_orchestration.flows.ingest import ingest
from model_orchestration.flows.train import train
from model_registry.dataset_store import DatasetStore
from tests.support.model_fixtures import sample

pytestmark = pytest.mark.usefixtures("prefect_harness")

HOLD_SECONDS = 8.0


@pytest.fixture
def small_training(
    orchestration_env: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Path]]:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REGISTRY_DATA_PATH", str(orchestration_env["seed"]))
    sample(240, seed=5).to_csv(orchestration_env["seed"], index=False)
    monkeypatch.setenv("REGISTRY_CANDIDATES", "word_tfidf_lr")
    monkeypatch.setenv("REGISTRY_TRIALS", "1")
    monkeypatch.setenv("REGISTRY_F1_FLOOR", "0.5")
    monkeypatch.setenv("REGISTRY_MODEL_NAME", f"race-{tmp_path.name}")
    yield orchestration_env


def test_concurrent_ingest_and_train_lose_no_row(
    small_training: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = small_training
    store = DatasetStore.from_uri(str(paths["datasets"]))
    store.set_latest(store.put(pd.read_csv(paths["seed"])))
    batch = sample(40, seed=99)
    batch.to_csv(paths["incoming"] / "new-batch.csv", index=False)

    train_loaded, ingest_done = threading.Event(), threading.Event()
    from model_registry.workflow import validated_data

    def held_validation(settings: Any, data: pd.DataFrame) -> Any:
        train_loaded.set()
        ingest_done.wait(HOLD_SECONDS)
        return validated_data(settings, data)

    monkeypatch.setattr(train_module, "validated_data", held_validation)
    outcomes: dict[str, Any] = {}

    def run_train() -> None:
        outcomes["train"] = train(return_state=True)

    def run_ingest() -> None:
        train_loaded.wait(60)
        try:
            outcomes["ingest"] = ingest(return_state=True)
        finally:
            ingest_done.set()

    threads = [threading.Thread(target=run_train), threading.Thread(target=run_ingest)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert outcomes["ingest"].is_completed(), outcomes["ingest"].message
    assert outcomes["train"].is_completed(), outcomes["train"].message

    latest = store.get(store.latest() or "")
    missing = set(batch["text"]) - set(latest["text"])
    assert not missing, f"{len(missing)} ingested rows are not in LATEST"
    assert (paths["incoming"] / "processed" / "new-batch.csv").exists()


def test_latest_moves_only_from_the_version_a_run_started_on(tmp_path: Path) -> None:
    store = DatasetStore.from_uri(str(tmp_path / "store"))
    first = store.put(sample(30, seed=1))
    second = store.put(sample(30, seed=2))
    compare_and_set_latest(store, None, first)
    with pytest.raises(LatestMoved, match="moved"):
        compare_and_set_latest(store, None, second)
    assert store.latest() == first
    compare_and_set_latest(store, first, second)
    compare_and_set_latest(store, first, second)  # a retry of a call that already succeeded
    assert store.latest() == second
