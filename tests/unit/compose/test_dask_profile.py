"""The compose `dask` profile: a Dask scheduler and scalable workers for bulk scoring and tuning.

Dask has no authentication: whoever reaches the scheduler runs code on every worker. So neither
service may be published or join the `edge` network, and their HTTP servers (health, metrics)
listen on the container's loopback only. The default stack (no profile) stays without them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest

from platform_processes import commands
from tests.unit.compose.conftest import REPO_ROOT, run_compose_config

DASK_SERVICES = {"dask-scheduler", "dask-worker"}
SCHEDULER_ADDRESS = "tcp://dask-scheduler:8786"


@pytest.fixture(scope="module")
def with_dask() -> dict[str, Any]:
    """The compose model with the `dask` profile enabled."""
    result = run_compose_config("--format", "json", global_args=("--profile", "dask"))
    assert result.returncode == 0, result.stderr
    model: dict[str, Any] = json.loads(result.stdout)
    return model


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def megabytes(size: str) -> float:
    match = re.fullmatch(r"(\d+)\s*([KMG]B)", size.upper())
    assert match, f"memory limit {size!r} is not <number>KB/MB/GB"
    return int(match[1]) * {"KB": 1e-3, "MB": 1.0, "GB": 1e3}[match[2]]


def test_the_default_stack_has_no_dask_service(compose: dict[str, Any]) -> None:
    assert not DASK_SERVICES & set(compose["services"])


def test_the_profile_adds_a_scheduler_and_workers(with_dask: dict[str, Any]) -> None:
    services = with_dask["services"]
    assert set(services) >= DASK_SERVICES
    worker_image = services["worker"]["image"]
    for name in DASK_SERVICES:
        assert services[name]["image"] == worker_image, f"{name}: not the orchestration image"
        assert services[name]["profiles"] == ["dask"]
    # --scale dask-worker=N needs containers without a fixed name or host port.
    assert "container_name" not in services["dask-worker"]


def test_dask_services_are_unpublished_and_internal_only(with_dask: dict[str, Any]) -> None:
    for name in DASK_SERVICES:
        service = with_dask["services"][name]
        assert not service.get("ports"), f"{name} is published: Dask has no login"
        assert set(service.get("networks", {})) == {"backend"}, name
    assert with_dask["networks"]["backend"]["internal"] is True


def test_dask_http_servers_listen_on_loopback_without_dashboard(with_dask: dict[str, Any]) -> None:
    for name in DASK_SERVICES:
        service = with_dask["services"][name]
        command = service["command"]
        assert "--no-dashboard" in command, name
        assert flag(command, "--dashboard-address").startswith("127.0.0.1:"), name
        port = flag(command, "--dashboard-address").rsplit(":", 1)[1]
        check = " ".join(service["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/health" in check, name


def test_dask_services_are_bounded_like_the_others(with_dask: dict[str, Any]) -> None:
    for name in DASK_SERVICES:
        service = with_dask["services"][name]
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert 0 < int(service.get("pids_limit") or 0) <= 4096, name
        assert int(service.get("mem_limit") or 0) > 0, name
        assert service["logging"]["driver"] == "json-file", name
        assert service.get("restart") == "unless-stopped", name
        assert service.get("read_only"), f"{name}: root filesystem is writable"
        assert any(str(t).startswith("/tmp:size=") for t in service.get("tmpfs", [])), name


def test_workers_pause_before_the_container_limit(with_dask: dict[str, Any]) -> None:
    """Dask's own memory limit (pause at 80 %, restart at 95 %) is below the container's."""
    worker = with_dask["services"]["dask-worker"]
    command = worker["command"]
    assert flag(command, "--nthreads") == "1", "scoring holds the GIL: one thread per worker"
    dask_limit_mb = megabytes(flag(command, "--memory-limit"))
    assert dask_limit_mb < int(worker["mem_limit"]) / 1e6


def test_workers_join_the_scheduler_and_reach_the_model_and_the_texts(
    with_dask: dict[str, Any],
) -> None:
    services = with_dask["services"]
    scheduler, worker = services["dask-scheduler"], services["dask-worker"]
    assert flag(scheduler["command"], "--port") == "8786"
    assert "8786" in [str(port) for port in scheduler.get("expose", [])]
    assert SCHEDULER_ADDRESS in worker["command"]
    env = worker["environment"]
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["MLFLOW_TRACKING_USERNAME"] and env["MLFLOW_TRACKING_PASSWORD"]
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    assert worker["depends_on"]["dask-scheduler"]["condition"] == "service_healthy"


def test_the_flow_worker_is_told_where_the_cluster_is(
    compose: dict[str, Any], dotenv: dict[str, str]
) -> None:
    """Default: `none` (no cluster, scoring and tuning in the worker); the areas are in the
    `scoring` bucket that minio-init creates."""
    env = compose["services"]["worker"]["environment"]
    assert dotenv["ORCHESTRATION_DASK_SCHEDULER_ADDRESS"] == "none"
    assert env["ORCHESTRATION_DASK_SCHEDULER_ADDRESS"] == "none"
    assert env["ORCHESTRATION_SCORE_INPUT_AREA"].startswith("s3://scoring/")
    assert env["ORCHESTRATION_SCORE_OUTPUT_AREA"].startswith("s3://scoring/")
    script = (REPO_ROOT / "deploy/minio/init-buckets.sh").read_text()
    assert re.search(r"^mc mb --ignore-existing .*platform/scoring\b", script, re.MULTILINE)


def test_none_means_no_cluster_for_scoring_and_tuning(monkeypatch: pytest.MonkeyPatch) -> None:
    from model_orchestration.settings import OrchestrationSettings
    from model_registry.settings import RegistrySettings

    monkeypatch.setenv("ORCHESTRATION_DASK_SCHEDULER_ADDRESS", "none")
    assert OrchestrationSettings().dask_scheduler_address is None
    assert RegistrySettings().dask_scheduler_address is None
    monkeypatch.setenv("ORCHESTRATION_DASK_SCHEDULER_ADDRESS", SCHEDULER_ADDRESS)
    assert OrchestrationSettings().dask_scheduler_address == SCHEDULER_ADDRESS
    assert RegistrySettings().dask_scheduler_address == SCHEDULER_ADDRESS


def test_workers_keep_glibcs_malloc_tuning(with_dask: dict[str, Any]) -> None:
    """The compose workers get the same environment as the native ones, and with it Dask's nanny
    no longer sets ``MALLOC_TRIM_THRESHOLD_`` for its worker (the variable that cost scoring
    11-16 % CPU, see ``commands.DASK_WORKER_ENVIRONMENT``); its thread caps stay."""
    env = with_dask["services"]["dask-worker"]["environment"]
    for name, value in commands.DASK_WORKER_ENVIRONMENT.items():
        assert env[name] == value, name
    spawn_env = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json; from distributed.nanny import _get_env_variables; "
            "print(json.dumps(_get_env_variables('distributed.nanny.pre-spawn-environ')))",
        ],
        env={**os.environ, **commands.DASK_WORKER_ENVIRONMENT},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    variables = json.loads(spawn_env.stdout)
    assert "MALLOC_TRIM_THRESHOLD_" not in variables
    assert variables["OMP_NUM_THREADS"] == "1"
