"""Grafana provisioning and dashboards: well-formed JSON, fixed datasource, known metrics only."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from model_monitoring import dashboards
from tests.support.servers import REPO_ROOT
from tests.unit.monitoring.metric_names import (
    all_queries,
    contract_metrics,
    exported_metrics,
    load,
    referenced_metrics,
    referenced_recordings,
    rule_groups,
)

GRAFANA_DIR = REPO_ROOT / "model_monitoring" / "grafana"
PANEL_TYPES = {"timeseries", "stat", "table", "heatmap", "gauge", "bargauge", "text"}


def recorded_names() -> set[str]:
    return {
        rule["record"] for group in rule_groups() for rule in group["rules"] if "record" in rule
    }


@pytest.mark.parametrize("name", sorted(dashboards.DASHBOARDS))
def test_committed_json_is_what_the_builder_writes(name: str) -> None:
    committed = (dashboards.DASHBOARDS_DIR / name).read_text()
    assert committed == dashboards.render(name), "run: python -m model_monitoring.dashboards"


@pytest.mark.parametrize("name", sorted(dashboards.DASHBOARDS))
def test_dashboard_is_well_formed_for_grafana(name: str) -> None:
    board = load(name)
    assert board["uid"] and len(board["uid"]) <= 40
    assert board["title"] and board["editable"] is False
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert board["time"]["from"].startswith("now-")
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    occupied: set[tuple[int, int]] = set()
    for item in board["panels"]:
        assert item["type"] in PANEL_TYPES, item["title"]
        assert item["title"]
        assert item["datasource"] == {"type": "prometheus", "uid": dashboards.DATASOURCE_UID}
        grid = item["gridPos"]
        assert all(isinstance(grid[k], int) and grid[k] >= 0 for k in "xywh")
        assert grid["w"] >= 1 and grid["h"] >= 1 and grid["x"] + grid["w"] <= 24
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"panel {item['title']!r} overlaps another"
        occupied |= cells
        refs = [t["refId"] for t in item["targets"]]
        assert refs and len(refs) == len(set(refs))
        for query in item["targets"]:
            assert query["expr"].strip()
            assert query["datasource"]["uid"] == dashboards.DATASOURCE_UID
        steps = item["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps[0]["value"] is None


def test_required_panels_exist() -> None:
    serving = " ".join(all_queries(load("serving.json")))
    for metric in (
        "detector_http_requests_total",
        "detector_http_request_duration_seconds_bucket",
        "detector_http_requests_in_flight",
        "detector_model_info",
        "detector_model_reloads_total",
        "detector_prediction_log_queue_depth",
        "detector_prediction_log_dropped_total",
    ):
        assert metric in serving, metric
    health = load("model-health.json")
    queries = " ".join(all_queries(health))
    for signal in dashboards.DRIFT_SIGNALS:
        assert f'detector_drift_score{{signal="{signal}"}}' in queries
        assert f'detector:drift_score:alert_threshold{{signal="{signal}"}}' in queries
    for needle in (
        'detector_predictions_total{label="ai"}',
        "detector_prediction_probability_bucket",
        "detector_drift_combined_score",
        "detector_drift_domain_auc",
        "detector_feedback_accuracy",
        "ALERTS{",
        "detector_out_of_scope_total[",
        "sum by (reason) (rate(detector_out_of_scope_total",
        "detector:out_of_scope_share:alert_threshold",
    ):
        assert needle in queries, needle
    assert any(p["type"] == "heatmap" for p in health["panels"])


@pytest.mark.parametrize("name", sorted(dashboards.DASHBOARDS))
def test_panels_name_only_exported_metrics(name: str) -> None:
    exported, contract, recorded = exported_metrics(), contract_metrics(), recorded_names()
    for expr in all_queries(load(name)):
        assert referenced_metrics(expr) <= exported, expr
        assert referenced_metrics(expr) <= contract, expr
        assert referenced_recordings(expr) <= recorded, expr


def test_provisioning_points_at_the_dashboards_with_the_fixed_uid() -> None:
    datasources = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    assert [d["uid"] for d in datasources] == [dashboards.DATASOURCE_UID]
    assert datasources[0]["type"] == "prometheus" and datasources[0]["editable"] is False
    providers = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "dashboards" / "detector.yml").read_text()
    )["providers"]
    assert providers[0]["allowUiUpdates"] is False and providers[0]["disableDeletion"] is True
    compose = (REPO_ROOT / "docker-compose.yml").read_text()
    mount = f"./model_monitoring/grafana/dashboards:{providers[0]['options']['path']}"
    assert mount in compose


def test_every_dashboard_file_is_built() -> None:
    files = {p.name for p in Path(dashboards.DASHBOARDS_DIR).glob("*.json")}
    assert files == set(dashboards.DASHBOARDS)
