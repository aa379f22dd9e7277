"""Real servers for the monitoring integration tests.

Prometheus (Debian package) runs with the project's configuration rendered for the test's ports
(``model_monitoring.render``: same rule files, shorter intervals allowed) and, as in compose, asks
for a login (:data:`LOGIN`; every client passes ``auth=LOGIN``); a champion is
registered in a throw-away SQLite MLflow store so that serving can load it without the full
registry stack.
"""

from __future__ import annotations

from pathlib import Path

from model_monitoring.render import render_prometheus
from model_monitoring.settings import MonitoringSettings
from model_monitoring.web_auth import USERNAME, write_web_config
from platform_processes import commands
from platform_processes.launcher import http_ok
from tests.support.servers import ServerProcess, ServiceUnavailable, free_port, start_process

#: The tests' Prometheus and Alertmanager password (one for both; compose has one each).
MONITORING_PASSWORD = "platform-test-monitoring"
#: The login every test client of Prometheus or Alertmanager sends.
LOGIN = (USERNAME, MONITORING_PASSWORD)


def write_monitoring_auth(work_dir: Path) -> tuple[Path, Path]:
    """A web config accepting :data:`LOGIN` (bcrypt hash made now) and a 0600 file with the
    password, for a Prometheus that logs in to itself and to Alertmanager."""
    web_config = write_web_config(work_dir / "web.yml", MONITORING_PASSWORD)
    password_file = work_dir / "monitoring_password"
    password_file.write_text(MONITORING_PASSWORD)
    password_file.chmod(0o600)
    return web_config, password_file


def start_project_prometheus(
    work_dir: Path,
    log_dir: Path,
    *,
    serving_targets: list[str],
    webhook_targets: list[str] | None = None,
    alertmanager_targets: list[str] | None = None,
    interval: str = "2s",
) -> ServerProcess:
    """Prometheus with the project's rules, scraping ``serving_targets`` every ``interval``."""
    binary = commands.find_binary(commands.PROMETHEUS_BINARIES)
    if binary is None:
        raise ServiceUnavailable("prometheus is not installed (Debian package prometheus)")
    port = free_port()
    web_config, password_file = write_monitoring_auth(work_dir)
    settings = MonitoringSettings(
        serving_targets=serving_targets,
        webhook_targets=webhook_targets or [],
        alertmanager_targets=alertmanager_targets or [],
        prometheus_target=f"127.0.0.1:{port}",
        scrape_interval=interval,
        evaluation_interval=interval,
        prometheus_password_file=str(password_file),
        alertmanager_password_file=str(password_file),
    )
    config = render_prometheus(settings, work_dir / "prometheus.yml")
    url = f"http://127.0.0.1:{port}"
    args = commands.prometheus(binary, config, work_dir / "tsdb", port, web_config=web_config)
    health = http_ok(f"{url}/-/ready", auth=LOGIN)
    return start_process("prometheus", args, log_dir=log_dir, url=url, health=health, timeout=30)


def register_local_champion(store_dir: Path, *, seed: int = 0, n_train: int = 600) -> str:
    """Register a small champion in a SQLite MLflow store under ``store_dir``; its tracking URI."""
    import mlflow

    from model_registry import contract
    from tests.support.model_fixtures import register_small_model

    store_dir.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{store_dir / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)  # the registry URI is global too
    if mlflow.get_experiment_by_name(contract.EXPERIMENT_NAME) is None:
        mlflow.create_experiment(
            contract.EXPERIMENT_NAME, artifact_location=(store_dir / "artifacts").as_uri()
        )
    register_small_model(uri, seed=seed, n_train=n_train)
    return uri
