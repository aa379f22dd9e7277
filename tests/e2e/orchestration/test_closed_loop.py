"""The closed retraining loop, end to end, on real servers started natively on this machine.

MariaDB (MLflow metadata, serving's prediction log), the S3 store (artifacts, datasets, incoming
batches), the MLflow server, a Prefect server on PostgreSQL, the orchestration worker (first boot
trains the champion) and webhook receiver, serving, Prometheus with the project's rules and
Alertmanager with the project's configuration pointing at the receiver.

1. First boot: the worker trains version 1 by itself; serving loads it.
2. In-domain traffic fills the drift window: no drift alert. Meanwhile a labelled batch is dropped
   in the object store and the ``ingest`` deployment turns it into a new dataset version.
3. Off-domain traffic: Prometheus fires ``TextDriftDetected``; Alertmanager calls the receiver,
   which starts ``retrain``.
4. ``retrain`` trains on the dataset that includes the ingested batch; the new version passes the
   gate; ``@champion`` moves; serving reloads and ``/v1/model`` shows it.

A load generator runs from step 2 to the end: not one request may fail. Every step has a
deadline; the time of each step and the total are printed and attached to the report.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from model_monitoring.render import render_alertmanager
from model_monitoring.settings import MonitoringSettings
from model_orchestration.settings import (
    INGEST_FLOW,
    RETRAIN_FLOW,
    deployment_name,
)
from model_registry import contract
from model_registry.dataset_store import DatasetStore
from tests.conftest import service_or_skip
from tests.data.off_domain import off_domain_texts
from tests.support import servers
from tests.support.model_fixtures import corpus, sample
from tests.support.monitoring_servers import LOGIN, start_project_prometheus
from tests.support.orchestration_servers import (
    ALL_DEPLOYMENTS,
    PrefectApi,
    create_postgres_database,
    drop_postgres_database,
    prefect_client_env,
    put_batch,
    small_training_env,
    start_alertmanager,
    start_prefect_server,
    start_webhook,
    start_worker,
)
from tests.support.serving_servers import start_serving

TOKEN = "closed-loop-webhook-token"
SEED_ROWS = 600
BATCH_ROWS = 120
DRIFT_WINDOW = 200
RATE_PER_SECOND = 10.0
#: Deadlines per step (seconds).
FIRST_BOOT_DEADLINE = 300.0
SERVING_DEADLINE = 120.0
IN_DOMAIN_DEADLINE = 90.0
INGEST_DEADLINE = 120.0
ALERT_DEADLINE = 180.0
WEBHOOK_DEADLINE = 60.0
RETRAIN_DEADLINE = 360.0
RELOAD_DEADLINE = 60.0


class LoadGenerator:
    """POSTs /v1/predict at a steady rate from a thread; counts every non-200 answer."""

    def __init__(self, url: str, texts: list[str]) -> None:
        self.url = url
        self.texts = texts
        self.sent = 0
        self.failures: list[str] = []
        self.prediction_ids: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def switch(self, texts: list[str]) -> None:
        self.texts = texts

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        started = time.monotonic()
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                due = started + self.sent / RATE_PER_SECOND
                if due > time.monotonic():  # pacing the load, not waiting for readiness
                    self._stop.wait(due - time.monotonic())
                texts = self.texts
                text = texts[self.sent % len(texts)]
                try:
                    response = client.post("/v1/predict", json={"text": text})
                    if response.status_code != 200:
                        self.failures.append(f"{response.status_code}: {response.text[:200]}")
                    else:
                        self.prediction_ids.append((response.json()["prediction_id"], text))
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                self.sent += 1


@dataclass
class Loop:
    api: PrefectApi
    serving: servers.ServerProcess
    prometheus: servers.ServerProcess
    webhook: servers.ServerProcess
    worker: servers.ServerProcess
    s3_store: servers.S3Store
    tracking_uri: str
    model_name: str
    dataset_store: str
    incoming: str
    steps: dict[str, float] = field(default_factory=dict)

    def query(self, promql: str) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.prometheus.url}/api/v1/query", params={"query": promql}, auth=LOGIN, timeout=10
        )
        body = response.json()
        assert body.get("status") == "success", body
        return body["data"]["result"]

    def champion(self) -> Any:
        from mlflow import MlflowClient

        client = MlflowClient(self.tracking_uri)
        return client.get_model_version_by_alias(self.model_name, contract.CHAMPION_ALIAS)

    def served_version(self) -> str | None:
        response = httpx.get(f"{self.serving.url}/v1/model", timeout=10)
        return str(response.json()["version"]) if response.status_code == 200 else None

    def step(self, name: str, started: float) -> None:
        self.steps[name] = round(time.monotonic() - started, 1)
        print(f"[closed loop] {name}: {self.steps[name]}s", flush=True)


def wait_for(check: Callable[[], bool], deadline: float, what: str, loop: Loop) -> None:
    try:
        servers.wait_until(check, timeout=deadline, what=what, interval=1.0)
    except servers.ServiceUnavailable as exc:
        logs = "\n".join(
            f"--- {s.name}\n{s.tail(15)}" for s in (loop.worker, loop.webhook, loop.serving)
        )
        pytest.fail(f"step failed: {exc}\n{logs}", pytrace=False)


@pytest.fixture(scope="module")
def loop(
    s3_store: servers.S3Store,
    mlflow_server: servers.ServerProcess,
    tmp_path_factory: pytest.TempPathFactory,
    server_logs: Path,
) -> Iterator[Loop]:
    started_at = time.monotonic()
    work = tmp_path_factory.mktemp("closed-loop")
    run = uuid.uuid4().hex[:8]
    model_name = f"closed-loop-{run}"
    prefix = f"s3://datasets/closed-loop-{run}"
    seed = work / "seed.csv"
    sample(SEED_ROWS, seed=3).to_csv(seed, index=False)
    token_file = work / "webhook_token"
    token_file.write_text(TOKEN)
    started: list[servers.ServerProcess] = []
    databases: list[str] = []
    postgres: list[str] = []
    worker_future: Future[servers.ServerProcess] | None = None
    try:
        log_db = service_or_skip(lambda: servers.create_mariadb_database("e2e_log"))
        databases.append(log_db)
        postgres.append(service_or_skip(lambda: create_postgres_database("prefect_e2e")))
        prefect = service_or_skip(
            lambda: start_prefect_server(postgres[0], work / "prefect", server_logs)
        )
        started.append(prefect)
        common = {
            **prefect_client_env(prefect),
            **s3_store.env,
            "MLFLOW_TRACKING_URI": mlflow_server.url,
            **small_training_env(model_name, prefix, seed),
            "ORCHESTRATION_WEBHOOK_TOKEN": TOKEN,
            "ORCHESTRATION_COOLDOWN_SECONDS": "600",
            "ORCHESTRATION_INGEST_INTERVAL_SECONDS": "0",
            "ORCHESTRATION_DRIFT_CHECK_INTERVAL_SECONDS": "0",
            "ORCHESTRATION_RETRAIN_CRON": "",
            "ORCHESTRATION_PREDICTIONS_DATABASE_URL": log_db,
            "ORCHESTRATION_IO_RETRY_DELAY_SECONDS": "2",
        }
        serving_env = {
            **s3_store.env,
            "MLFLOW_TRACKING_URI": mlflow_server.url,
            "SERVING_MODEL_NAME": model_name,
            "SERVING_POLL_INTERVAL_SECONDS": "2",
            "SERVING_RETRY_MAX_SECONDS": "2",
            "SERVING_STARTUP_WAIT_SECONDS": "0",
            "SERVING_STORE_TEXT": "true",
            "SERVING_DATABASE_URL": log_db,
            "SERVING_DRIFT_WINDOW_SIZE": str(DRIFT_WINDOW),
        }
        # The worker's first boot trains while the other servers start.
        with ThreadPoolExecutor(max_workers=2) as pool:
            worker_future = pool.submit(
                start_worker, common, server_logs, ALL_DEPLOYMENTS, FIRST_BOOT_DEADLINE
            )
            webhook = service_or_skip(lambda: start_webhook(common, server_logs))
            started.append(webhook)
            serving = service_or_skip(lambda: start_serving(serving_env, server_logs))
            started.append(serving)
            monitoring = MonitoringSettings(
                webhook_url=f"{webhook.url}/v1/alerts", webhook_token_file=str(token_file)
            )
            config = render_alertmanager(monitoring, work / "alertmanager.yml")
            alertmanager = service_or_skip(
                lambda: start_alertmanager(config, work / "alertmanager", server_logs)
            )
            started.append(alertmanager)
            prometheus = service_or_skip(
                lambda: start_project_prometheus(
                    work / "prometheus",
                    server_logs,
                    serving_targets=[serving.url.removeprefix("http://")],
                    webhook_targets=[webhook.url.removeprefix("http://")],
                    alertmanager_targets=[alertmanager.url.removeprefix("http://")],
                    interval="2s",
                )
            )
            started.append(prometheus)
            worker = service_or_skip(worker_future.result)
            started.append(worker)
        loop = Loop(
            api=PrefectApi.of(prefect),
            serving=serving,
            prometheus=prometheus,
            webhook=webhook,
            worker=worker,
            s3_store=s3_store,
            tracking_uri=mlflow_server.url,
            model_name=model_name,
            dataset_store=f"{prefix}/store",
            incoming=f"{prefix}/incoming",
        )
        loop.step("stack up, first boot trained", started_at)
        yield loop
    finally:
        if worker_future is not None and worker_future.done() and not worker_future.exception():
            worker_future.result().stop()
        for server in reversed(started):
            server.stop()
        for url in databases:
            servers.drop_mariadb_database(url)
        for url in postgres:
            drop_postgres_database(url)


def test_drift_alert_retrains_on_ingested_data_and_serving_moves_to_the_new_version(
    loop: Loop, mlflow_env: dict[str, str], record_property: Callable[[str, object], None]
) -> None:
    loop_started = time.monotonic()

    # 1. First boot: version 1 is champion, serving loads it.
    first = loop.champion()
    assert str(first.version) == "1"
    assert first.tags[contract.VersionTag.GATE_DECISION] == "promoted"
    t = time.monotonic()
    wait_for(lambda: loop.served_version() == "1", SERVING_DEADLINE, "serving loads v1", loop)
    loop.step("serving ready with v1", t)

    # 2. In-domain traffic (held-out essays) fills the drift window; no drift alert.
    seed_texts = set(sample(SEED_ROWS, seed=3)["text"])
    pool = corpus()[~corpus()["text"].isin(seed_texts)]
    batch = pool.sample(BATCH_ROWS, random_state=8)
    held_out = pool.drop(batch.index).sample(600, random_state=9)
    load = LoadGenerator(loop.serving.url, held_out["text"].tolist())
    load.start()
    try:
        t = time.monotonic()
        put_batch(loop.s3_store, loop.incoming, "new-labelled-batch.csv", batch)
        store = DatasetStore.from_uri(loop.dataset_store)
        first_digest = first.tags[contract.VersionTag.DATASET_DIGEST]
        assert store.latest() == first_digest
        ingest_id = loop.api.start(deployment_name(INGEST_FLOW))
        ingest_run = loop.api.wait_final(ingest_id, INGEST_DEADLINE)
        assert ingest_run["state"]["type"] == "COMPLETED", ingest_run["state"]["message"]
        ingested_digest = store.latest()
        assert ingested_digest is not None and ingested_digest != first_digest
        assert set(batch["text"]) <= set(store.get(ingested_digest)["text"])
        loop.step("batch ingested (new dataset version)", t)

        t = time.monotonic()
        wait_for(
            lambda: (
                bool(loop.query(f"detector:drift_window_size:sum >= {DRIFT_WINDOW}"))
                and load.sent >= DRIFT_WINDOW + 50
            ),
            IN_DOMAIN_DEADLINE,
            "a full drift window of in-domain texts",
            loop,
        )
        assert loop.query('ALERTS{category="drift"}') == [], "drift alert on in-domain traffic"
        loop.step("in-domain window full, no drift alert", t)

        # Users label some in-domain predictions: retrain also learns from feedback.
        with httpx.Client(base_url=loop.serving.url, timeout=30) as client:
            labels = dict(zip(held_out["text"], held_out["generated"], strict=True))
            for prediction_id, text in load.prediction_ids[:20]:
                label = "ai" if labels[text] else "human"
                answer = client.post(
                    "/v1/feedback", json={"prediction_id": prediction_id, "label": label}
                )
                assert answer.status_code < 300, answer.text

        # 3. Off-domain traffic: the drift alert fires, Alertmanager calls the receiver.
        t = time.monotonic()
        drifted = list(off_domain_texts())
        random.Random(0).shuffle(drifted)
        load.switch(drifted)
        wait_for(
            lambda: bool(loop.query('ALERTS{alertname="TextDriftDetected",alertstate="firing"}')),
            ALERT_DEADLINE,
            "TextDriftDetected firing",
            loop,
        )
        loop.step("drift alert firing", t)
        t = time.monotonic()
        started_runs: list[dict[str, Any]] = []

        def retrain_started() -> bool:
            started_runs[:] = [
                r for r in loop.api.flow_runs(RETRAIN_FLOW) if "alert-triggered" in r["tags"]
            ]
            return bool(started_runs)

        wait_for(retrain_started, WEBHOOK_DEADLINE, "the receiver starting retrain", loop)
        assert len(started_runs) == 1
        triggers = httpx.get(f"{loop.webhook.url}/metrics", timeout=10).text
        assert 'detector_retrain_triggers_total{result="started"} 1.0' in triggers
        loop.step("Alertmanager -> receiver -> retrain run created", t)

        # 4. retrain on the ingested data passes the gate; the alias moves; serving reloads.
        t = time.monotonic()
        retrain_run = loop.api.wait_final(started_runs[0]["id"], RETRAIN_DEADLINE)
        retrain_message = retrain_run["state"]["message"] or ""
        assert retrain_run["state"]["type"] == "COMPLETED", retrain_message
        assert retrain_run["parameters"]["reason"] == "alert: TextDriftDetected"
        assert "PROMOTED to champion" in retrain_message, retrain_message
        loop.step("retrain completed, promoted", t)
        champion = loop.champion()
        assert str(champion.version) == "2", retrain_message
        trained_on = store.get(champion.tags[contract.VersionTag.DATASET_DIGEST])
        assert set(batch["text"]) <= set(trained_on["text"]), "retrain missed the ingested batch"
        assert len(trained_on) > len(store.get(first_digest)) + BATCH_ROWS * 0.9
        t = time.monotonic()
        wait_for(lambda: loop.served_version() == "2", RELOAD_DEADLINE, "serving reloads v2", loop)
        loop.step("serving reloaded v2", t)
    finally:
        load.stop()

    loop.steps["closed loop total"] = round(time.monotonic() - loop_started, 1)
    figures = {
        "steps_seconds": loop.steps,
        "requests": load.sent,
        "failed_requests": len(load.failures),
        "retrain": retrain_message,
    }
    print("[closed loop] figures:", json.dumps(figures, indent=2), flush=True)
    record_property("closed_loop", json.dumps(figures))
    assert load.failures == [], f"{len(load.failures)} failed requests: {load.failures[:5]}"
    assert load.sent > DRIFT_WINDOW * 2
