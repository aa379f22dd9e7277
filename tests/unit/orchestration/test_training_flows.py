"""train / retrain / drift_check flows on the embedded stack (MLflow on SQLite, local folders).

Tiny data (a few hundred essays, one candidate, one trial) so the whole sequence stays fast.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine

from model_orchestration.flows.drift_check import drift_check
from model_orchestration.flows.retrain import retrain
from model_orchestration.flows.train import train
from model_registry import contract
from model_registry.dataset_store import DatasetStore
from model_serving.prediction_log.schema import Feedback, Prediction, metadata
from tests.data.off_domain import off_domain_texts
from tests.support.model_fixtures import sample

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """PLATFORM_HOME in a temp folder (MLflow SQLite + artifacts there), small registry settings."""
    home = tmp_path_factory.mktemp("platform")
    seed = home / "seed.csv"
    sample(240, seed=5).to_csv(seed, index=False)
    paths = {"home": home, "datasets": home / "datasets", "predictions": home / "predictions.db"}
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("PLATFORM_HOME", str(home))
        mp.setenv("REGISTRY_DATA_PATH", str(seed))
        mp.setenv("REGISTRY_DATASET_STORE", str(paths["datasets"]))
        mp.setenv("REGISTRY_CANDIDATES", "word_tfidf_lr")
        mp.setenv("REGISTRY_TRIALS", "1")
        mp.setenv("REGISTRY_F1_FLOOR", "0.5")
        mp.setenv("REGISTRY_GATE_MARGIN", "0.05")
        mp.setenv("ORCHESTRATION_PREDICTIONS_DATABASE_URL", f"sqlite:///{paths['predictions']}")
        mp.setenv("ORCHESTRATION_IO_RETRIES", "1")
        mp.setenv("ORCHESTRATION_IO_RETRY_DELAY_SECONDS", "0")
        mp.setenv("ORCHESTRATION_DRIFT_MIN_TEXTS", "20")
        yield paths


def log_predictions(
    database: Path,
    texts: list[str],
    labels: list[str] | None = None,
    age: timedelta = timedelta(0),
) -> None:
    """Write prediction rows (and feedback when ``labels``) the way serving's log does, logged
    ``age`` ago."""
    engine = create_engine(f"sqlite:///{database}")
    metadata.create_all(engine)
    now = datetime.now(UTC).replace(tzinfo=None) - age
    with engine.begin() as conn:
        for i, text in enumerate(texts):
            pid = uuid.uuid4().hex
            conn.execute(
                Prediction.__table__.insert().values(
                    id=pid,
                    created_at=now,
                    model_version="1",
                    probability_ai=0.5,
                    label="ai",
                    text_length=len(text),
                    text_sha256="0" * 64,
                    text=text,
                )
            )
            if labels is not None:
                conn.execute(
                    Feedback.__table__.insert().values(
                        prediction_id=pid, label=labels[i], created_at=now
                    )
                )
    engine.dispose()


def champion_tags() -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(contract.tracking_uri())
    version = client.get_model_version_by_alias(contract.MODEL_NAME, contract.CHAMPION_ALIAS)
    return {"version": str(version.version), **version.tags}


def test_train_then_retrain_with_feedback_then_drift_check(embedded_stack: dict[str, Path]) -> None:
    # 1. First train on an empty store: the seed corpus becomes dataset version one, champion v1.
    summary = train()
    assert summary.promoted, summary.message()
    store = DatasetStore.from_uri(str(embedded_stack["datasets"]))
    assert store.latest() == summary.dataset_digest
    tags = champion_tags()
    assert tags["version"] == summary.registered_version == "1"
    assert tags[contract.VersionTag.DATASET_DIGEST] == summary.dataset_digest

    # 2. Scheduled retrain with no new data: skipped, nothing registered.
    skipped = retrain(reason="schedule", skip_if_no_new_data=True, return_state=True)
    assert skipped.is_completed()
    assert skipped.message.startswith("skipped: no new data"), skipped.message
    assert champion_tags()["version"] == "1"

    # 3. Feedback-labelled predictions (logged hours ago, outside the drift window) arrive:
    #    retrain trains on dataset + feedback rows.
    feedback = sample(40, seed=99)
    first = store.get(summary.dataset_digest)
    new_texts = set(feedback["text"]) - set(first["text"])
    labels = ["ai" if g else "human" for g in feedback["generated"]]
    # One feedback row the ingest validation refuses (text under REGISTRY_MIN_TEXT_CHARS): it is
    # rejected and counted, never trained on.
    invalid = "too short to be an essay"
    log_predictions(
        embedded_stack["predictions"],
        [*feedback["text"].tolist(), invalid],
        [*labels, "ai"],
        age=timedelta(hours=3),
    )
    state = retrain(reason="alert: TextDriftDetected", skip_if_no_new_data=True, return_state=True)
    assert state.is_completed(), state.message
    assert f"+{len(new_texts)} feedback rows, 1 rejected" in state.message
    assert "version 2" in state.message
    result = state.result()
    assert result["skipped"] is False
    assert result["feedback_rejected"] == 1
    trained_on = store.get(result["dataset_digest"])
    assert len(trained_on) == len(first) + len(new_texts)
    assert set(feedback["text"]) <= set(trained_on["text"])
    assert invalid not in set(trained_on["text"])
    # The gate verdict is reported either way; with margin 0.05 an equal model is promoted.
    assert ("PROMOTED" in state.message) == result["promoted"]

    # 4. drift_check on the last hour's texts, all off-domain (chat, Q&A, news, reviews):
    #    a report in MLflow, AUC well above chance.
    recent = random.Random(0).sample(off_domain_texts(), 60)
    log_predictions(embedded_stack["predictions"], recent)
    check = drift_check(reference_size=200, return_state=True)
    assert check.is_completed(), check.message
    report = check.result()
    assert report["skipped"] is False
    assert report["n_recent"] == len(recent), "only texts inside the window are judged"
    assert report["auc"] > 0.9 and report["drifted"] is True, check.message

    from mlflow import MlflowClient

    client = MlflowClient(contract.tracking_uri())
    run = client.get_run(report["run_id"])
    assert run.data.metrics["domain_auc"] == pytest.approx(report["auc"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "drift")}
    assert "drift/domain_drift_report.json" in artifacts


def test_drift_check_skips_without_enough_texts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRATION_PREDICTIONS_DATABASE_URL", f"sqlite:///{tmp_path / 'p.db'}")
    log_predictions(tmp_path / "p.db", ["only one text here, far too few to judge drift"])
    state = drift_check(min_texts=10, return_state=True)
    assert state.is_completed()
    assert state.message.startswith("skipped: 1 texts logged")


def test_unreachable_mlflow_fails_the_run_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = tmp_path / "seed.csv"
    sample(60, seed=2).to_csv(seed, index=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("REGISTRY_DATA_PATH", str(seed))
    monkeypatch.setenv("REGISTRY_DATASET_STORE", str(tmp_path / "datasets"))
    monkeypatch.setenv("ORCHESTRATION_IO_RETRIES", "2")
    monkeypatch.setenv("ORCHESTRATION_IO_RETRY_DELAY_SECONDS", "0")
    state = train(return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match=r"MLflow tracking server http://127.0.0.1:9 unreachable"):
        state.result()
    # Nothing was written: not even the dataset (tracking is checked first).
    assert not (tmp_path / "datasets").exists()


def test_invalid_dataset_fails_at_once_with_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = pd.DataFrame({"text": ["short"] * 30, "generated": [0, 1] * 15})
    bad.to_csv(tmp_path / "bad.csv", index=False)
    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("REGISTRY_DATASET_STORE", str(tmp_path / "datasets"))
    state = train(data_path=str(tmp_path / "bad.csv"), return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match="invalid"):
        state.result()
