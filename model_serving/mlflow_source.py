"""The production ``ModelSource``: resolve the alias and load a version from the MLflow registry.

With the model come the optional artifacts of the run that logged it (the same run, so they
always belong to the served version): the drift reference profile, the scope reference and the
per-domain evaluation. A version without them still serves.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from model_monitoring.profile import ReferenceProfile
from model_monitoring.scope import ScopeReference
from model_registry import contract
from model_serving.errors import ModelRejected
from model_serving.model_checks import short_error
from model_serving.model_version import LoadedArtifacts, VersionInfo

logger = logging.getLogger(__name__)
T = TypeVar("T")


class MlflowModelSource:
    """Resolve aliases and load versions from the MLflow registry at ``tracking_uri``.

    MLflow's HTTP client retries for minutes by default; unless the environment says otherwise
    the retries are capped here so that a down registry shows up as a quick, retried failure
    (the holder retries with its own backoff). Download progress bars are switched off.
    """

    def __init__(self, tracking_uri: str, *, require_model_sha256: bool = False) -> None:
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        self.require_model_sha256 = require_model_sha256
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def resolve(self, name: str, alias: str) -> VersionInfo:
        version = self.client.get_model_version_by_alias(name, alias)
        return VersionInfo(
            name=name,
            alias=alias,
            version=str(version.version),
            run_id=str(version.run_id or ""),
            tags=dict(version.tags or {}),
        )

    def load(self, info: VersionInfo) -> LoadedArtifacts:
        import mlflow
        import mlflow.sklearn
        from mlflow.models import Model

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        with tempfile.TemporaryDirectory(prefix="serving-model-") as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{info.name}/{info.version}", dst_path=tmp
            )
            self._check_sha256(info, Path(local))  # before unpickling: loading runs code
            pipeline = mlflow.sklearn.load_model(local)
            pyfunc = Model.load(local).flavors.get("python_function", {})
            predict_fn = str(pyfunc.get("predict_fn") or "predict")
        return LoadedArtifacts(
            pipeline=pipeline,
            pyfunc_predict_fn=predict_fn,
            reference_profile=self._run_artifact(
                info,
                contract.REFERENCE_PROFILE_ARTIFACT,
                ReferenceProfile.from_json,
                "drift disabled for it",
            ),
            scope_reference=self._run_artifact(
                info,
                contract.SCOPE_REFERENCE_ARTIFACT,
                ScopeReference.from_json,
                "scope: length and language checks only",
            ),
            evaluation=self._run_artifact(
                info,
                contract.EVALUATION_BY_DOMAIN_ARTIFACT,
                _json_object,
                "GET /v1/model shows no evaluation",
            ),
        )

    def _check_sha256(self, info: VersionInfo, local: Path) -> None:
        """Refuse the version when its serialized model is not the one the gate recorded.

        Whoever can write to the registry could otherwise make serving unpickle their code. A
        version without the tag is loaded with a warning, or refused with
        ``SERVING_REQUIRE_MODEL_SHA256=true``.
        """
        expected = info.tags.get(contract.VersionTag.MODEL_SHA256)
        if expected is None:
            if self.require_model_sha256:
                raise ModelRejected(
                    f"version {info.version} has no {contract.VersionTag.MODEL_SHA256} tag and "
                    "SERVING_REQUIRE_MODEL_SHA256 is set"
                )
            logger.warning(
                "version %s has no %s tag: its model artifact cannot be checked",
                info.version,
                contract.VersionTag.MODEL_SHA256,
            )
            return
        actual = contract.model_artifact_sha256(local)
        if not hmac.compare_digest(expected.strip().lower().encode(), actual.encode()):
            tag = contract.VersionTag.MODEL_SHA256
            raise ModelRejected(
                f"the model artifact's SHA-256 does not match the {tag} tag recorded at the gate"
            )

    def _run_artifact(
        self, info: VersionInfo, artifact_path: str, parse: Callable[[str], T], what: str
    ) -> T | None:
        """An optional JSON artifact of the run that logged the version, parsed; ``None`` (and a
        warning saying what is off for this version) when it is missing or unreadable."""
        import mlflow

        if not info.run_id:
            return None
        try:
            with tempfile.TemporaryDirectory(prefix="serving-artifact-") as tmp:
                path = mlflow.artifacts.download_artifacts(
                    run_id=info.run_id,
                    artifact_path=artifact_path,
                    dst_path=tmp,
                    tracking_uri=self.tracking_uri,
                )
                with open(path, encoding="utf-8") as fh:
                    return parse(fh.read())
        except Exception as exc:
            logger.warning(
                "version %s has no usable %s (%s); %s",
                info.version,
                artifact_path,
                short_error(exc),
                what,
            )
            return None


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value
