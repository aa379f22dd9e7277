"""Per-service MLflow users (issue 14, item 9): deploy/mlflow/create_users.py on a real
basic-auth MLflow server, as compose's one-shot `mlflow-init` runs it.

Serving's user reads the champion but is refused (403) moving the alias or creating a version;
the worker's user registers versions, moves the alias and deletes a half-registered version; a
second run (every `up`) changes nothing and grants the worker the experiment it created.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from model_registry import contract
from platform_processes import commands
from tests.support import servers

SCRIPT = servers.REPO_ROOT / "deploy" / "mlflow" / "create_users.py"
AUTH_INI = servers.REPO_ROOT / "deploy" / "mlflow" / "basic_auth.ini"
ADMIN = ("people-admin", "admin-password-123456")
SERVING = ("platform-serving", "serving-password-123456")
WORKER = ("platform-worker", "worker-password-1234567")


@dataclass
class Registry:
    url: str

    @property
    def api(self) -> str:
        return f"{self.url}/api/2.0/mlflow"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, server_logs: Path) -> Iterator[Registry]:
    work = tmp_path_factory.mktemp("mlflow-accounts")
    # The committed auth configuration with the user store moved to this test's folder.
    ini = AUTH_INI.read_text().replace(
        "sqlite:////var/lib/mlflow-auth/basic_auth.db", f"sqlite:///{work / 'auth.db'}"
    )
    (work / "basic_auth.ini").write_text(ini)
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    server_args = commands.mlflow_server(
        port, f"sqlite:///{work / 'mlflow.db'}", str(work / "artifacts")
    )
    args = [*server_args, "--app-name", "basic-auth"]
    env = {
        **commands.MLFLOW_SERVER_ENV,
        "MLFLOW_AUTH_CONFIG_PATH": str(work / "basic_auth.ini"),
        "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN[0],
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "mlflow-accounts-test-secret",
    }
    server = servers.start_process(
        "mlflow-basic-auth", args, log_dir=server_logs, url=url, health=f"{url}/health",
        env=env, timeout=180,
    )  # fmt: skip
    try:
        yield Registry(url)
    finally:
        server.stop()


def create_users(registry: Registry) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": registry.url,
        "MLFLOW_TRACKING_USERNAME": ADMIN[0],
        "MLFLOW_TRACKING_PASSWORD": ADMIN[1],
        "MLFLOW_SERVING_USERNAME": SERVING[0],
        "MLFLOW_SERVING_PASSWORD": SERVING[1],
        "MLFLOW_WORKER_USERNAME": WORKER[0],
        "MLFLOW_WORKER_PASSWORD": WORKER[1],
        "PYTHONPATH": str(servers.REPO_ROOT),
    }
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def register_as_worker(registry: Registry) -> str:
    """What the worker's training does, with its own login: a run, a version, the alias."""
    from mlflow import MlflowClient

    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = WORKER
    try:
        client = MlflowClient(registry.url, registry_uri=registry.url)
        experiment = client.get_experiment_by_name(contract.EXPERIMENT_NAME)
        experiment_id = (
            experiment.experiment_id
            if experiment
            else client.create_experiment(contract.EXPERIMENT_NAME)
        )
        run = client.create_run(experiment_id)
        client.log_text(run.info.run_id, "artifact_path: model\n", "model/MLmodel")
        client.set_terminated(run.info.run_id)
        if not client.search_registered_models(f"name = '{contract.MODEL_NAME}'"):
            client.create_registered_model(contract.MODEL_NAME)
        source = f"runs:/{run.info.run_id}/model"
        version = client.create_model_version(contract.MODEL_NAME, source, run.info.run_id)
        client.set_registered_model_alias(
            contract.MODEL_NAME, contract.CHAMPION_ALIAS, version.version
        )
        half = client.create_model_version(contract.MODEL_NAME, source, run.info.run_id)
        client.delete_model_version(contract.MODEL_NAME, half.version)  # needs MANAGE
        return str(version.version)
    finally:
        del os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]


def test_service_users_have_least_permission(registry: Registry) -> None:
    first = create_users(registry)
    assert "created MLflow user platform-serving" in first.stderr
    champion = register_as_worker(registry)
    alias = {"name": contract.MODEL_NAME, "alias": contract.CHAMPION_ALIAS}
    read = httpx.get(f"{registry.api}/registered-models/alias", params=alias, auth=SERVING)
    assert read.status_code == 200 and read.json()["model_version"]["version"] == champion
    moved = httpx.post(
        f"{registry.api}/registered-models/alias", json={**alias, "version": champion}, auth=SERVING
    )
    assert moved.status_code == 403, moved.text
    source = read.json()["model_version"]["source"]
    created = httpx.post(
        f"{registry.api}/model-versions/create",
        json={"name": contract.MODEL_NAME, "source": source},
        auth=SERVING,
    )
    assert created.status_code == 403, created.text
    anonymous = httpx.get(f"{registry.api}/registered-models/alias", params=alias)
    assert anonymous.status_code == 401


def test_a_second_run_is_idempotent_and_resets_passwords(registry: Registry) -> None:
    again = create_users(registry)
    assert "exists: password set to the current value" in again.stderr
    assert "MANAGE on experiment" in again.stderr  # the experiment the worker created
    register_as_worker(registry)  # the worker keeps its rights
    alias = {"name": contract.MODEL_NAME, "alias": contract.CHAMPION_ALIAS}
    read = httpx.get(f"{registry.api}/registered-models/alias", params=alias, auth=SERVING)
    assert read.status_code == 200
