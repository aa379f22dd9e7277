"""The processes of the local stack: what each runs, with which variables, and how it is checked.

The same variable names as compose; command lines for servers outside the project's packages come
from ``platform_processes.commands`` (shared with the tests and the benchmarks). Prometheus and
Alertmanager get their configuration rendered for localhost ports by ``model_monitoring.render``
from the same files compose mounts, and ask for a login as in compose (``admin`` /
``PROMETHEUS_PASSWORD`` or ``ALERTMANAGER_PASSWORD``: web configs made at start by
``model_monitoring.web_auth``; Prometheus logs in to both with password files).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from model_orchestration import prefect_security
from platform_processes import commands
from platform_processes.commands import LOCALHOST
from platform_processes.launcher import HealthCheck, http_ok
from scripts.local_stack.config import PASSED_THROUGH, StackError, prefect_auth_string

if TYPE_CHECKING:
    from model_monitoring.settings import MonitoringSettings


@dataclass
class Component:
    """One process of the stack: how to start it and how to know it is up."""

    name: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    health: HealthCheck | None = None
    timeout: float = 120.0


def local_url(ports: Mapping[str, int], service: str) -> str:
    return f"http://{LOCALHOST}:{ports[service]}"


def mlflow_component(state: Path, ports: Mapping[str, int]) -> Component:
    """MLflow on SQLite + a local artifact folder (``.local/mlflow/``)."""
    mlflow_dir = state / "mlflow"
    (mlflow_dir / "artifacts").mkdir(parents=True, exist_ok=True)
    url = local_url(ports, "mlflow")
    return Component(
        name="mlflow",
        args=commands.mlflow_server(
            ports["mlflow"], f"sqlite:///{mlflow_dir / 'mlflow.db'}", str(mlflow_dir / "artifacts")
        ),
        env=dict(commands.MLFLOW_SERVER_ENV),
        url=url,
        health=f"{url}/health",
        timeout=180.0,
    )


def monitoring_password(config: Mapping[str, str], server: str) -> str:
    """The login password of ``prometheus`` or ``alertmanager`` from the stack's configuration."""
    from model_monitoring.web_auth import PASSWORD_VARIABLES

    variable = PASSWORD_VARIABLES[server]
    password = config.get(variable, "")
    if not password:
        raise StackError(f"{variable} is not set (.env): {server} would have no login")
    return password


def monitoring_settings(
    state: Path, ports: Mapping[str, int], config: Mapping[str, str]
) -> MonitoringSettings:
    """model_monitoring's render settings for localhost targets (the webhook token and the
    monitoring passwords go to 0600 files)."""
    from model_monitoring.settings import MonitoringSettings
    from model_monitoring.web_auth import missing_variables, write_secret_files

    missing = missing_variables(config, secret_files=True)
    if missing:
        raise StackError(
            f"not set (.env): {', '.join(missing)}: Prometheus and Alertmanager need their "
            "logins, and alerts reach the webhook with its token"
        )
    files = write_secret_files(state, config, 0o600)
    return MonitoringSettings(
        serving_targets=[f"{LOCALHOST}:{ports['serving']}"],
        webhook_targets=[f"{LOCALHOST}:{ports['webhook']}"],
        alertmanager_targets=[f"{LOCALHOST}:{ports['alertmanager']}"],
        prometheus_target=f"{LOCALHOST}:{ports['prometheus']}",
        webhook_url=f"{local_url(ports, 'webhook')}/v1/alerts",
        webhook_token_file=str(files["alertmanager"]["webhook_token"]),
        prometheus_password_file=str(files["prometheus"]["prometheus_password"]),
        alertmanager_password_file=str(files["prometheus"]["alertmanager_password"]),
    )


def _monitoring_component(
    name: str,
    command: Callable[..., list[str]],
    render: Callable[..., Path],
    binary: str,
    state: Path,
    ports: Mapping[str, int],
    config: Mapping[str, str],
) -> Component:
    """Prometheus or Alertmanager: render its config and its web config (login) under
    ``state/<name>``, then its command; the health check logs in."""
    from model_monitoring.web_auth import USERNAME, write_web_config

    rendered = render(monitoring_settings(state, ports, config), state / name / f"{name}.yml")
    password = monitoring_password(config, name)
    web_config = write_web_config(state / name / "web.yml", password)
    url = local_url(ports, name)
    return Component(
        name=name,
        args=command(binary, rendered, state / name / "data", ports[name], web_config=web_config),
        url=url,
        health=http_ok(f"{url}/-/ready", auth=(USERNAME, password)),
        timeout=60.0,
    )


