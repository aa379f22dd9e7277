"""The ``drift_check`` flow: recently logged texts vs the champion's training data, judged by the
monitoring package's domain classifier.

Its AUC is exported as ``detector_drift_domain_auc`` by the webhook receiver (the flow posts the
result to ``ORCHESTRATION_WEBHOOK_URL``/v1/drift when configured) and the full report (AUC,
threshold calibrated against chance, separating terms) is saved as an MLflow run of the
``<experiment>-monitoring`` experiment (metrics + JSON/markdown artifacts).
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import httpx
from prefect import Task, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.states import Completed

from model_monitoring.domain_classifier import DomainDriftReport, run_domain_drift
from model_orchestration.flows.common import (
    P,
    R,
    orchestration_settings,
    registry_settings,
    with_io_retries,
)
from model_registry import contract
from model_registry.dataset_store import DatasetStore
from model_registry.labelled_csv import TEXT_COLUMN

MONITORING_EXPERIMENT_SUFFIX = "-monitoring"


@task(cache_policy=NO_CACHE)
def load_recent_texts(database_url: str, window_minutes: int, limit: int) -> list[str]:
    from model_orchestration.prediction_log import recent_texts

    return recent_texts(database_url, timedelta(minutes=window_minutes), limit)


@task(cache_policy=NO_CACHE)
def load_reference_texts(
    store_uri: str, model_name: str, size: int, seed: int
) -> tuple[str, list[str]]:
    """A sample of the champion's training dataset (``LATEST`` when there is no champion)."""
    from model_registry.gate import current_champion
    from model_registry.tracking import registry_client

    champion = current_champion(registry_client(), model_name)
    store = DatasetStore.from_uri(store_uri)
    digest = (champion.tags or {}).get(contract.VersionTag.DATASET_DIGEST) if champion else None
    if not digest or not store.exists(digest):
        digest = store.latest()
    if digest is None:
        raise ValueError(f"no reference dataset: no champion dataset and no LATEST in {store_uri}")
    texts = store.get(digest)[TEXT_COLUMN].tolist()
    random.Random(seed).shuffle(texts)
    return digest, texts[:size]


@task(cache_policy=NO_CACHE)
def domain_drift(reference: list[str], recent: list[str], seed: int) -> DomainDriftReport:
    return run_domain_drift(reference, recent, seed=seed)


@task(cache_policy=NO_CACHE)
def save_report(experiment: str, report: DomainDriftReport, reference_digest: str) -> str:
    """Log the report as an MLflow run; return its id."""
    import mlflow

    from model_registry.tracking import configure_tracking

    configure_tracking(experiment + MONITORING_EXPERIMENT_SUFFIX)
    with mlflow.start_run(run_name="drift-check") as run:
        mlflow.set_tags({"kind": "domain_drift", "verdict": report.verdict})
        mlflow.log_params(
            {
                "reference_dataset_digest": reference_digest,
                "n_reference": report.n_reference,
                "n_recent": report.n_recent,
                "seed": report.seed,
            }
        )
        mlflow.log_metrics(
            {"domain_auc": report.auc, "auc_threshold": report.threshold, "drifted": report.drifted}
        )
        mlflow.log_dict(report.to_dict(), "drift/domain_drift_report.json")
        mlflow.log_text(report.to_markdown(), "drift/domain_drift_report.md")
        return str(run.info.run_id)


@task(cache_policy=NO_CACHE)
def publish_auc(webhook_url: str, token: str, report: DomainDriftReport) -> None:
    response = httpx.post(
        f"{webhook_url.rstrip('/')}/v1/drift",
        json={
            "auc": report.auc,
            "threshold": report.threshold,
            "drifted": report.drifted,
            "n_recent": report.n_recent,
            "n_reference": report.n_reference,
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    response.raise_for_status()


@flow(name="drift_check", validate_parameters=True)
def drift_check(
    window_minutes: int | None = None,
    min_texts: int | None = None,
    reference_size: int = 1000,
    seed: int | None = None,
) -> State:
    """Compare texts logged in the last ``window_minutes`` with the reference texts."""
    logger = get_run_logger()
    settings = orchestration_settings()
    registry = registry_settings()
    window = window_minutes or settings.drift_window_minutes
    needed = min_texts or settings.drift_min_texts
    seed = settings.drift_seed if seed is None else seed

    def io(step: Task[P, R]) -> Task[P, R]:
        return with_io_retries(step, settings)

    recent = io(load_recent_texts)(
        settings.predictions_database_url, window, settings.drift_max_texts
    )
    if len(recent) < needed:
        message = (
            f"skipped: {len(recent)} texts logged in the last {window} min, need {needed} "
            "(is SERVING_STORE_TEXT=true?)"
        )
        logger.info(message)
        return Completed(message=message, data={"skipped": True, "n_recent": len(recent)})
    reference_digest, reference = io(load_reference_texts)(
        registry.dataset_store, registry.model_name, reference_size, seed
    )
    report = domain_drift(reference, recent, seed)
    run_id = io(save_report)(registry.experiment, report, reference_digest)
    if settings.webhook_url and settings.webhook_token is not None:
        io(publish_auc)(settings.webhook_url, settings.webhook_token.get_secret_value(), report)
    message = (
        f"domain AUC {report.auc:.3f} vs threshold {report.threshold:.3f} on {report.n_recent} "
        f"recent / {report.n_reference} reference texts: {report.verdict} (MLflow run {run_id})"
    )
    logger.info(message)
    result: dict[str, Any] = {"skipped": False, "run_id": run_id, **report.to_dict()}
    return Completed(message=message, data=result)
