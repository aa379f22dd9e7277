"""The ``retrain`` flow: latest dataset + feedback-labelled texts -> ``train`` -> gate verdict.

Started by the webhook receiver (drift / accuracy alerts), by the nightly schedule (with
``skip_if_no_new_data=True``: nothing runs when the data to train on has the same digest as the
champion's ``dataset_digest`` tag) or by hand. Feedback rows are the logged predictions whose text
was kept and that got a user label; they pass the registry's validator (class balance is checked
on the merged set) and are de-duplicated against the dataset before the merged set is stored as a
new version. The run's final message states the gate decision.
"""

from __future__ import annotations

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
from model_orchestration.flows.train import TrainSummary, train
from model_orchestration.merging import merge_new_rows
from model_registry import contract
from model_registry.dataset_store import DatasetStore, dataset_digest
from model_registry.validation import validate


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
    feedback_rows = 0
    if include_feedback and data is not None:
        feedback: pd.DataFrame = io(load_feedback)(settings.predictions_database_url)
        if len(feedback):
            report = validate(
                feedback,
                min_chars=registry.min_text_chars,
                max_chars=registry.max_text_chars,
                min_class_share=0.0,
            )
            merged = merge_new_rows(data, report.accepted)
            feedback_rows = merged.added
            logger.info(
                "feedback: %d labelled texts, %d valid, %d new (%d duplicates, %d conflicts)",
                len(feedback),
                len(report.accepted),
                merged.added,
                merged.duplicates,
                merged.conflicts,
            )
            if merged.added:
                data = merged.merged
                digest = dataset_digest(data)

    if skip_if_no_new_data and digest is not None:
        trained_on = io(champion_dataset_digest)(registry.model_name)
        if trained_on == digest:
            message = f"skipped: no new data since the champion was trained (dataset {digest[:12]})"
            logger.info(message)
            return Completed(message=message, data={"skipped": True, "dataset_digest": digest})

    if feedback_rows and data is not None:
        digest = io(store_training_set)(registry.dataset_store, data)
    summary = flow_result(
        train(dataset_digest=digest, trials=trials, return_state=True), TrainSummary
    )
    message = f"retrain ({reason}; +{feedback_rows} feedback rows): {summary.message()}"
    logger.info(message)
    result: dict[str, Any] = {"skipped": False, **summary.to_dict()}
    return Completed(message=message, data=result)
