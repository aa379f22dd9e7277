"""docker-compose.yml checks that need no Docker engine: `docker compose config` and the model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.unit.compose.conftest import COMPOSE_FILE, ENV_FILE, REPO_ROOT, run_compose_config

#: Services that run once and exit (gated by service_completed_successfully).
ONE_SHOT = {"minio-init", "secrets-check", "mlflow-init", "app-migrate", "monitoring-auth"}
#: Services that keep state, with the container path their named volume must be mounted on.
STATEFUL = {
    "mysql": "/var/lib/mysql",
    "minio": "/data",
    "postgres": "/var/lib/postgresql/data",
    "mlflow": "/var/lib/mlflow-auth",
    "worker": "/var/lib/platform",
    "prometheus": "/prometheus",
    "alertmanager": "/alertmanager",
    "grafana": "/var/lib/grafana",
}
#: Published on the host: the UIs and the API, nothing else (docs/CONTRACTS.md ports table).
PUBLISHED = {
    "serving-proxy": 8000,
    "frontend": 8501,
    "mlflow": 5000,
    "prefect": 4200,
    "grafana": 3000,
    "prometheus": 9090,
    "alertmanager": 9093,
    "minio": 9001,
}
VENDOR_DEFAULT_PASSWORDS = {"admin", "minioadmin", "password", "password1234", "changeme", ""}


def published_ports(service: dict[str, Any]) -> list[int]:
    return [int(port["published"]) for port in service.get("ports", [])]


def test_compose_config_passes() -> None:
    result = run_compose_config("--quiet")
    assert result.returncode == 0, result.stderr


def test_compose_config_fails_without_a_required_secret(tmp_path: Path) -> None:
    """`${VAR:?}` really guards the secrets: drop one from .env and config must refuse."""
    env_file = tmp_path / ".env"
    lines = ENV_FILE.read_text().splitlines()
    env_file.write_text(
        "\n".join(ln for ln in lines if not ln.startswith("MLFLOW_ADMIN_PASSWORD="))
    )
    result = run_compose_config("--quiet", global_args=("--env-file", str(env_file)))
    assert result.returncode != 0
    assert "MLFLOW_ADMIN_PASSWORD" in result.stderr


def test_services_are_the_platform(compose: dict[str, Any]) -> None:
    expected = {
        "secrets-check", "mysql", "minio", "minio-init", "postgres", "mlflow", "mlflow-init",
        "prefect", "worker", "webhook", "app-migrate", "serving", "serving-proxy", "frontend",
        "monitoring-auth", "prometheus", "alertmanager", "grafana",
    }  # fmt: skip
    assert set(compose["services"]) == expected


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service.get("image")
        assert image, f"{name}: no image name (built images get an explicit tag too)"
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: tag {tag!r} is not a version"


def test_built_images_have_existing_contexts_and_dockerfiles(compose: dict[str, Any]) -> None:
    built = {name: s["build"] for name, s in compose["services"].items() if "build" in s}
    assert {"mlflow", "serving", "frontend", "worker", "webhook", "prefect"} <= set(built)
    for name, build in built.items():
        context = Path(build["context"])
        assert context.is_dir(), f"{name}: build context {context} missing"
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} missing"


def test_every_bind_mount_source_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                source = Path(volume["source"])
                assert source.exists(), f"{name}: bind-mounted {source} does not exist"
                assert REPO_ROOT in source.parents, f"{name}: {source} is outside the repository"
                assert volume.get("read_only"), f"{name}: bind mount {source} is not read-only"


def test_state_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    for name, target in STATEFUL.items():
        mounts = {v["target"]: v for v in compose["services"][name].get("volumes", [])}
        assert target in mounts, f"{name}: nothing mounted on {target}"
        assert mounts[target]["type"] == "volume", f"{name}: {target} is not a named volume"
        assert mounts[target]["source"] in compose["volumes"]


def test_long_running_services_have_healthchecks(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", f"{name}: a one-shot must not restart"
            continue
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name}: no healthcheck"
        assert service.get("restart") == "unless-stopped", f"{name}: no restart policy"


def test_start_order_waits_on_health_or_completion(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for dependency, spec in service.get("depends_on", {}).items():
            expected = (
                "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            )
            assert spec["condition"] == expected, f"{name} -> {dependency}: {spec['condition']}"
    services = compose["services"]
    assert "minio-init" in services["mlflow"]["depends_on"]
    assert "mysql" in services["mlflow"]["depends_on"]
    assert "postgres" in services["prefect"]["depends_on"]
    assert {"prefect", "mlflow"} <= set(services["worker"]["depends_on"])


def test_only_uis_and_api_are_published(compose: dict[str, Any]) -> None:
    published = {name: published_ports(s) for name, s in compose["services"].items()}
    assert {name: ports for name, ports in published.items() if ports} == {
        name: [port] for name, port in PUBLISHED.items()
    }


def test_internal_services_stay_on_the_internal_network(compose: dict[str, Any]) -> None:
    networks = compose["networks"]
    assert networks["backend"].get("internal") is True
    for name, service in compose["services"].items():
        attached = set(service.get("networks", {}))
        assert "backend" in attached, f"{name}: not on the backend network"
        if not service.get("ports"):
            assert attached == {"backend"}, f"{name}: unpublished but on {attached - {'backend'}}"


def test_secrets_come_from_env_with_required_markers() -> None:
    """Every `${VAR}` in compose is `${VAR:?}` and defined in .env, with a comment above it."""
    lines = COMPOSE_FILE.read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    references = re.findall(r"(?<!\$)\$\{([^}]*)\}", text)
    assert references
    env_lines = ENV_FILE.read_text().splitlines()
    defined = {}
    for index, line in enumerate(env_lines):
        if line and not line.startswith("#"):
            key = line.split("=", 1)[0]
            defined[key] = index
            above = env_lines[index - 1] if index else ""
            assert above.startswith("#"), f".env: {key} has no comment line above it"
    for reference in references:
        name, _, modifier = reference.partition(":")
        assert modifier.startswith("?"), f"${{{reference}}}: use ${{{name}:?}}"
        assert name in defined, f"{name} is used by compose but not defined in .env"


def test_no_vendor_default_passwords(compose: dict[str, Any], dotenv: dict[str, str]) -> None:
    for key, value in dotenv.items():
        if key.endswith(("PASSWORD", "SECRET_KEY", "TOKEN")):
            assert value.lower() not in VENDOR_DEFAULT_PASSWORDS, f"{key} is a vendor default"
            assert len(value) >= 12, f"{key} is shorter than 12 characters"
    services = compose["services"]
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert services["minio"]["environment"]["MINIO_ROOT_PASSWORD"] != "minioadmin"
    mlflow_command = services["mlflow"]["command"]
    assert mlflow_command[mlflow_command.index("--app-name") + 1] == "basic-auth"
    assert services["mlflow"]["environment"]["MLFLOW_AUTH_ADMIN_PASSWORD"]


def test_mlflow_server_flags(compose: dict[str, Any]) -> None:
    mlflow = compose["services"]["mlflow"]
    env = mlflow["environment"]
    assert env["MLFLOW_BACKEND_STORE_URI"].startswith("mysql+pymysql://mlflow:")
    assert env["MLFLOW_ARTIFACTS_DESTINATION"] == "s3://mlflow"
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert "--serve-artifacts" in mlflow["command"]
    allowed = mlflow["command"][mlflow["command"].index("--allowed-hosts") + 1].split(",")
    assert "mlflow:5000" in allowed, "MLflow rejects requests whose Host is not allowed"


def test_mlflow_clients_use_the_server_with_credentials(compose: dict[str, Any]) -> None:
    for name in ("serving", "worker"):
        env = compose["services"][name]["environment"]
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert env["MLFLOW_TRACKING_USERNAME"] and env["MLFLOW_TRACKING_PASSWORD"]
    # Serving reads model artifacts through the MLflow server (proxied), never S3 directly.
    assert "AWS_SECRET_ACCESS_KEY" not in compose["services"]["serving"]["environment"]


def test_monitoring_configs_address_compose_services(compose: dict[str, Any]) -> None:
    """The committed Prometheus/Alertmanager files name `service:port` that exist in compose."""
    import yaml

    prometheus = yaml.safe_load(
        (REPO_ROOT / "model_monitoring/prometheus/prometheus.yml").read_text()
    )
    addresses = [
        target
        for job in prometheus["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    ]
    # DNS service discovery (the serving replicas): every name at the configured port.
    addresses += [
        f"{name}:{dns['port']}"
        for job in prometheus["scrape_configs"]
        for dns in job.get("dns_sd_configs", [])
        for name in dns["names"]
    ]
    addresses += [
        target
        for manager in prometheus["alerting"]["alertmanagers"]
        for static in manager["static_configs"]
        for target in static["targets"]
    ]
    alertmanager = (REPO_ROOT / "model_monitoring/alertmanager/alertmanager.yml").read_text()
    addresses += re.findall(r"url:\s*http://([\w-]+:\d+)", alertmanager)
    assert "webhook:8100" in addresses and "serving:8000" in addresses
    for address in addresses:
        host, port = address.rsplit(":", 1)
        if host == "localhost":
            continue
        assert host in compose["services"], f"{address}: no compose service {host}"
        service = compose["services"][host]
        container_ports = {int(p["target"]) for p in service.get("ports", [])}
        container_ports |= {int(p) for p in service.get("expose", [])}
        assert int(port) in container_ports, f"{address}: {host} listens on {container_ports}"
    from model_monitoring.web_auth import SECRET_FILES

    assert "webhook_token" in SECRET_FILES["alertmanager"]
    assert "/run/secrets/webhook_token" in alertmanager


def test_grafana_provisioning_matches_the_mounts(compose: dict[str, Any]) -> None:
    import yaml

    grafana_dir = REPO_ROOT / "model_monitoring" / "grafana"
    mounts = {
        Path(v["source"]): v["target"] for v in compose["services"]["grafana"]["volumes"]
        if v["type"] == "bind"
    }  # fmt: skip
    assert mounts[grafana_dir / "provisioning"] == "/etc/grafana/provisioning"
    for provider_file in (grafana_dir / "provisioning" / "dashboards").glob("*.y*ml"):
        for provider in yaml.safe_load(provider_file.read_text())["providers"]:
            assert mounts[grafana_dir / "dashboards"] == provider["options"]["path"]
    assert list((grafana_dir / "dashboards").glob("*.json")), "no dashboard to provision"
    for source_file in (grafana_dir / "provisioning" / "datasources").glob("*.y*ml"):
        for datasource in yaml.safe_load(source_file.read_text())["datasources"]:
            assert datasource["url"] == "http://prometheus:9090"


def test_prefect_api_needs_a_login_and_every_client_has_it(compose: dict[str, Any]) -> None:
    """Without an auth string anyone who reaches port 4200 can run `train` or `ingest`."""
    services = compose["services"]
    server = services["prefect"]["environment"]
    login = server["PREFECT_SERVER_API_AUTH_STRING"]
    assert login.startswith("admin:") and len(login) > len("admin:") + 15
    assert server["PREFECT_SERVER_CSRF_PROTECTION_ENABLED"] == "true"
    assert server["PREFECT_SERVER_CORS_ALLOWED_ORIGINS"] != "*"
    for client in ("worker", "webhook"):
        assert services[client]["environment"]["PREFECT_API_AUTH_STRING"] == login, client


def test_serving_replicas_sit_behind_the_proxy(compose: dict[str, Any]) -> None:
    """Serving scales (no published port, no fixed container name) behind serving-proxy, which
    runs the committed HAProxy config and is what the frontend and clients call."""
    import yaml

    services = compose["services"]
    serving, proxy = services["serving"], services["serving-proxy"]
    assert not serving.get("ports") and not serving.get("container_name")
    assert set(serving["networks"]) == {"backend"}, "replicas are reached through the proxy only"
    assert serving["environment"]["SERVING_RATE_LIMIT_CLIENT_HEADER"] == "X-Forwarded-For"
    assert proxy["image"].startswith("haproxy:2.6.")
    mounts = {v["target"]: Path(v["source"]) for v in proxy["volumes"]}
    assert mounts["/usr/local/etc/haproxy/haproxy.cfg"] == REPO_ROOT / "deploy/haproxy/haproxy.cfg"
    assert services["frontend"]["environment"]["SERVING_URL"] == "http://serving-proxy:8000"
    assert "serving-proxy" in services["frontend"]["depends_on"]
    config = (REPO_ROOT / "deploy/haproxy/haproxy.cfg").read_text()
    assert "server-template serving 1-10 serving:8000" in config
    assert "http-request set-header X-Forwarded-For %[src]" in config
    prometheus = yaml.safe_load(
        (REPO_ROOT / "model_monitoring/prometheus/prometheus.yml").read_text()
    )
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "serving")
    assert job["dns_sd_configs"] == [
        {"names": ["serving"], "type": "A", "port": 8000, "refresh_interval": "15s"}
    ]
    assert "static_configs" not in job


def _flag_value(command: list[str], flag: str) -> str | None:
    for argument in command:
        if argument.startswith(f"{flag}="):
            return argument.split("=", 1)[1]
    return None


def test_prometheus_and_alertmanager_need_a_login(compose: dict[str, Any]) -> None:
    """Basic auth from a web config made at start (no committed hash), no lifecycle API, and
    every client of theirs (Prometheus' alerting and scrapes, Grafana) logs in."""
    import yaml

    services = compose["services"]
    auth_volume = {
        v["target"]: v["source"]
        for v in services["monitoring-auth"]["volumes"]
        if v["type"] == "volume"
    }
    assert auth_volume["/var/lib/monitoring-auth"] == "monitoring-auth"
    for name in ("prometheus", "alertmanager"):
        command = services[name]["command"]
        assert "--web.enable-lifecycle" not in command, f"{name}: anyone could stop it"
        web_config = _flag_value(command, "--web.config.file")
        assert web_config == f"/etc/monitoring-auth/{name}-web.yml", name
        mounts = {v["target"]: v for v in services[name]["volumes"]}
        assert mounts["/etc/monitoring-auth"]["source"] == "monitoring-auth"
        assert mounts["/etc/monitoring-auth"].get("read_only")
        assert "monitoring-auth" in services[name]["depends_on"]
        assert mounts["/run/secrets"]["source"] == f"{name}-secrets", name
        assert mounts["/run/secrets"].get("read_only"), name
        # The healthcheck logs in with the secret file, never with a password in its text.
        healthcheck = " ".join(services[name]["healthcheck"]["test"])
        assert f"/run/secrets/{name}_password" in healthcheck
    assert not list(REPO_ROOT.glob("model_monitoring/**/*-web.yml")), "a committed web config"
    prometheus = yaml.safe_load(
        (REPO_ROOT / "model_monitoring/prometheus/prometheus.yml").read_text()
    )
    for manager in prometheus["alerting"]["alertmanagers"]:
        assert manager["basic_auth"]["password_file"] == "/run/secrets/alertmanager_password"
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert (
        jobs["alertmanager"]["basic_auth"]["password_file"] == "/run/secrets/alertmanager_password"
    )
    assert jobs["prometheus"]["basic_auth"]["password_file"] == "/run/secrets/prometheus_password"
    datasources = yaml.safe_load(
        (REPO_ROOT / "model_monitoring/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"]
    for datasource in datasources:
        assert datasource["basicAuth"] is True and datasource["basicAuthUser"] == "admin"
        assert datasource["secureJsonData"]["basicAuthPassword"] == "$PROMETHEUS_PASSWORD"
    assert services["grafana"]["environment"]["PROMETHEUS_PASSWORD"]


def _url_user(url: str) -> str:
    return url.split("://", 1)[1].split(":", 1)[0]


def test_every_service_has_its_own_least_privilege_accounts(compose: dict[str, Any]) -> None:
    """No account is shared between services, and none holds an admin or superuser login."""
    services = compose["services"]
    env = {name: service.get("environment", {}) for name, service in services.items()}
    mlflow_users = {
        name: env[name]["MLFLOW_TRACKING_USERNAME"] for name in ("serving", "worker", "mlflow-init")
    }
    assert len(set(mlflow_users.values())) == 3, mlflow_users
    assert mlflow_users["mlflow-init"] == env["mlflow"]["MLFLOW_AUTH_ADMIN_USERNAME"]
    assert env["mlflow-init"]["MLFLOW_SERVING_USERNAME"] == mlflow_users["serving"]
    assert env["mlflow-init"]["MLFLOW_WORKER_USERNAME"] == mlflow_users["worker"]
    # Database users: write (serving), read (worker), migrate (one-shot), each its own.
    assert _url_user(env["serving"]["SERVING_DATABASE_URL"]) == "app"
    assert _url_user(env["worker"]["ORCHESTRATION_PREDICTIONS_DATABASE_URL"]) == "app_read"
    assert _url_user(env["app-migrate"]["SERVING_MIGRATE_DATABASE_URL"]) == "app_migrate"
    assert "SERVING_MIGRATE_DATABASE_URL" not in env["serving"]
    # MinIO users: one per bucket; root only in minio and minio-init.
    assert env["mlflow"]["AWS_ACCESS_KEY_ID"] == env["minio-init"]["S3_MLFLOW_ACCESS_KEY"]
    assert env["worker"]["AWS_ACCESS_KEY_ID"] == env["minio-init"]["S3_WORKER_ACCESS_KEY"]
    assert env["mlflow"]["AWS_ACCESS_KEY_ID"] != env["worker"]["AWS_ACCESS_KEY_ID"]
    holders = {name for name, e in env.items() if "MINIO_ROOT_PASSWORD" in e}
    assert holders <= {"minio", "minio-init", "secrets-check"}, holders
    # PostgreSQL: the image's superuser stays in its container; Prefect logs in as `prefect`.
    assert env["postgres"]["POSTGRES_USER"] != "prefect"
    prefect_url = env["prefect"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert _url_user(prefect_url) == "prefect"
    init_scripts = [v for v in services["postgres"]["volumes"] if v["type"] == "bind"]
    assert any(v["target"].startswith("/docker-entrypoint-initdb.d/") for v in init_scripts)
    # Every secret a service receives is checked by the preflight.
    checked = set(env["secrets-check"])
    for name, variables in env.items():
        for variable, value in variables.items():
            if variable.endswith(("PASSWORD", "SECRET_KEY", "TOKEN")) and name != "secrets-check":
                assert any(value == env["secrets-check"][c] for c in checked), (name, variable)


def test_mysql_healthcheck_holds_no_password(compose: dict[str, Any]) -> None:
    test = " ".join(compose["services"]["mysql"]["healthcheck"]["test"])
    assert "-p" not in test.split() and "PASSWORD" not in test and "--password" not in test


#: Services whose root filesystem is read-only (writes go to volumes or a bounded tmpfs).
READ_ONLY = {
    "secrets-check",
    "mlflow-init",
    "app-migrate",
    "monitoring-auth",
    "serving",
    "webhook",
    "frontend",
    "prefect",
    "worker",
    "mlflow",
    "prometheus",
    "alertmanager",
    "serving-proxy",
}


def test_read_only_root_filesystems(compose: dict[str, Any]) -> None:
    read_only = {name for name, s in compose["services"].items() if s.get("read_only")}
    assert read_only >= READ_ONLY, READ_ONLY - read_only


def test_read_only_services_get_no_environment_secrets(compose: dict[str, Any]) -> None:
    """`docker compose up` copies an environment-sourced secret into the container and refuses
    to on a read-only root ("`file` is the sole supported option"); `config` does not notice."""
    from_environment = {
        name for name, secret in compose.get("secrets", {}).items() if "environment" in secret
    }
    for name, service in compose["services"].items():
        if service.get("read_only"):
            sources = {secret["source"] for secret in service.get("secrets", [])}
            assert not sources & from_environment, f"{name}: {sources & from_environment}"


def test_each_monitoring_server_reads_only_its_own_secret_files(compose: dict[str, Any]) -> None:
    """monitoring-auth writes ``<server>/<name>`` for every file a server's configuration or
    healthcheck reads under /run/secrets, on a volume only that server mounts: Prometheus never
    sees the webhook token."""
    from model_monitoring.web_auth import SECRET_FILES

    services = compose["services"]
    writer = services["monitoring-auth"]
    assert writer["entrypoint"][-2:] == ["--secrets-dir", "/var/lib/monitoring-secrets"]
    written = {v["source"]: v["target"] for v in writer["volumes"] if v["type"] == "volume"}
    configs = {
        "prometheus": (REPO_ROOT / "model_monitoring/prometheus/prometheus.yml").read_text(),
        "alertmanager": (REPO_ROOT / "model_monitoring/alertmanager/alertmanager.yml").read_text(),
    }
    for server, files in SECRET_FILES.items():
        volume = f"{server}-secrets"
        assert written[volume] == f"/var/lib/monitoring-secrets/{server}"
        mounted_by = {
            name
            for name, service in services.items()
            for v in service.get("volumes", [])
            if v.get("source") == volume
        }
        assert mounted_by == {"monitoring-auth", server}, (volume, mounted_by)
        read = set(re.findall(r"/run/secrets/(\w+)", configs[server]))
        read |= set(
            re.findall(r"/run/secrets/(\w+)", " ".join(services[server]["healthcheck"]["test"]))
        )
        assert read == set(files), (server, read, set(files))
    assert "webhook_token" not in SECRET_FILES["prometheus"]
    assert "secrets" not in services["prometheus"] and "secrets" not in services["alertmanager"]
