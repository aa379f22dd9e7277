"""What each compose service's image must hold, checked without an engine: images that can still
be pulled, healthcheck commands that exist in their image, volumes the service's user can write,
and the image-only defaults (seed corpus path, Prefect UI folder, bind-mount targets).
The container tier (tests/containers) runs the same images for real."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.unit.compose.conftest import REPO_ROOT
from tests.unit.compose.test_dockerfiles import DOCKERFILES, instructions

#: Repositories that no longer serve the images (pulls fail): MinIO removed minio/minio and
#: minio/mc from Docker Hub in September 2026; the same releases are on quay.io/minio/*.
GONE_FROM_REGISTRIES = {"minio/minio", "minio/mc", "docker.io/minio/minio", "docker.io/minio/mc"}
#: The program each third-party image offers for its healthcheck (from the images' own sources):
#: mysql has mysqladmin, MinIO's server image ships mc, postgres has pg_isready, Prometheus and
#: Alertmanager are busybox-based (wget), Grafana's image is Alpine-based (wget), HAProxy's
#: (the Debian variant, the plain version tag) has bash but no HTTP client (bash's /dev/tcp).
THIRD_PARTY_HEALTH_PROGRAMS = {
    "mysql": "mysqladmin",
    "minio": "mc",
    "postgres": "pg_isready",
    "prometheus": "wget",
    "alertmanager": "wget",
    "grafana": "wget",
    "serving-proxy": "bash",
}
#: The user a third-party image runs as, and whether it owns the paths it keeps state in (the
#: official images chown them at start, or create them owned by their user).
THIRD_PARTY_WRITES_ITS_STATE = {
    "mysql",
    "minio",
    "postgres",
    "prometheus",
    "alertmanager",
    "grafana",
}


def health_program(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    if test[0] == "CMD-SHELL":
        return test[1].split()[0]
    assert test[0] == "CMD", test
    return test[1]


def runtime_stage(dockerfile: str) -> list[tuple[str, str]]:
    steps = instructions(REPO_ROOT / dockerfile)
    return steps[max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM") :]


def dockerfile_of(service: dict[str, Any]) -> str:
    return service["build"]["dockerfile"]


def test_no_image_from_a_repository_that_is_gone(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        repository = service["image"].rpartition(":")[0]
        assert repository not in GONE_FROM_REGISTRIES, (
            f"{name}: {service['image']} cannot be pulled"
        )


def test_minio_images_come_from_quay(compose: dict[str, Any]) -> None:
    for name in ("minio", "minio-init"):
        assert compose["services"][name]["image"].startswith("quay.io/minio/"), name


def test_every_healthcheck_program_exists_in_its_image(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "healthcheck" not in service or service["healthcheck"].get("disable"):
            continue
        program = health_program(service)
        if "build" in service:
            # Our images: python is on PATH (/opt/venv/bin) in every runtime stage.
            runtime = runtime_stage(dockerfile_of(service))
            envs = " ".join(args for keyword, args in runtime if keyword == "ENV")
            assert program == "python" and "PATH=/opt/venv/bin" in envs, (name, program)
        else:
            assert THIRD_PARTY_HEALTH_PROGRAMS.get(name) == program, (name, program)


def test_worker_healthcheck_reports_a_failed_first_boot(compose: dict[str, Any]) -> None:
    test = compose["services"]["worker"]["healthcheck"]["test"]
    assert test[1:] == ["python", "-m", "model_orchestration.worker", "healthcheck"]


def test_every_non_root_service_can_write_its_volumes(compose: dict[str, Any]) -> None:
    """Our images run as `app`: every named volume they mount must be created owned by it (a
    fresh named volume takes the ownership of the image's folder)."""
    for name, service in compose["services"].items():
        volumes = [v["target"] for v in service.get("volumes", []) if v["type"] == "volume"]
        if not volumes:
            continue
        if "build" not in service:
            assert name in THIRD_PARTY_WRITES_ITS_STATE, name
            continue
        runs = " ".join(
            args for keyword, args in runtime_stage(dockerfile_of(service)) if keyword == "RUN"
        )
        for target in volumes:
            chowned = re.search(rf"chown (-R )?app:app [^&]*{re.escape(target)}(\s|$)", runs)
            assert chowned, f"{name}: volume {target} is not created owned by app"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_bind_mount_targets_are_absolute(dockerfile: str) -> None:
    """Podman 4.3 (Debian 12) refuses a relative `target=` in `RUN --mount=type=bind`."""
    text = (REPO_ROOT / dockerfile).read_text()
    targets = re.findall(r"--mount=type=bind,[^\s]*target=([^,\s]+)", text)
    assert targets and all(t.startswith("/") for t in targets), targets


def test_prefect_ui_is_copied_to_a_writable_folder() -> None:
    """Prefect copies its UI build at start; in site-packages the app user cannot."""
    runtime = runtime_stage("model_orchestration/Dockerfile")
    envs = " ".join(args for keyword, args in runtime if keyword == "ENV")
    match = re.search(r"PREFECT_UI_STATIC_DIRECTORY=(\S+)", envs)
    assert match and match.group(1).startswith("/var/lib/platform/"), envs
    runs = " ".join(args for keyword, args in runtime if keyword == "RUN")
    assert "chown app:app /var/lib/platform" in runs


def test_seed_corpus_default_follows_the_code_not_platform_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """The images set PLATFORM_HOME=/var/lib/platform and copy data/ to /app/data."""
    from model_registry.settings import RegistrySettings

    monkeypatch.setenv("PLATFORM_HOME", str(tmp_path))
    monkeypatch.delenv("REGISTRY_DATA_PATH", raising=False)
    paths = RegistrySettings().data_path
    assert paths and all(path.exists() for path in paths), paths
    assert {path.parent for path in paths} == {REPO_ROOT / "data"}


def test_serving_extra_can_load_an_sklearn_model(pyproject: dict[str, Any]) -> None:
    """`import mlflow.sklearn` needs pandas, which mlflow-skinny does not install."""
    serving = pyproject["project"]["optional-dependencies"]["serving"]
    names = {re.split(r"[<>=\[ ]", requirement)[0] for requirement in serving}
    assert "mlflow-skinny" in names and "pandas" in names


def test_minio_init_needs_no_grep_or_sed() -> None:
    """The mc image (ubi-micro) has neither; a pipe into them fails there."""
    script = (REPO_ROOT / "deploy/minio/init-buckets.sh").read_text()
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"\b(grep|sed|awk)\b", code)


def test_mlflow_allowed_hosts_keep_mlflows_defaults(compose: dict[str, Any]) -> None:
    """--allowed-hosts replaces MLflow's default list: without it, LAN clients are refused."""
    from mlflow.server.security_utils import get_default_allowed_hosts

    command = compose["services"]["mlflow"]["command"]
    allowed = set(command[command.index("--allowed-hosts") + 1].split(","))
    assert set(get_default_allowed_hosts()) <= allowed
    assert {"mlflow", "mlflow:5000"} <= allowed


def test_exec_form_healthchecks_have_no_spaces_in_arguments(compose: dict[str, Any]) -> None:
    """Podman's Docker-compatible API splits CMD healthcheck arguments at spaces (seen on 4.3):
    code with spaces goes in a CMD-SHELL string."""
    for name, service in compose["services"].items():
        test = service.get("healthcheck", {}).get("test", [])
        if test and test[0] == "CMD":
            assert not any(" " in part for part in test[1:]), f"{name}: {test}"
