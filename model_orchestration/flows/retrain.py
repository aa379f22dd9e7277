"""The ``retrain`` flow: latest dataset + feedback-labelled texts -> ``train`` -> gate verdict.

Started by the webhook receiver (drift / accuracy alerts), by the nightly schedule (with
``skip_if_no_new_data=True``: nothing runs when the data to train on has the same digest as the
champion's ``dataset_digest`` tag) or by hand. Feedback rows are the logged predictions whose text
was kept and that got a user label. They enter training only the way an ingested batch does
(``flows/ingest.py``): the feedback is written as one CSV batch and read back with the ingest
flow's parser and validator (``validate_batch``), then merged with the same de-duplication and
merged-set check (``merge_checked``). Unlike an ingested file, one bad feedback row does not
quarantine the others: it is left out and counted (``feedback_rejected`` in the result and the
run's message). The run's final message states the gate decision.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pandas as pd
from prefect import Task, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.states import Completed

from model_orchestration.flows.common import (
    P,
    R,
    flow_result,
    orchestration_settings,
    registry_settings,
    with_io_retries,
)
from model_orchestration.flows.dataset_slot import holds_dataset_slot
from model_orchestration.flows.ingest import merge_checked, validate_batch
from model_orchestration.flows.train import train
from model_registry import contract
from model_registry.dataset_store import DatasetStore, dataset_digest
from model_registry.settings import RegistrySettings
from model_registry.workflow import TrainOutcome


@dataclass(frozen=True)
class FeedbackMerge:
    """Feedback rows after the ingest validation: ``data`` is the dataset plus the ``added``."""

    data: pd.DataFrame | None = None
    received: int = 0
    rejected: int = 0
    added: int = 0
    duplicates: int = 0
    conflicts: int = 0
    refusal: str | None = None

    def describe(self) -> str:
        text = (
            f"{self.received} labelled texts, {self.rejected} rejected by validation, "
            f"{self.added} new ({self.duplicates} duplicates, {self.conflicts} conflicts)"
        )
        return text if self.refusal is None else f"{text}; none added: {self.refusal}"


def merge_feedback(
    current: pd.DataFrame, labelled: pd.DataFrame, registry: RegistrySettings
) -> FeedbackMerge:
    """``labelled`` feedback through the ingest flow's validation, merged onto ``current``."""
    content = labelled.to_csv(index=False).encode("utf-8", errors="surrogateescape")
    name = f"feedback-{hashlib.sha256(content).hexdigest()[:12]}.csv"
    report = validate_batch.fn(name, content, registry.min_text_chars, registry.max_text_chars)
    other_errors = [
        f"{e.rule}: {e.detail}" for e in report.dataset_errors if e.rule != "class_balance"
    ]
    rejected = len(report.rejected_rows)
    if other_errors:  # unparseable or missing columns: nothing of it is usable
        return FeedbackMerge(None, len(labelled), len(labelled), refusal="; ".join(other_errors))
    merged, refusal = merge_checked(current, report.accepted, registry)
    return FeedbackMerge(
        data=None if refusal is not None else merged.merged,
        received=len(labelled),
        rejected=rejected,
        added=0 if refusal is not None else merged.added,
        duplicates=merged.duplicates,
        conflicts=merged.conflicts,
        refusal=refusal,
    )


@task(cache_policy=NO_CACHE)
def latest_dataset(store_uri: str) -> tuple[str | None, pd.DataFrame | None]:
    store = DatasetStore.from_uri(store_uri)
    digest = store.latest()
    return (digest, store.get(digest)) if digest else (None, None)


@task(cache_policy=NO_CACHE)
def load_feedback(database_url: str) -> pd.DataFrame:
    """Feedback-labelled texts from serving's prediction log (empty when it has no tables yet)."""
    from sqlalchemy import inspect

    from model_orchestration.prediction_log import engine_for, feedback_examples

    engine = engine_for(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    if not {"predictions", "feedback"} <= tables:
        get_run_logger().warning("no prediction log tables at the configured database yet")
        return pd.DataFrame({"text": pd.Series(dtype=object), "generated": pd.Series(dtype=int)})
    return feedback_examples(database_url)


@task(cache_policy=NO_CACHE)
def champion_dataset_digest(model_name: str) -> str | None:
    """The ``dataset_digest`` tag of the current champion (None without a champion)."""
    from model_registry.gate import current_champion
    from model_registry.tracking import registry_client

    champion = current_champion(registry_client(), model_name)
    return (
        None if champion is None else (champion.tags or {}).get(contract.VersionTag.DATASET_DIGEST)
    )


@task(cache_policy=NO_CACHE)
def store_training_set(store_uri: str, data: pd.DataFrame) -> str:
    return DatasetStore.from_uri(store_uri).put(data)


@flow(name="retrain", validate_parameters=True)
@holds_dataset_slot
def retrain(
    reason: str = "manual",
    skip_if_no_new_data: bool = False,
    include_feedback: bool = True,
    trials: int | None = None,
) -> State:
    """Assemble the training set, run ``train`` on it and report the gate decision."""
    logger = get_run_logger()
    settings = orchestration_settings()
    registry = registry_settings()

    def io(step: Task[P, R]) -> Task[P, R]:
        return with_io_retries(step, settings)

    logger.info("retrain requested: %s", reason)
    digest, data = io(latest_dataset)(registry.dataset_store)
    feedback = FeedbackMerge()
    if include_feedback and data is not None:
        labelled: pd.DataFrame = io(load_feedback)(settings.predictions_database_url)
        if len(labelled):
            feedback = merge_feedback(data, labelled, registry)
            logger.info("feedback: %s", feedback.describe())
            if feedback.added and feedback.data is not None:
                data = feedback.data
                digest = dataset_digest(data)

    if skip_if_no_new_data and digest is not None:
        trained_on = io(champion_dataset_digest)(registry.model_name)
        if trained_on == digest:
            message = f"skipped: no new data since the champion was trained (dataset {digest[:12]})"
            logger.info(message)
            return Completed(message=message, data={"skipped": True, "dataset_digest": digest})

    if feedback.added and data is not None:
        digest = io(store_training_set)(registry.dataset_store, data)
    outcome = flow_result(
        train(dataset_digest=digest, trials=trials, return_state=True), TrainOutcome
    )
    message = (
        f"retrain ({reason}; +{feedback.added} feedback rows, {feedback.rejected} rejected): "
        f"{outcome.message()}"
    )
    logger.info(message)
    result: dict[str, Any] = {
        "skipped": False,
        "feedback_added": feedback.added,
        "feedback_rejected": feedback.rejected,
        **outcome.to_dict(),
    }
    return Completed(message=message, data=result)
