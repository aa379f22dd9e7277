"""The embedded local mode reads the same .env as compose and listens on the published ports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scripts import local_stack
from tests.unit.compose.conftest import ENV_FILE

#: Listening on localhost in `make local`, but internal only in compose (no published port).
INTERNAL_IN_COMPOSE = {"webhook"}
#: `make local` runs one serving process on SERVING_PORT; compose publishes that port on the
#: proxy in front of the replicas.
PUBLISHED_BY = {"serving": "serving-proxy"}


def test_local_ports_are_the_ports_compose_publishes(compose: dict[str, Any]) -> None:
    plan = local_stack.port_plan(local_stack.effective_config(ENV_FILE, environ={}))
    for service, port in plan.items():
        publisher = compose["services"][PUBLISHED_BY.get(service, service)]
        published = [int(p["published"]) for p in publisher.get("ports", [])]
        if service in INTERNAL_IN_COMPOSE:
            assert published == [], f"{service}: compose must not publish it"
            continue
        assert published == [port], f"{service}: compose publishes {published}, local uses {port}"


def test_local_services_get_the_same_variable_names_as_compose(compose: dict[str, Any]) -> None:
    config = local_stack.effective_config(ENV_FILE, environ={})
    ports = local_stack.port_plan(config)
    components = local_stack.plan_services(config, ports, Path("/nonexistent"), with_prefect=True)
    for component in components:
        compose_env = compose["services"][component.name].get("environment", {})
        for name in component.env:
            if name.startswith(("SERVING_", "ORCHESTRATION_", "FRONTEND_", "REGISTRY_")):
                local_only = {"ORCHESTRATION_FIRST_BOOT_TRAIN"}
                assert name in compose_env or name in local_only, (
                    f"{component.name}: local mode sets {name}, compose does not"
                )
        for name, value in compose_env.items():
            if name in local_stack.PASSED_THROUGH:
                assert component.env.get(name) == value, f"{component.name}: {name} differs"


def test_shell_environment_overrides_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nSERVING_PORT=8000\nexport FRONTEND_PORT='8501'\n\nX=\"a=b\"\n")
    config = local_stack.effective_config(env_file, environ={"SERVING_PORT": "18000"})
    assert config == {"SERVING_PORT": "18000", "FRONTEND_PORT": "8501", "X": "a=b"}


def test_malformed_dotenv_line_names_the_line(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GOOD=1\nthis is not an assignment\n")
    with pytest.raises(local_stack.StackError, match=r"\.env:2"):
        local_stack.read_dotenv(env_file)


def test_missing_port_variable_is_a_clear_error() -> None:
    with pytest.raises(local_stack.StackError, match="SERVING_PORT"):
        local_stack.port_plan({"MLFLOW_PORT": "5000"})


def test_monitoring_config_is_rendered_for_local_ports(tmp_path: Path) -> None:
    ports = {"serving": 18000, "webhook": 18100, "alertmanager": 19093, "prometheus": 19090}
    config = {
        "ORCHESTRATION_WEBHOOK_TOKEN": "tok-123456",
        "PROMETHEUS_PASSWORD": "prom-pass-123456",
        "ALERTMANAGER_PASSWORD": "am-pass-1234567",
    }
    prometheus = local_stack.prometheus_component("prometheus", tmp_path, ports, config)
    alertmanager = local_stack.alertmanager_component("am", tmp_path, ports, config)
    prometheus_yml = (tmp_path / "prometheus" / "prometheus.yml").read_text()
    alertmanager_yml = (tmp_path / "alertmanager" / "alertmanager.yml").read_text()
    assert "127.0.0.1:18000" in prometheus_yml and "serving:8000" not in prometheus_yml
    assert "127.0.0.1:19093" in prometheus_yml
    assert "http://127.0.0.1:18100/v1/alerts" in alertmanager_yml
    token_file = tmp_path / "alertmanager" / "webhook_token"
    assert str(token_file) in alertmanager_yml and "tok-123456" not in alertmanager_yml
    assert token_file.read_text() == "tok-123456"
    assert oct(token_file.stat().st_mode)[-3:] == "600"
    assert "--web.listen-address=127.0.0.1:19090" in prometheus.args
    assert "--web.listen-address=127.0.0.1:19093" in alertmanager.args


def test_local_prometheus_and_alertmanager_ask_for_a_login(tmp_path: Path) -> None:
    """As in compose: a web config with a bcrypt hash made now, passwords only in 0600 files."""
    import bcrypt
    import yaml

    ports = {"serving": 18000, "webhook": 18100, "alertmanager": 19093, "prometheus": 19090}
    config = {
        "ORCHESTRATION_WEBHOOK_TOKEN": "tok-123456",
        "PROMETHEUS_PASSWORD": "prom-pass-123456",
        "ALERTMANAGER_PASSWORD": "am-pass-1234567",
    }
    components = {
        "prometheus": local_stack.prometheus_component("prometheus", tmp_path, ports, config),
        "alertmanager": local_stack.alertmanager_component("am", tmp_path, ports, config),
    }
    for name, component in components.items():
        web_config = tmp_path / name / "web.yml"
        assert f"--web.config.file={web_config}" in component.args
        assert "--web.enable-lifecycle" not in component.args
        hashed = yaml.safe_load(web_config.read_text())["basic_auth_users"]["admin"]
        password = config[f"{name.upper()}_PASSWORD"]
        assert bcrypt.checkpw(password.encode(), hashed.encode())
        assert password not in web_config.read_text()
        assert callable(component.health)
    rendered = yaml.safe_load((tmp_path / "prometheus" / "prometheus.yml").read_text())
    files = {
        rendered["alerting"]["alertmanagers"][0]["basic_auth"]["password_file"],
        *(
            job["basic_auth"]["password_file"]
            for job in rendered["scrape_configs"]
            if "basic_auth" in job
        ),
    }
    for path in files:
        assert oct(Path(path).stat().st_mode)[-3:] == "600"
    assert {Path(f).read_text() for f in files} == {"prom-pass-123456", "am-pass-1234567"}
    text = (tmp_path / "prometheus" / "prometheus.yml").read_text()
    assert "prom-pass-123456" not in text and "am-pass-1234567" not in text


def test_missing_monitoring_password_is_a_clear_error(tmp_path: Path) -> None:
    ports = {"serving": 18000, "webhook": 18100, "alertmanager": 19093, "prometheus": 19090}
    with pytest.raises(local_stack.StackError, match="PROMETHEUS_PASSWORD"):
        local_stack.prometheus_component(
            "prometheus", tmp_path, ports, {"ALERTMANAGER_PASSWORD": "x" * 16}
        )


def test_missing_webhook_token_is_a_clear_error(tmp_path: Path) -> None:
    """Alertmanager would post alerts with an empty token, which the webhook refuses."""
    ports = {"serving": 18000, "webhook": 18100, "alertmanager": 19093, "prometheus": 19090}
    config = {"PROMETHEUS_PASSWORD": "p" * 16, "ALERTMANAGER_PASSWORD": "a" * 16}
    with pytest.raises(local_stack.StackError, match="ORCHESTRATION_WEBHOOK_TOKEN"):
        local_stack.alertmanager_component("am", tmp_path, ports, config)
