"""Prometheus and Alertmanager configuration: promtool/amtool checks, rule unit tests, names."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from model_monitoring import render
from model_monitoring.settings import MonitoringSettings
from tests.conftest import require_services
from tests.unit.monitoring.metric_names import (
    contract_metrics,
    exported_metrics,
    referenced_metrics,
    referenced_recordings,
    rule_groups,
)

PROMETHEUS_DIR = render.PROMETHEUS_DIR
REQUIRED_ALERTS = {
    "TextDriftDetected",
    "PredictionDriftDetected",
    "FeedbackAccuracyLow",
    "HighLatencyP99",
    "HighErrorRate",
    "ModelNotLoaded",
    "ServingDown",
    "ServingReplicaDown",
}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package prometheus / prometheus-alertmanager)"
        if require_services():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def run(args: list[str], cwd: Path | None = None, *, stdout_only: bool = False) -> str:
    result = subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout if stdout_only else result.stdout + result.stderr


def alert_rules() -> list[dict]:
    return [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]


def test_promtool_check_config_committed_and_rendered(tmp_path: Path) -> None:
    promtool = tool("promtool")
    run([promtool, "check", "config", str(PROMETHEUS_DIR / "prometheus.yml")])
    rendered = render.render_prometheus(
        MonitoringSettings(scrape_interval="2s", evaluation_interval="2s"),
        tmp_path / "prometheus.yml",
    )
    output = run([promtool, "check", "config", str(rendered)])
    assert "2 rule files found" in output


def test_promtool_check_rules() -> None:
    promtool = tool("promtool")
    run([promtool, "check", "rules", *map(str, sorted((PROMETHEUS_DIR / "rules").glob("*.yml")))])


def test_promtool_rule_unit_tests_pass() -> None:
    promtool = tool("promtool")
    tests = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
    assert tests
    output = run([promtool, "test", "rules", *map(str, tests)], cwd=PROMETHEUS_DIR / "tests")
    assert "SUCCESS" in output


def test_every_alert_is_debounced_annotated_and_labelled() -> None:
    alerts = alert_rules()
    assert {rule["alert"] for rule in alerts} >= REQUIRED_ALERTS
    for rule in alerts:
        assert "for" in rule, rule["alert"]
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
        assert rule["labels"]["category"], rule["alert"]
        for key in ("summary", "description", "runbook_url"):
            assert rule["annotations"].get(key), (rule["alert"], key)


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in (PROMETHEUS_DIR / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names <= fires, f"no firing test for {names - fires}"
    assert names <= quiet, f"no quiet test for {names - quiet}"


def test_drift_alerts_route_to_the_retrain_webhook() -> None:
    for rule in alert_rules():
        category = rule["labels"]["category"]
        if rule["alert"] in {"TextDriftDetected", "PredictionDriftDetected", "FeedbackAccuracyLow"}:
            assert category in {"drift", "accuracy"}, rule["alert"]
        else:
            assert category not in {"drift", "accuracy"}, rule["alert"]


def test_rules_name_only_exported_metrics_and_defined_recordings() -> None:
    exported = exported_metrics()
    assert "detector_drift_score" in exported and "detector_http_requests_total" in exported
    recorded = {
        rule["record"] for group in rule_groups() for rule in group["rules"] if "record" in rule
    }
    for group in rule_groups():
        for rule in group["rules"]:
            expr = rule["expr"]
            missing = referenced_metrics(expr) - exported
            assert not missing, f"{rule.get('alert') or rule.get('record')}: {missing}"
            assert referenced_metrics(expr) <= contract_metrics()
            assert referenced_recordings(expr) <= recorded, expr


def test_code_exports_exactly_the_contract_metrics() -> None:
    exported = exported_metrics()
    assert exported == contract_metrics(), (
        f"exported, not in docs/CONTRACTS.md: {exported - contract_metrics()}; "
        f"in the contract, not exported: {contract_metrics() - exported}"
    )


@pytest.mark.parametrize(
    ("expr", "unknown"),
    [
        ("sum(rate(detector_http_request_total[5m]))", {"detector_http_request_total"}),
        ("detector_retrain_triggers > 0", {"detector_retrain_triggers"}),  # counter: _total
        ("max(detector_drift_scores)", {"detector_drift_scores"}),
        ("histogram_quantile(0.9, rate(detector_http_request_duration_seconds_bucket[1m]))", set()),
        ("detector:drift_score:alert_threshold and detector_drift_window_size > 0", set()),
    ],
)
def test_metric_name_check_rejects_names_the_code_does_not_export(
    expr: str, unknown: set[str]
) -> None:
    """The name checks above can fail: misspelt or unexported names are caught."""
    assert referenced_metrics(expr) - exported_metrics() == unknown


def test_alertmanager_config_checks(tmp_path: Path) -> None:
    amtool = tool("amtool")
    run([amtool, "check-config", str(render.ALERTMANAGER_CONFIG)])
    token = tmp_path / "token"
    token.write_text("a-shared-token\n")
    rendered = render.render_alertmanager(
        MonitoringSettings(
            webhook_url="http://127.0.0.1:18100/v1/alerts", webhook_token_file=str(token)
        ),
        tmp_path / "alertmanager.yml",
    )
    run([amtool, "check-config", str(rendered)])
    config = yaml.safe_load(rendered.read_text())
    webhook = config["receivers"][1]["webhook_configs"][0]
    assert webhook["url"] == "http://127.0.0.1:18100/v1/alerts"
    assert webhook["http_config"]["authorization"]["credentials_file"] == str(token)


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ("alertname=TextDriftDetected category=drift severity=warning", "retrain-webhook"),
        ("alertname=FeedbackAccuracyLow category=accuracy severity=warning", "retrain-webhook"),
        ("alertname=PredictionDriftDetected category=drift", "retrain-webhook"),
        ("alertname=HighLatencyP99 category=performance severity=warning", "default"),
        ("alertname=ServingDown category=availability severity=critical", "default"),
    ],
)
def test_alertmanager_routes(labels: str, receiver: str) -> None:
    amtool = tool("amtool")
    output = run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={render.ALERTMANAGER_CONFIG}",
            *labels.split(),
        ],
        stdout_only=True,
    )
    assert output.strip() == receiver


def test_one_replica_without_a_model_does_not_silence_the_others_alerts() -> None:
    """Inhibition is per instance: the aggregated drift/performance alerts carry none, so only
    ServingDown (no instance either) silences them, not one replica's ModelNotLoaded."""
    config = yaml.safe_load(render.ALERTMANAGER_CONFIG.read_text())
    (rule,) = config["inhibit_rules"]
    assert rule["equal"] == ["instance"]
    by_name = {r["alert"]: r for r in alert_rules()}
    assert "instance" not in by_name["ServingDown"]["expr"]  # absent(): no instance label
    for name in ("TextDriftDetected", "PredictionDriftDetected", "HighLatencyP99", "HighErrorRate"):
        expr = by_name[name]["expr"]
        assert "instance" not in expr, name
