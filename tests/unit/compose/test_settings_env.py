"""Compose passes each service the variables its settings classes read, and only those.

The settings classes (pydantic-settings, one per service) are discovered in the service packages,
so a new class or a new required field fails here until docker-compose.yml is wired for it.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from tests.unit.compose.conftest import REPO_ROOT

PACKAGES = (
    "model_registry",
    "model_serving",
    "model_monitoring",
    "model_orchestration",
    "frontend",
)

#: Settings class (module:Class) -> the compose services whose process builds it.
SERVICES_BY_SETTINGS: dict[str, tuple[str, ...]] = {
    # app-migrate: the prediction-log migrations, with SERVING_MIGRATE_DATABASE_URL.
    "model_serving.settings:ServingSettings": ("serving", "app-migrate"),
    "model_orchestration.settings:OrchestrationSettings": ("worker", "webhook"),
    # The worker runs the train/retrain flows, which read the registry settings.
    "model_registry.settings:RegistrySettings": ("worker",),
    "frontend.settings:FrontendSettings": ("frontend",),
    # Renders Prometheus/Alertmanager configs for local runs; compose mounts the committed files.
    "model_monitoring.settings:MonitoringSettings": (),
}
#: Variables a service may receive that no settings class of ours reads (read by the libraries
#: themselves: MLflow, boto3, Prefect, Streamlit), by prefix.
LIBRARY_PREFIXES = ("MLFLOW_", "AWS_", "PREFECT_", "STREAMLIT_", "GF_", "MYSQL_", "POSTGRES_")


def discovered_settings() -> dict[str, type[BaseSettings]]:
    """Every BaseSettings subclass defined in the service packages (module:Class -> class)."""
    found: dict[str, type[BaseSettings]] = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if "BaseSettings" not in path.read_text(encoding="utf-8"):
                continue
            module_name = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
            module = importlib.import_module(module_name)
            for name, obj in inspect.getmembers(module, inspect.isclass):
                if (
                    issubclass(obj, BaseSettings)
                    and obj is not BaseSettings
                    and obj.__module__ == module_name
                ):
                    found[f"{module_name}:{name}"] = obj
    return found


def env_names(settings: type[BaseSettings]) -> dict[str, bool]:
    """Environment variable name (upper case) of each field -> whether the field is required."""
    prefix = settings.model_config.get("env_prefix", "")
    names = {}
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias or field.alias
        aliases = [alias] if isinstance(alias, str) else []
        if alias is not None and not isinstance(alias, str):
            aliases = [
                choice if isinstance(choice, str) else choice.path[0]
                for choice in getattr(alias, "choices", [])
            ]
        for env_name in aliases or [f"{prefix}{field_name}"]:
            names[env_name.upper()] = field.is_required()
    return names


def test_every_settings_class_is_mapped_to_compose_services() -> None:
    discovered = discovered_settings()
    assert "model_serving.settings:ServingSettings" in discovered
    unmapped = sorted(set(discovered) - set(SERVICES_BY_SETTINGS))
    assert not unmapped, f"settings classes not wired in docker-compose.yml: {unmapped}"
    stale = sorted(set(SERVICES_BY_SETTINGS) - set(discovered))
    assert not stale, f"mapped settings classes that no longer exist: {stale}"


@pytest.mark.parametrize("class_path", sorted(SERVICES_BY_SETTINGS))
def test_required_settings_are_set_for_each_service(
    class_path: str, compose: dict[str, Any]
) -> None:
    settings = discovered_settings()[class_path]
    required = sorted(name for name, is_required in env_names(settings).items() if is_required)
    for service in SERVICES_BY_SETTINGS[class_path]:
        environment = compose["services"][service].get("environment", {})
        missing = [name for name in required if not environment.get(name)]
        assert not missing, f"{service}: {class_path} requires {missing}"


def test_services_get_only_variables_their_settings_read(compose: dict[str, Any]) -> None:
    """No typo'd or foreign-prefixed variable: extra="ignore" would silently drop it."""
    classes = discovered_settings()
    prefixes = {cls.model_config.get("env_prefix", "") for cls in classes.values()} - {""}
    readable: dict[str, set[str]] = {}
    for class_path, services in SERVICES_BY_SETTINGS.items():
        for service in services:
            readable.setdefault(service, set()).update(env_names(classes[class_path]))
    for service_name, service in compose["services"].items():
        if service_name == "secrets-check":  # reads every secret by design, no settings class
            continue
        if service_name == "monitoring-auth":  # the secrets web_auth names, no settings class
            from model_monitoring.web_auth import PASSWORD_VARIABLES, SECRET_FILES

            named = set(PASSWORD_VARIABLES.values())
            named |= {variable for files in SECRET_FILES.values() for variable in files.values()}
            assert set(service.get("environment", {})) == named
            continue
        for variable in service.get("environment", {}):
            if variable.startswith(LIBRARY_PREFIXES):
                continue
            ours = variable.startswith(tuple(p.upper() for p in prefixes))
            if ours or service_name in readable:
                assert variable in readable.get(service_name, set()), (
                    f"{service_name}: {variable} is read by none of its settings classes"
                )
