"""The ``train`` flow: load a dataset version -> validate -> split -> train and evaluate candidates
-> register the best -> promotion gate.

Each step is one Prefect task wrapping the registry's public function for that stage
(``model_registry.workflow.validated_data`` / ``prepare_splits``, ``training.train_candidates``,
``registration.register_best``, ``gate.run_gate``), in the order ``model_registry.workflow.train``
runs them; no training, evaluation or gate logic lives here. I/O steps retry
(``ORCHESTRATION_IO_RETRIES``); data problems fail at once with the validator's one-line summary.
Nothing is registered before every candidate has been trained and evaluated, and the champion
alias moves only inside the gate, so a failure at any step leaves the served model untouched. A
version is finished once the gate has tagged its decision: a registration retry first deletes the
unfinished versions of a failed attempt, and a gate that fails for good deletes its challenger
(best effort: when MLflow is still down it stays, without a gate decision and never champion).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from prefect import Task, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.states import Completed

from model_orchestration.flows.common import (
    P,
    R,
    latest_digest,
    orchestration_settings,
    registry_settings,
    store_as_latest,
    with_io_retries,
)
from model_orchestration.flows.dataset_slot import holds_dataset_slot
from model_orchestration.flows.guards import check_train_parameters
from model_registry import contract
from model_registry.dataset_store import DatasetStore
from model_registry.gate import GateDecision, run_gate
from model_registry.labelled_csv import load_corpus
from model_registry.registration import RegisteredCandidate, register_best
from model_registry.settings import RegistrySettings
from model_registry.splits import Splits
from model_registry.training import CandidateResult, TrainingContext, train_candidates
from model_registry.validation import ValidationReport
from model_registry.workflow import domain_rule, prepare_splits, validated_data


@dataclass
class TrainSummary:
    dataset_digest: str
    rows: int
    registered_version: str
    candidate: str
    test_f1: float
    promoted: bool
    gate_reason: str
    champion_version: str | None

    def message(self) -> str:
        verdict = "PROMOTED to champion" if self.promoted else "REJECTED by the gate"
        return (
            f"version {self.registered_version} ({self.candidate}, test F1 {self.test_f1:.4f}, "
            f"dataset {self.dataset_digest[:12]}, {self.rows} rows) {verdict}: {self.gate_reason}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@task(cache_policy=NO_CACHE)
def connect_tracking(experiment: str) -> Any:
    """An MlflowClient on the configured tracking server (fails fast when it is down)."""
    from model_registry.tracking import configure_tracking

    return configure_tracking(experiment)


@task(cache_policy=NO_CACHE)
def load_dataset(store_uri: str, digest: str | None, fallback_paths: list[str]) -> pd.DataFrame:
    """Dataset ``digest`` (default: ``LATEST``) from the store; the seed CSVs on an empty store."""
    store = DatasetStore.from_uri(store_uri)
    digest = digest or store.latest()
    if digest is None:
        return load_corpus(fallback_paths)
    return store.get(digest)


@task(cache_policy=NO_CACHE)
def validate_dataset(
    settings: RegistrySettings, data: pd.DataFrame
) -> tuple[pd.DataFrame, ValidationReport]:
    return validated_data(settings, data)


@task(cache_policy=NO_CACHE)
def split_dataset(
    client: Any, settings: RegistrySettings, accepted: pd.DataFrame
) -> tuple[Splits, str]:
    """Train/validation/test with the registered model's frozen test split."""
    return prepare_splits(client, settings, DatasetStore.from_uri(settings.dataset_store), accepted)


@task(cache_policy=NO_CACHE)
def train_and_evaluate(
    splits: Splits, settings: RegistrySettings, context: TrainingContext, report: ValidationReport
) -> list[CandidateResult]:
    """Every candidate, tuned and evaluated, as nested runs of one parent MLflow run."""
    import mlflow

    logger = get_run_logger()
    with mlflow.start_run(run_name=f"train-{context.dataset_digest[:8]}"):
        mlflow.set_tags(
            {
                contract.VersionTag.DATASET_DIGEST: context.dataset_digest,
                contract.VersionTag.TEST_SPLIT_DIGEST: context.test_split_digest,
                contract.VersionTag.GIT_COMMIT: context.git_commit,
                "orchestrated_by": "prefect",
            }
        )
        mlflow.log_dict(report.to_dict(), "validation_report.json")
        return train_candidates(splits, settings, context, lambda message: logger.info(message))


def unfinished_versions(client: Any, model_name: str, run_ids: set[str]) -> list[str]:
    """Versions logged by ``run_ids`` that never got their gate decision (an attempt that failed
    half-way through registration or the gate)."""
    found = client.search_model_versions(f"name = '{model_name}'")
    return [
        str(v.version)
        for v in found
        if v.run_id in run_ids and contract.VersionTag.GATE_DECISION not in (v.tags or {})
    ]


