"""The registry against the real stack: MLflow server on MariaDB, artifacts and datasets in S3.

One ordered scenario (each step needs the state the previous one left):
1. a full ``train`` on a 1,500-row sample registers and promotes version 1, puts the dataset, the
   frozen test split and the model in the S3 buckets, and the run/version rows in MariaDB;
2. a second ``train`` (CLI subprocess) with a worse challenger is rejected: exit 5, champion stays;
3. ``rollback`` (CLI subprocess) after a manual promotion restores the previous champion;
4. invalid data fails with the report and exit 3.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from model_monitoring.scope import ScopeReference
from model_registry import contract
from model_registry.errors import ChallengerRejected, DataValidationError, PromotionError
from model_registry.settings import RegistrySettings
from tests.support import servers

pytestmark = pytest.mark.timeout(600)
DATASET_PREFIX = "registry"


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model_registry", *args],
        env={**os.environ, **env},
        cwd=servers.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def backend_url(mlflow_server: servers.ServerProcess) -> str:
    args = mlflow_server.process.args
    assert isinstance(args, list), args
    return str(args[args.index("--backend-store-uri") + 1])


@pytest.fixture
def registry_env(mlflow_env: dict[str, str]) -> dict[str, str]:
    """Its own model name and experiment: the MLflow server is shared with other test areas."""
    suffix = uuid.uuid4().hex[:8]
    return {
        **mlflow_env,
        "REGISTRY_MODEL_NAME": f"{contract.MODEL_NAME}-it-{suffix}",
        "REGISTRY_EXPERIMENT": f"registry-it-{suffix}",
        "REGISTRY_DATASET_STORE": f"s3://datasets/{DATASET_PREFIX}",
        "REGISTRY_MAX_ROWS": "1500",
        "REGISTRY_TRIALS": "1",
        "REGISTRY_F1_FLOOR": "0.8",
    }


def test_train_gate_rollback_cycle(
    registry_env: dict[str, str],
    mlflow_server: servers.ServerProcess,
    s3_store: servers.S3Store,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import mlflow
    from mlflow import MlflowClient

    from model_registry.gate import promote
    from model_registry.workflow import train

    for key, value in registry_env.items():
        monkeypatch.setenv(key, value)
    client = MlflowClient(registry_env["MLFLOW_TRACKING_URI"])
    name = registry_env["REGISTRY_MODEL_NAME"]

    # 1. First training: no champion yet, the challenger clears the (lowered) floor.
    settings = RegistrySettings(candidates=("word_tfidf_lr", "word_char_tfidf_lr"))
    assert settings.model_name == name
    outcome = train(settings)
    assert outcome.decision.promoted, outcome.decision.reason
    assert outcome.registered_version == "1"
    assert client.get_model_version_by_alias(name, contract.CHAMPION_ALIAS).version == "1"
    version = client.get_model_version(name, "1")
    for tag in (
        contract.VersionTag.THRESHOLD,
        contract.VersionTag.DATASET_DIGEST,
        contract.VersionTag.TEST_SPLIT_DIGEST,
        contract.VersionTag.CANDIDATE,
        contract.VersionTag.GIT_COMMIT,
        contract.VersionTag.GATE_DECISION,
        contract.VersionTag.GATE_REASON,
        contract.VersionTag.BEHAVIOUR_TESTS,
        "test_f1",
        "test_roc_auc",
        contract.VersionTag.FPR_TARGET,
        contract.VersionTag.VAL_FPR_HUMAN,
        contract.VersionTag.VAL_TPR_AI,
        contract.VersionTag.LODO_MEAN_ROC_AUC,
        contract.VersionTag.LODO_WORST_ROC_AUC,
        contract.VersionTag.LODO_WORST_DOMAIN,
        "test_worst_f1_domain",
    ):
        assert version.tags.get(tag), f"missing version tag {tag}"
    # The served threshold keeps the FPR on human validation texts at most the target.
    assert float(version.tags[contract.VersionTag.VAL_FPR_HUMAN]) <= float(
        version.tags[contract.VersionTag.FPR_TARGET]
    )
    # Serving refuses a version whose serialized model differs from this hash (loading runs code).
    downloaded = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}/{version.version}", dst_path=str(tmp_path / "model-copy")
    )
    assert version.tags[contract.VersionTag.MODEL_SHA256] == contract.model_artifact_sha256(
        Path(downloaded)
    )
    run_id = version.run_id
    evaluation = mlflow.artifacts.load_dict(
        f"runs:/{run_id}/{contract.EVALUATION_BY_DOMAIN_ARTIFACT}"
    )
    assert evaluation["threshold"] == pytest.approx(
        float(version.tags[contract.VersionTag.THRESHOLD]), abs=1e-6
    )
    assert set(evaluation["domains"]) == set(outcome.best.test_domains)
    assert contract.DEFAULT_DOMAIN in evaluation["domains"] and "news" in evaluation["domains"]
    lodo = evaluation["leave_one_domain_out"]
    assert set(lodo["domains"]) == set(evaluation["domains"])
    assert lodo["worst_roc_auc"] == min(m["roc_auc"] for m in lodo["domains"].values())
    # Serving says "uncertain" from this reference: it must be the training split's genres.
    scope = ScopeReference.from_json(
        mlflow.artifacts.load_text(f"runs:/{run_id}/{contract.SCOPE_REFERENCE_ARTIFACT}")
    )
    assert set(scope.domains) == set(evaluation["domains"])
    assert version.tags[contract.VersionTag.DATASET_DIGEST] == outcome.dataset_digest
    model_tags = client.get_registered_model(name).tags
    assert model_tags[contract.ModelTag.FROZEN_TEST_SPLIT] == outcome.test_split_digest

    dataset_keys = set(s3_store.keys("datasets", DATASET_PREFIX))
    assert f"{DATASET_PREFIX}/{outcome.dataset_digest}.csv.gz" in dataset_keys
    assert f"{DATASET_PREFIX}/{outcome.test_split_digest}.csv.gz" in dataset_keys
    artifact_keys = s3_store.keys("mlflow")
    assert any(k.endswith("/model.pkl") for k in artifact_keys)
    assert any(k.endswith(contract.REFERENCE_PROFILE_ARTIFACT) for k in artifact_keys)
    assert any(k.endswith("plots/test_roc_curve.png") for k in artifact_keys)
    assert any(k.endswith("plots/test_by_domain_heatmap.png") for k in artifact_keys)
    assert any(k.endswith("plots/test_reliability_by_domain.png") for k in artifact_keys)
    assert any(k.endswith("evaluation/test_by_domain.json") for k in artifact_keys)

    engine = sa.create_engine(backend_url(mlflow_server))
    with engine.connect() as conn:
        versions = conn.execute(
            sa.text("SELECT version, run_id FROM model_versions WHERE name = :n"), {"n": name}
        ).all()
        assert [str(v) for v, _ in versions] == ["1"]
        run_status = conn.execute(
            sa.text("SELECT status FROM runs WHERE run_uuid = :r"), {"r": versions[0][1]}
        ).scalar_one()
        assert run_status == "FINISHED"
        experiment_id = conn.execute(
            sa.text("SELECT experiment_id FROM experiments WHERE name = :e"),
            {"e": registry_env["REGISTRY_EXPERIMENT"]},
        ).scalar_one()
        n_trial_runs = conn.execute(
            sa.text("SELECT COUNT(*) FROM runs WHERE experiment_id = :x AND name LIKE '%-trial-%'"),
            {"x": experiment_id},
        ).scalar_one()
        assert n_trial_runs == 2  # one nested run per trial and candidate
        n_inputs = conn.execute(
            sa.text(
                "SELECT COUNT(*) FROM inputs JOIN runs ON inputs.destination_id = runs.run_uuid "
                "WHERE runs.experiment_id = :x AND inputs.destination_type = 'RUN'"
            ),
            {"x": experiment_id},
        ).scalar_one()
        assert n_inputs >= 6  # train/validation/test logged on both candidate runs
    engine.dispose()

    # 2. A worse challenger (complement NB on a smaller sample), through the CLI: rejected.
    summary_path = tmp_path / "summary.json"
    worse = run_cli(
        "train",
        "--summary-json",
        str(summary_path),
        env={**registry_env, "REGISTRY_CANDIDATES": "word_tfidf_cnb", "REGISTRY_MAX_ROWS": "300"},
    )
    assert worse.returncode == ChallengerRejected.exit_code, worse.stderr[-2000:]
    assert "REJECTED" in worse.stdout
    assert worse.stderr.strip().splitlines()[-1].startswith("error (ChallengerRejected)")
    assert client.get_model_version_by_alias(name, contract.CHAMPION_ALIAS).version == "1"
    assert client.get_model_version_by_alias(name, contract.CHALLENGER_ALIAS).version == "2"
    summary = json.loads(summary_path.read_text())
    assert (summary["registered_version"], summary["gate"]["promoted"]) == ("2", False)
    assert summary["candidates"]["word_tfidf_cnb"]["trials"] == 1
    assert 0.0 < summary["candidates"]["word_tfidf_cnb"]["test"]["f1"] <= 1.0
    rejected = client.get_model_version(name, "2").tags
    assert rejected[contract.VersionTag.GATE_DECISION] == "rejected"
    assert float(rejected[contract.VersionTag.GATE_CHAMPION_F1]) > float(
        rejected[contract.VersionTag.GATE_CHALLENGER_F1]
    )

    # 3. Manual promotion of version 2, then rollback (CLI) to version 1.
    assert promote(client, name, "2") == "1"
    assert client.get_model_version_by_alias(name, contract.CHAMPION_ALIAS).version == "2"
    rolled = run_cli("rollback", env=registry_env)
    assert rolled.returncode == 0, rolled.stderr[-2000:]
    assert client.get_model_version_by_alias(name, contract.CHAMPION_ALIAS).version == "1"
    no_previous = run_cli("rollback", env=registry_env)
    assert no_previous.returncode == PromotionError.exit_code


def test_invalid_data_fails_with_the_report(registry_env: dict[str, str], tmp_path: Path) -> None:
    long = "This text is long enough for the minimum length rule of the validator, " * 2
    bad = tmp_path / "bad.csv"
    bad.write_text(f'text,generated\n"{long}",0\n"{long}",0\n"",1\n"{long} ai",maybe\n')
    result = run_cli("train", "--data", str(bad), env=registry_env)
    assert result.returncode == DataValidationError.exit_code
    assert "row 1: exact_duplicate" in result.stderr
    assert "row 2: text_not_empty" in result.stderr
    assert "row 3: label_in_0_1" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error (DataValidationError)")
