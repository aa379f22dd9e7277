"""Register the best candidate as a new version of ``ai-text-detector`` with alias ``challenger``.

The best candidate is chosen by the unseen-genre estimate, not by in-domain F1. Candidates whose
leave-one-domain-out mean ROC-AUC *and* worst-domain ROC-AUC are both within
``REGISTRY_SELECTION_LODO_TOLERANCE`` (default 0.01) of the best mean and the best worst are tied
on it (differences that small over a handful of domains are noise); among them the highest
validation F1 at the served threshold wins (more AI texts caught at the same FPR on human text).
When no candidate is within reach of both bests, the best (mean, worst) wins. Only candidates
whose behaviour tests passed compete (all when none passed: the gate then rejects it). Without a
LODO estimate (one domain, or ``REGISTRY_LEAVE_ONE_DOMAIN_OUT=false``) validation F1 decides
(PR-AUC breaks ties). The test split is kept for the promotion gate.

The version's tags record the operating point: FPR target, the global threshold, the per-domain
thresholds with their validation rates (``operating_thresholds``, JSON), the FPR on human text and
TPR on AI text achieved on validation at the routed thresholds, the worst domain of the test
split (F1 and FPR) and the LODO mean / worst ROC-AUC.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from model_registry import contract
from model_registry.domain_evaluation import worst_domain
from model_registry.training import CandidateResult, TrainingContext

log = logging.getLogger(__name__)

DEFAULT_LODO_TOLERANCE = 0.01


@dataclass(frozen=True)
class RegisteredCandidate:
    version: str
    result: CandidateResult


def choose_best(
    results: Sequence[CandidateResult], lodo_tolerance: float = DEFAULT_LODO_TOLERANCE
) -> CandidateResult:
    if not results:
        raise ValueError("no candidate was trained")
    pool = [r for r in results if r.behaviour.passed] or list(results)
    lodo = [(r.lodo.get("mean_roc_auc"), r.lodo.get("worst_roc_auc")) for r in pool]
    figures = [(mean, worst) for mean, worst in lodo if mean is not None and worst is not None]
    if len(figures) < len(pool):
        return max(pool, key=_validation_key)
    best_mean = max(mean for mean, _ in figures)
    best_worst = max(worst for _, worst in figures)
    tied = [
        r
        for r, (mean, worst) in zip(pool, figures, strict=True)
        if mean >= best_mean - lodo_tolerance and worst >= best_worst - lodo_tolerance
    ]
    if not tied:
        return max(pool, key=lambda r: (r.lodo["mean_roc_auc"], r.lodo["worst_roc_auc"]))
    return max(tied, key=_validation_key)


def _validation_key(result: CandidateResult) -> tuple[float, float]:
    return (result.validation_metrics["f1"], result.validation_metrics["pr_auc"])


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
        contract.VersionTag.FPR_TARGET: f"{result.evaluation.get('fpr_target', '')}",
        contract.VersionTag.VAL_FPR_HUMAN: f"{result.validation_metrics['fpr_human']:.6f}",
        contract.VersionTag.VAL_TPR_AI: f"{result.validation_metrics['tpr_ai']:.6f}",
    }
    if result.operating_thresholds is not None:
        tags[contract.VersionTag.OPERATING_THRESHOLDS] = result.operating_thresholds.to_json()
    worst_f1_domain, worst_f1 = worst_domain(result.test_domains, "f1")
    worst_fpr_domain, worst_fpr = worst_domain(
        result.test_domains, "fpr_human", highest_is_worst=True
    )
    if worst_f1_domain is not None:
        tags["test_worst_f1_domain"] = worst_f1_domain
        tags["test_worst_domain_f1"] = f"{worst_f1:.6f}"
    if worst_fpr_domain is not None:
        tags["test_worst_fpr_domain"] = worst_fpr_domain
        tags["test_worst_domain_fpr_human"] = f"{worst_fpr:.6f}"
    lodo = result.lodo
    if lodo.get("mean_roc_auc") is not None:
        tags[contract.VersionTag.LODO_MEAN_ROC_AUC] = f"{lodo['mean_roc_auc']:.6f}"
        tags[contract.VersionTag.LODO_WORST_ROC_AUC] = f"{lodo['worst_roc_auc']:.6f}"
        tags[contract.VersionTag.LODO_WORST_DOMAIN] = str(lodo["worst_domain"])
    for metric, value in result.test_metrics.items():
        if value == value:  # not NaN
            tags[f"{contract.VersionTag.TEST_METRIC_PREFIX}{metric}"] = f"{value:.6f}"
    return tags


def record_model_sha256(client: Any, model_name: str, version: str, digest: str) -> str:
    """Tag the version with ``digest``, the SHA-256 of its serialized model as stored (hashed by
    ``training`` from the download it reloads to check the model, not downloaded again here).

    The model is a cloudpickle: loading it runs code. Serving recomputes this hash on what it
    downloads and refuses a version that does not match, so whoever can write an artifact but not
    this tag cannot make serving run their code."""
    if len(digest) != 64:
        raise ValueError(f"no model SHA-256 for {model_name} version {version}")
    client.set_model_version_tag(model_name, version, contract.VersionTag.MODEL_SHA256, digest)
    return digest


def register_best(
    client: Any,
    results: Sequence[CandidateResult],
    context: TrainingContext,
    model_name: str = contract.MODEL_NAME,
    lodo_tolerance: float = DEFAULT_LODO_TOLERANCE,
) -> RegisteredCandidate:
    """Register the best candidate, tag the version, move ``challenger`` to it."""
    import mlflow

    best = choose_best(results, lodo_tolerance)
    ensure_registered_model(client, model_name)
    version = str(mlflow.register_model(best.model_uri, model_name).version)
    for key, value in version_tags(best, context).items():
        client.set_model_version_tag(model_name, version, key, value)
    record_model_sha256(client, model_name, version, best.model_sha256)
    client.set_registered_model_alias(model_name, contract.CHALLENGER_ALIAS, version)
    log.info("registered %s version %s (%s) as challenger", model_name, version, best.name)
    return RegisteredCandidate(version=version, result=best)
