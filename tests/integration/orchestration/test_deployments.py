"""The worker's deployments on a real Prefect server (PostgreSQL), S3 store and MLflow server.

Each test starts deployment runs the way the schedule, the webhook or a user would (the Prefect
API) and waits for their final state with a deadline. Outages are made with
:class:`OutageProxy`: the worker reaches MLflow and S3 through it, so a test can refuse
connections for a while without stopping the shared servers.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from model_orchestration.settings import (
    DRIFT_CHECK_FLOW,
    INGEST_FLOW,
    RETRAIN_FLOW,
    TRAIN_FLOW,
    deployment_name,
)
from model_orchestration.storage import split_s3_uri
from model_registry import contract
from model_registry.dataset_store import DatasetStore
from tests.integration.orchestration.conftest import (
    INGEST_INTERVAL_SECONDS,
    IO_RETRIES,
    RETRAIN_CRON,
    OrchestrationStack,
)
from tests.support import servers
from tests.support.model_fixtures import sample
from tests.support.orchestration_servers import put_batch

TRAIN_DEADLINE = 300.0
INGEST_DEADLINE = 120.0

pytestmark = pytest.mark.usefixtures("mlflow_env")


def names_under(stack: OrchestrationStack, uri: str) -> set[str]:
    bucket, prefix = split_s3_uri(uri)
    return {key[len(prefix) :] for key in stack.s3_store.keys(bucket, prefix)}


def message(run: dict[str, Any]) -> str:
    return str((run.get("state") or {}).get("message") or "")


def state_type(run: dict[str, Any]) -> str:
    return str((run.get("state") or {}).get("type"))


def task_run(stack: OrchestrationStack, run_id: str, task: str) -> dict[str, Any]:
    runs = [t for t in stack.api.task_runs(run_id) if t["name"].startswith(f"{task}-")]
    assert runs, f"no {task} task run in flow run {run_id}"
    return max(runs, key=lambda t: t["run_count"])


def model_versions(stack: OrchestrationStack) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient(stack.tracking_uri)
    return list(client.search_model_versions(f"name = '{stack.model_name}'"))


def test_worker_serves_every_deployment_with_its_schedule(stack: OrchestrationStack) -> None:
    def schedules(flow: str) -> list[dict[str, Any]]:
        return stack.api.deployment(deployment_name(flow))["schedules"]

    (ingest,) = schedules(INGEST_FLOW)
    assert ingest["active"] and ingest["schedule"]["interval"] == INGEST_INTERVAL_SECONDS
    (retrain,) = schedules(RETRAIN_FLOW)
    assert retrain["schedule"]["cron"] == RETRAIN_CRON
    assert retrain["schedule"]["timezone"] == "UTC"
    assert retrain["parameters"] == {"skip_if_no_new_data": True, "reason": "schedule"}
    assert schedules(DRIFT_CHECK_FLOW) == [], "an interval of 0 disables the schedule"
    assert schedules(TRAIN_FLOW) == [], "train runs on demand (and at first boot)"


def test_train_run_completes_and_promotes_a_first_champion(stack: OrchestrationStack) -> None:
    run_id = stack.api.start(deployment_name(TRAIN_FLOW))
    run = stack.api.wait_final(run_id, TRAIN_DEADLINE)
    assert state_type(run) == "COMPLETED", f"{message(run)}\n{stack.worker.tail()}"
    assert "PROMOTED to champion" in message(run)

    from mlflow import MlflowClient

    client = MlflowClient(stack.tracking_uri)
    champion = client.get_model_version_by_alias(stack.model_name, contract.CHAMPION_ALIAS)
    store = DatasetStore.from_uri(stack.dataset_store)
    assert champion.tags[contract.VersionTag.DATASET_DIGEST] == store.latest()
    assert champion.tags[contract.VersionTag.GATE_DECISION] == "promoted"


def test_ingest_run_adds_a_good_batch_as_a_new_dataset_version(stack: OrchestrationStack) -> None:
    store = DatasetStore.from_uri(stack.dataset_store)
    before = store.latest()
    batch = sample(40, seed=321)
    put_batch(stack.s3_store, stack.incoming, "batch-good.csv", batch)
    run = stack.api.wait_final(stack.api.start(deployment_name(INGEST_FLOW)), INGEST_DEADLINE)
    assert state_type(run) == "COMPLETED", f"{message(run)}\n{stack.worker.tail()}"
    assert "1 batch(es) accepted" in message(run)
    latest = store.latest()
    assert latest is not None and latest != before
    assert set(batch["text"]) <= set(store.get(latest)["text"])
    assert "batch-good.csv" not in names_under(stack, stack.incoming)
    assert "batch-good.csv" in names_under(stack, stack.incoming + "/processed")


def test_malformed_batch_is_quarantined_and_the_run_says_why(stack: OrchestrationStack) -> None:
    store = DatasetStore.from_uri(stack.dataset_store)
    before = store.latest()
    bad = sample(20, seed=77)
    bad.loc[3, "generated"] = 7  # not a label
    bad.loc[5, "text"] = "too short"
    put_batch(stack.s3_store, stack.incoming, "batch-bad.csv", bad)
    run = stack.api.wait_final(stack.api.start(deployment_name(INGEST_FLOW)), INGEST_DEADLINE)
    assert state_type(run) == "FAILED", message(run)
    assert "QUARANTINED batch-bad.csv" in message(run)
    assert "2 of 20 rows rejected" in message(run), message(run)
    quarantined = names_under(stack, stack.quarantine)
    stored = [n for n in quarantined if n.endswith("-batch-bad.csv")]
    assert len(stored) == 1, quarantined
    assert {f"{stored[0]}.report.json", f"{stored[0]}.report.txt"} <= quarantined
    bucket, prefix = split_s3_uri(stack.quarantine)
    body = stack.s3_store.client().get_object(Bucket=bucket, Key=f"{prefix}{stored[0]}.report.json")
    report = json.loads(body["Body"].read())
    assert {r["row"] for r in report["rejections"]} >= {3, 5}, report
    assert "batch-bad.csv" not in names_under(stack, stack.incoming)
    assert store.latest() == before, "a quarantined batch adds nothing to the dataset"


def test_object_store_outage_is_retried_and_the_run_recovers(stack: OrchestrationStack) -> None:
    stack.s3_proxy.down()
    try:
        run_id = stack.api.start(deployment_name(INGEST_FLOW))

        def awaiting_retry() -> bool:
            return any(
                (t.get("state") or {}).get("name") == "AwaitingRetry"
                for t in stack.api.task_runs(run_id)
            )

        servers.wait_until(awaiting_retry, timeout=INGEST_DEADLINE, what="a task awaiting retry")
    finally:
        stack.s3_proxy.up()
    run = stack.api.wait_final(run_id, INGEST_DEADLINE)
    assert state_type(run) == "COMPLETED", message(run)
    assert task_run(stack, run_id, "load_current_dataset")["run_count"] >= 2


def test_object_store_down_fails_the_run_clearly_and_commits_nothing(
    stack: OrchestrationStack,
) -> None:
    store = DatasetStore.from_uri(stack.dataset_store)
    before = store.latest()
    put_batch(stack.s3_store, stack.incoming, "batch-late.csv", sample(30, seed=555))
    stack.s3_proxy.down()
    try:
        run_id = stack.api.start(deployment_name(INGEST_FLOW))
        run = stack.api.wait_final(run_id, INGEST_DEADLINE)
    finally:
        stack.s3_proxy.up()
    assert state_type(run) == "FAILED", message(run)
    assert "Could not connect to the endpoint URL" in message(run), message(run)
    assert task_run(stack, run_id, "load_current_dataset")["run_count"] == IO_RETRIES + 1
    assert store.latest() == before
    assert "batch-late.csv" in names_under(stack, stack.incoming), "left for the next run"


def test_mlflow_down_fails_train_clearly_and_registers_nothing(stack: OrchestrationStack) -> None:
    store = DatasetStore.from_uri(stack.dataset_store)
    before, versions = store.latest(), len(model_versions(stack))
    stack.mlflow_proxy.down()
    try:
        run_id = stack.api.start(deployment_name(TRAIN_FLOW))
        run = stack.api.wait_final(run_id, TRAIN_DEADLINE)
    finally:
        stack.mlflow_proxy.up()
    assert state_type(run) == "FAILED", message(run)
    assert f"MLflow tracking server {stack.mlflow_proxy.url} unreachable" in message(run)
    assert task_run(stack, run_id, "connect_tracking")["run_count"] == IO_RETRIES + 1
    assert len(model_versions(stack)) == versions
    assert store.latest() == before


def test_runs_that_would_weaken_the_gate_are_refused(stack: OrchestrationStack) -> None:
    before = len(model_versions(stack))
    run_id = stack.api.start(deployment_name(TRAIN_FLOW), {"gate_margin": 1.0})
    run = stack.api.wait_final(run_id, timeout=INGEST_DEADLINE)
    assert state_type(run) == "FAILED", run["state"]
    assert "gate_margin 1.0 is above the configured" in message(run)
    assert len(model_versions(stack)) == before
