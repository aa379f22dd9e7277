"""The orchestration stack the integration tests run against.

A real Prefect server on its own PostgreSQL database, the shared S3 store and MLflow server of
``tests/conftest.py`` (reached through :class:`OutageProxy` so a test can make them unreachable
for a while), and the worker (``python -m model_orchestration.worker``) serving the deployments.
Names (registered model, experiment, dataset store prefix) are unique to this module, so the
shared MLflow server and bucket can hold other tests' models at the same time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import service_or_skip
from tests.support import servers
from tests.support.model_fixtures import sample
from tests.support.orchestration_servers import (
    ALL_DEPLOYMENTS,
    OutageProxy,
    PrefectApi,
    create_postgres_database,
    drop_postgres_database,
    prefect_client_env,
    small_training_env,
    start_prefect_server,
    start_worker,
)

#: Schedules the worker is given (asserted as served by the integration tests).
INGEST_INTERVAL_SECONDS = 3600
RETRAIN_CRON = "30 2 * * *"
#: Enough essays for the behaviour tests to pass (300 were not), few enough to train in seconds.
SEED_ROWS = 600
IO_RETRIES = 2
IO_RETRY_DELAY_SECONDS = 3


@dataclass
class OrchestrationStack:
    api: PrefectApi
    worker: servers.ServerProcess
    mlflow_proxy: OutageProxy
    s3_proxy: OutageProxy
    s3_store: servers.S3Store
    tracking_uri: str
    model_name: str
    dataset_store: str
    incoming: str
    quarantine: str


@pytest.fixture(scope="session")
def prefect_server(
    tmp_path_factory: pytest.TempPathFactory, server_logs: Path
) -> Iterator[servers.ServerProcess]:
    """A Prefect server backed by a fresh PostgreSQL database."""
    database = service_or_skip(lambda: create_postgres_database("prefect_it"))
    home = tmp_path_factory.mktemp("prefect-home")
    server = service_or_skip(lambda: start_prefect_server(database, home, server_logs))
    yield server
    server.stop()
    drop_postgres_database(database)


def worker_env(
    prefect_server: servers.ServerProcess,
    s3_store: servers.S3Store,
    work: Path,
    model_name: str,
    prefix: str,
) -> dict[str, str]:
    """What a test worker needs: the Prefect server, the S3 store, a small training run on a
    seed sample written to ``work``, no schedules; MLflow is set by the caller."""
    seed = work / "seed.csv"
    sample(SEED_ROWS, seed=11).to_csv(seed, index=False)
    return {
        **prefect_client_env(prefect_server),
        **s3_store.env,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
        **small_training_env(model_name, prefix, seed),
        "PREFECT_LOGGING_LEVEL": "INFO",
        "ORCHESTRATION_INGEST_INTERVAL_SECONDS": "0",
        "ORCHESTRATION_DRIFT_CHECK_INTERVAL_SECONDS": "0",
        "ORCHESTRATION_RETRAIN_CRON": "",
        "ORCHESTRATION_FIRST_BOOT_TRAIN": "false",
        "ORCHESTRATION_IO_RETRIES": str(IO_RETRIES),
        "ORCHESTRATION_IO_RETRY_DELAY_SECONDS": str(IO_RETRY_DELAY_SECONDS),
        "ORCHESTRATION_PREDICTIONS_DATABASE_URL": f"sqlite:///{work / 'predictions.db'}",
    }


@pytest.fixture(scope="module")
def stack(
    prefect_server: servers.ServerProcess,
    s3_store: servers.S3Store,
    mlflow_server: servers.ServerProcess,
    tmp_path_factory: pytest.TempPathFactory,
    server_logs: Path,
) -> Iterator[OrchestrationStack]:
    work = tmp_path_factory.mktemp("orchestration-it")
    run = uuid.uuid4().hex[:8]
    mlflow_proxy = OutageProxy(mlflow_server.url)
    s3_proxy = OutageProxy(s3_store.endpoint_url)
    model_name = f"orchestration-it-{run}"
    prefix = f"s3://datasets/orchestration-it-{run}"
    env = {
        **worker_env(prefect_server, s3_store, work, model_name, prefix),
        "MLFLOW_S3_ENDPOINT_URL": s3_proxy.url,
        "MLFLOW_TRACKING_URI": mlflow_proxy.url,
        "ORCHESTRATION_INGEST_INTERVAL_SECONDS": str(INGEST_INTERVAL_SECONDS),
        "ORCHESTRATION_RETRAIN_CRON": RETRAIN_CRON,
    }
    worker = service_or_skip(
        lambda: start_worker(env, server_logs, ready=ALL_DEPLOYMENTS, timeout=180)
    )
    yield OrchestrationStack(
        api=PrefectApi.of(prefect_server),
        worker=worker,
        mlflow_proxy=mlflow_proxy,
        s3_proxy=s3_proxy,
        s3_store=s3_store,
        tracking_uri=mlflow_server.url,
        model_name=model_name,
        dataset_store=f"{prefix}/store",
        incoming=f"{prefix}/incoming",
        quarantine=f"{prefix}/quarantine",
    )
    worker.stop()
    mlflow_proxy.down()
    s3_proxy.down()