def prometheus_component(
    binary: str, state: Path, ports: Mapping[str, int], config: Mapping[str, str]
) -> Component:
    from model_monitoring.render import render_prometheus

    return _monitoring_component(
        "prometheus", commands.prometheus, render_prometheus, binary, state, ports, config
    )


def alertmanager_component(
    binary: str, state: Path, ports: Mapping[str, int], config: Mapping[str, str]
) -> Component:
    from model_monitoring.render import render_alertmanager

    return _monitoring_component(
        "alertmanager", commands.alertmanager, render_alertmanager, binary, state, ports, config
    )


def plan_services(
    config: Mapping[str, str], ports: Mapping[str, int], state: Path, with_prefect: bool
) -> list[Component]:
    """Serving, frontend, webhook, (Prefect server), worker: same variable names as compose."""
    mlflow_url = local_url(ports, "mlflow")
    serving_url = local_url(ports, "serving")
    webhook_url = local_url(ports, "webhook")
    prefect_url = local_url(ports, "prefect")
    passed = {key: config[key] for key in PASSED_THROUGH if key in config}
    serving_env = {key: value for key, value in passed.items() if key.startswith("SERVING_")}
    orchestration_env = {
        key: value for key, value in passed.items() if key.startswith("ORCHESTRATION_")
    }
    # Without a Prefect server, Prefect runs flows against a local ephemeral API whose SQLite
    # database lives under PREFECT_HOME.
    prefect_env = {"PREFECT_HOME": str(state / "prefect")}
    prefect_login = ""
    if with_prefect:
        prefect_login = prefect_auth_string(config, state)
        prefect_env["PREFECT_API_URL"] = f"{prefect_url}/api"
        prefect_env |= prefect_security.client_env(prefect_login)
    components = [
        Component(
            name="serving",
            args=commands.python_module("model_serving"),
            env={
                **serving_env,
                "MLFLOW_TRACKING_URI": mlflow_url,
                "SERVING_HOST": LOCALHOST,
                "SERVING_PORT": str(ports["serving"]),
            },
            url=f"{serving_url}/docs",
            health=f"{serving_url}/readyz",
            timeout=180.0,
        ),
        Component(
            name="frontend",
            args=commands.streamlit(ports["frontend"]),
            env={
                "SERVING_URL": serving_url,
                "FRONTEND_MLFLOW_URL": mlflow_url,
                "FRONTEND_PREFECT_URL": prefect_url,
            },
            url=local_url(ports, "frontend"),
            health=f"{local_url(ports, 'frontend')}/_stcore/health",
            timeout=120.0,
        ),
        Component(
            name="webhook",
            args=commands.python_module("model_orchestration.webhook"),
            env={
                **orchestration_env,
                **prefect_env,
                "MLFLOW_TRACKING_URI": mlflow_url,
                "ORCHESTRATION_WEBHOOK_HOST": LOCALHOST,
                "ORCHESTRATION_WEBHOOK_PORT": str(ports["webhook"]),
            },
            url=f"{webhook_url}/healthz",
            health=f"{webhook_url}/healthz",
            timeout=120.0,
        ),
    ]
    if with_prefect:
        prefect_home = state / "prefect"
        prefect_home.mkdir(parents=True, exist_ok=True)
        components.append(
            Component(
                name="prefect",
                args=commands.prefect_server(ports["prefect"]),
                env={
                    "PREFECT_HOME": str(prefect_home),
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    "PREFECT_UI_API_URL": f"{prefect_url}/api",
                    **prefect_security.server_env(prefect_login, prefect_url),
                },
                url=prefect_url,
                health=f"{prefect_url}/api/health",
                timeout=180.0,
            )
        )
    components.append(
        Component(
            name="worker",
            args=commands.python_module("model_orchestration.worker"),
            env={
                **orchestration_env,
                **prefect_env,
                "MLFLOW_TRACKING_URI": mlflow_url,
                "ORCHESTRATION_WEBHOOK_URL": webhook_url,
                # make local trains the first champion itself, before the worker starts.
                "ORCHESTRATION_FIRST_BOOT_TRAIN": "false",
            },
        )
    )
    return components
