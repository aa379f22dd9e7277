"""Register the best candidate as a new version of ``ai-text-detector`` with alias ``challenger``.

The best candidate is chosen on *validation* F1 (PR-AUC breaks ties) among those whose behaviour
tests passed (all candidates when none passed: the gate then rejects it); the test split is kept
for the promotion gate.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from model_registry import contract
from model_registry.training import CandidateResult, TrainingContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisteredCandidate:
    version: str
    result: CandidateResult


def choose_best(results: Sequence[CandidateResult]) -> CandidateResult:
    if not results:
        raise ValueError("no candidate was trained")
    pool = [r for r in results if r.behaviour.passed] or list(results)
    return max(pool, key=lambda r: (r.validation_metrics["f1"], r.validation_metrics["pr_auc"]))


def ensure_registered_model(client: Any, name: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException:
        log.info("creating registered model %s", name)
        return client.create_registered_model(
            name, description="AI-generated vs human-written text detector (P(AI) per text)."
        )


def version_tags(result: CandidateResult, context: TrainingContext) -> dict[str, str]:
    tags = {
        contract.VersionTag.THRESHOLD: f"{result.threshold:.6f}",
        contract.VersionTag.DATASET_DIGEST: context.dataset_digest,
        contract.VersionTag.TEST_SPLIT_DIGEST: context.test_split_digest,
        contract.VersionTag.CANDIDATE: result.name,
        contract.VersionTag.GIT_COMMIT: context.git_commit,
        contract.VersionTag.BEHAVIOUR_TESTS: "passed" if result.behaviour.passed else "failed",
        "run_id": result.run_id,
    }
    for metric, value in result.test_metrics.items():
        tags[f"{contract.VersionTag.TEST_METRIC_PREFIX}{metric}"] = f"{value:.6f}"
    return tags


def register_best(
    client: Any,
    results: Sequence[CandidateResult],
    context: TrainingContext,
    model_name: str = contract.MODEL_NAME,
) -> RegisteredCandidate:
    """Register the best candidate, tag the version, move ``challenger`` to it."""
    import mlflow

    best = choose_best(results)
    ensure_registered_model(client, model_name)
    version = str(mlflow.register_model(best.model_uri, model_name).version)
    for key, value in version_tags(best, context).items():
        client.set_model_version_tag(model_name, version, key, value)
    client.set_registered_model_alias(model_name, contract.CHALLENGER_ALIAS, version)
    log.info("registered %s version %s (%s) as challenger", model_name, version, best.name)
    return RegisteredCandidate(version=version, result=best)
