"""Serving refuses a version whose serialized model is not the one the gate recorded
(issue 14 item 9): whoever can write to the registry must not make serving unpickle their code.

A real MLflow store (SQLite + local artifacts): the version is logged as training does, the tag
``model_sha256`` set right or wrong, and ``MlflowModelSource`` / ``ModelHolder`` load it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from model_monitoring.profile import build_reference_profile
from model_registry import contract
from model_serving.errors import ModelRejected
from model_serving.mlflow_source import MlflowModelSource
from model_serving.model_holder import ModelHolder
from tests.support.model_fixtures import log_and_register, sample

NAME = "sha-test-detector"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, pipeline: Any) -> dict[str, Any]:
    """One logged and registered version (alias champion) in a fresh SQLite MLflow store."""
    import mlflow

    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)  # the registry URI is global too
    experiment = mlflow.create_experiment("sha", artifact_location=(folder / "art").as_uri())
    texts = sample(40, seed=3)["text"].tolist()
    profile = build_reference_profile(
        texts, texts, pipeline.predict_proba(texts)[:, 1].tolist(), threshold=0.5
    )
    version = log_and_register(
        uri,
        pipeline,
        profile,
        model_name=NAME,
        tags={contract.VersionTag.THRESHOLD: "0.5"},
        alias=contract.CHAMPION_ALIAS,
        experiment_id=experiment,
    )
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{NAME}/{version}", dst_path=str(folder / "copy")
        )
    )
    return {
        "uri": uri,
        "version": str(version),
        "client": client,
        "sha256": contract.model_artifact_sha256(local),
    }


def tag(registry: dict[str, Any], value: str | None) -> None:
    client, version = registry["client"], registry["version"]
    if value is None:
        client.delete_model_version_tag(NAME, version, contract.VersionTag.MODEL_SHA256)
    else:
        client.set_model_version_tag(NAME, version, contract.VersionTag.MODEL_SHA256, value)


def test_a_matching_tag_loads(registry: dict[str, Any]) -> None:
    tag(registry, registry["sha256"].upper())  # hex case does not matter
    source = MlflowModelSource(registry["uri"], require_model_sha256=True)
    artifacts = source.load(source.resolve(NAME, contract.CHAMPION_ALIAS))
    assert hasattr(artifacts.pipeline, "predict_proba")


def test_a_wrong_tag_is_refused_before_loading(
    registry: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow.sklearn

    def must_not_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was unpickled before its hash was checked")

    monkeypatch.setattr(mlflow.sklearn, "load_model", must_not_load)
    tag(registry, "0" * 64)
    source = MlflowModelSource(registry["uri"])
    with pytest.raises(ModelRejected, match="does not match the model_sha256 tag"):
        source.load(source.resolve(NAME, contract.CHAMPION_ALIAS))


def test_the_holder_refuses_and_remembers_a_mismatching_version(registry: dict[str, Any]) -> None:
    tag(registry, "f" * 64)
    results: list[str] = []
    holder = ModelHolder(
        MlflowModelSource(registry["uri"]),
        name=NAME,
        alias=contract.CHAMPION_ALIAS,
        poll_interval=60,
        on_reload=results.append,
    )
    first = holder.check_now()
    assert (first.outcome, holder.current) == ("refused", None)
    assert "SHA-256" in first.reason and "SHA-256" in holder.reason
    assert holder.check_now().outcome == "refused"  # remembered, not downloaded again
    assert results == ["refused"]


def test_a_missing_tag_loads_unless_required(registry: dict[str, Any]) -> None:
    tag(registry, None)
    info = MlflowModelSource(registry["uri"]).resolve(NAME, contract.CHAMPION_ALIAS)
    assert MlflowModelSource(registry["uri"]).load(info).pipeline is not None
    strict = MlflowModelSource(registry["uri"], require_model_sha256=True)
    with pytest.raises(ModelRejected, match="no model_sha256 tag"):
        strict.load(info)