def discard_versions(client: Any, model_name: str, versions: list[str]) -> None:
    logger = get_run_logger()
    for version in versions:
        client.delete_model_version(model_name, version)
        logger.warning("deleted half-registered version %s of %s", version, model_name)


@task(cache_policy=NO_CACHE)
def register_challenger(
    client: Any,
    results: list[CandidateResult],
    context: TrainingContext,
    model_name: str,
    lodo_tolerance: float,
) -> RegisteredCandidate:
    """Register the best candidate; a retry first removes what a failed attempt left."""
    run_ids = {r.run_id for r in results}
    discard_versions(client, model_name, unfinished_versions(client, model_name, run_ids))
    return register_best(client, results, context, model_name, lodo_tolerance)


@task(cache_policy=NO_CACHE)
def discard_unfinished(client: Any, model_name: str, version: str) -> None:
    """After a failed gate: remove ``version`` unless the gate recorded its decision."""
    current = client.get_model_version(model_name, version)
    if contract.VersionTag.GATE_DECISION not in (current.tags or {}):
        discard_versions(client, model_name, [version])


@task(cache_policy=NO_CACHE)
def promotion_gate(
    client: Any, registered: RegisteredCandidate, test: pd.DataFrame, settings: RegistrySettings
) -> GateDecision:
    return run_gate(
        client,
        registered.version,
        registered.result.test_f1,
        registered.result.behaviour.passed,
        test,
        model_name=settings.model_name,
        floor=settings.f1_floor,
        margin=settings.gate_margin,
        challenger_domains=registered.result.test_domains,
        domain_rule=domain_rule(settings),
    )


@flow(name="train", validate_parameters=True)
@holds_dataset_slot
def train(
    dataset_digest: str | None = None,
    data_path: str | None = None,
    trials: int | None = None,
    candidates: list[str] | None = None,
    f1_floor: float | None = None,
    gate_margin: float | None = None,
) -> State:
    """Train on dataset ``dataset_digest`` (default ``LATEST``; the seed corpus on an empty
    store); other parameters override the ``REGISTRY_*`` settings for this run.

    The final state's message is the gate verdict; calling the flow returns the
    :class:`TrainSummary`."""
    from model_registry.provenance import git_commit

    logger = get_run_logger()
    settings = orchestration_settings()
    check_train_parameters(dataset_digest, data_path, f1_floor, gate_margin)
    registry = registry_settings(
        data_path=data_path,
        trials=trials,
        candidates=tuple(candidates) if candidates else None,
        f1_floor=f1_floor,
        gate_margin=gate_margin,
    )

    def io(step: Task[P, R]) -> Task[P, R]:
        return with_io_retries(step, settings)

    client = io(connect_tracking)(registry.experiment)
    latest = io(latest_digest)(registry.dataset_store)
    data = io(load_dataset)(
        registry.dataset_store, dataset_digest, [str(p) for p in registry.data_path]
    )
    accepted, report = validate_dataset(registry, data)
    digest = io(store_as_latest)(registry.dataset_store, accepted, latest)
    splits, test_digest = io(split_dataset)(client, registry, accepted)
    logger.info("dataset %s: %d rows, splits %s", digest[:12], len(accepted), splits.sizes())
    context = TrainingContext(
        dataset_digest=digest,
        test_split_digest=test_digest,
        dataset_source=DatasetStore.from_uri(registry.dataset_store).location(digest),
        git_commit=git_commit(),
    )
    results = io(train_and_evaluate)(splits, registry, context, report)
    registered = io(register_challenger)(
        client, results, context, registry.model_name, registry.selection_lodo_tolerance
    )
    try:
        decision = io(promotion_gate)(client, registered, splits.test, registry)
    except Exception:
        # The champion alias has not moved; do not leave an ungated version behind.
        logger.error("gate failed for version %s: discarding it", registered.version)
        discarded = discard_unfinished(
            client, registry.model_name, registered.version, return_state=True
        )
        if not discarded.is_completed():
            logger.error("could not discard version %s: %s", registered.version, discarded.message)
        raise
    summary = TrainSummary(
        dataset_digest=digest,
        rows=len(accepted),
        registered_version=registered.version,
        candidate=registered.result.name,
        test_f1=registered.result.test_f1,
        promoted=decision.promoted,
        gate_reason=decision.reason,
        champion_version=registered.version if decision.promoted else decision.champion_version,
    )
    logger.info("train: %s", summary.message())
    return Completed(message=summary.message(), data=summary)
