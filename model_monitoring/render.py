"""Render Prometheus and Alertmanager configuration for processes run outside compose.

``render_prometheus`` / ``render_alertmanager`` take the committed files, change only targets
(fixed ``static_configs`` in place of compose's DNS discovery of the serving replicas),
intervals, rule-file paths (absolute, pointing at the committed rules), the webhook URL and the
token file, and write the result. The rules themselves are never copied or changed, so what the
tests exercise is what compose runs.

CLI: ``python -m model_monitoring.render OUTPUT_DIR`` (values from ``MONITORING_*``) writes
``OUTPUT_DIR/prometheus.yml`` and ``OUTPUT_DIR/alertmanager.yml``. Needs PyYAML (installed with
the dev group; the compose images use the committed files and do not need it).
"""

from __future__ import annotations

import argparse
import copy
import logging
from pathlib import Path
from typing import Any

from model_monitoring.settings import MonitoringSettings
from platform_processes.logging_config import configure_logging

logger = logging.getLogger(__name__)

MONITORING_DIR = Path(__file__).resolve().parent
PROMETHEUS_DIR = MONITORING_DIR / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTMANAGER_CONFIG = MONITORING_DIR / "alertmanager" / "alertmanager.yml"
RULES_DIR = PROMETHEUS_DIR / "rules"

_JOB_TARGETS = {
    "serving": "serving_targets",
    "orchestration-webhook": "webhook_targets",
    "alertmanager": "alertmanager_targets",
}


def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def _dump_yaml(data: dict[str, Any], path: Path) -> None:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def prometheus_config(settings: MonitoringSettings) -> dict[str, Any]:
    """The committed Prometheus configuration with this deployment's targets and intervals."""
    config = copy.deepcopy(_load_yaml(PROMETHEUS_CONFIG))
    config["global"]["scrape_interval"] = settings.scrape_interval
    config["global"]["evaluation_interval"] = settings.evaluation_interval
    config["global"]["scrape_timeout"] = min(settings.scrape_interval, "10s", key=_duration_seconds)
    config["rule_files"] = [str(PROMETHEUS_DIR / pattern) for pattern in config["rule_files"]]
    for alertmanagers in config["alerting"]["alertmanagers"]:
        alertmanagers["static_configs"] = [{"targets": list(settings.alertmanager_targets)}]
        _set_password_file(alertmanagers, settings.alertmanager_password_file)
    password_files = {
        "alertmanager": settings.alertmanager_password_file,
        "prometheus": settings.prometheus_password_file,
    }
    for job in config["scrape_configs"]:
        name = job["job_name"]
        if name == "prometheus":
            targets = [settings.prometheus_target]
        else:
            targets = list(getattr(settings, _JOB_TARGETS[name]))
        # Outside compose there is no service DNS: fixed targets replace any discovery.
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": targets}]
        if name in password_files:
            _set_password_file(job, password_files[name])
    return config


def _set_password_file(section: dict[str, Any], password_file: str | None) -> None:
    """Point a ``basic_auth`` block at ``password_file``; none: drop the block (no login)."""
    if password_file is None:
        section.pop("basic_auth", None)
    else:
        section["basic_auth"]["password_file"] = password_file


def alertmanager_config(settings: MonitoringSettings) -> dict[str, Any]:
    """The committed Alertmanager configuration pointing at this deployment's webhook."""
    config = copy.deepcopy(_load_yaml(ALERTMANAGER_CONFIG))
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = settings.webhook_url
            if settings.webhook_token_file:
                webhook["http_config"]["authorization"]["credentials_file"] = (
                    settings.webhook_token_file
                )
            else:
                webhook.pop("http_config", None)
    return config


def render_prometheus(settings: MonitoringSettings, output: Path) -> Path:
    """Write the rendered Prometheus configuration to ``output`` (a file path)."""
    _dump_yaml(prometheus_config(settings), output)
    return output


def render_alertmanager(settings: MonitoringSettings, output: Path) -> Path:
    """Write the rendered Alertmanager configuration to ``output`` (a file path)."""
    _dump_yaml(alertmanager_config(settings), output)
    return output


def _duration_seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if value.endswith(unit) and value[: -len(unit)].isdigit():
            return int(value[: -len(unit)]) * units[unit]
    raise ValueError(f"not a duration: {value!r}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", type=Path, help="folder for prometheus.yml/alertmanager.yml")
    args = parser.parse_args(argv)
    configure_logging()
    settings = MonitoringSettings()
    for path in (
        render_prometheus(settings, args.output_dir / "prometheus.yml"),
        render_alertmanager(settings, args.output_dir / "alertmanager.yml"),
    ):
        logger.info("wrote %s", path)


if __name__ == "__main__":
    main()
