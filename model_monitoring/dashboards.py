"""The Grafana dashboards "Serving" and "Model health", built as data and written as JSON files.

The JSON files under ``grafana/dashboards/`` are what Grafana loads (file provisioning, not
editable in the UI); this module is how they are written, so that panels share one style and the
drift thresholds come from the same recording rules as the alerts. After changing it run
``python -m model_monitoring.dashboards``; a unit test fails when the committed JSON is stale.

Every panel queries the datasource with the fixed uid ``DATASOURCE_UID`` (provisioned in
``grafana/provisioning/datasources/prometheus.yml``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATASOURCE_UID = "detector-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
DASHBOARDS_DIR = Path(__file__).resolve().parent / "grafana" / "dashboards"
SCHEMA_VERSION = 39
DRIFT_SIGNALS = ("length_chars", "oov_rate", "non_letter_share", "probability")
SIGNAL_TITLES = {
    "length_chars": "Text length",
    "oov_rate": "Out-of-vocabulary rate",
    "non_letter_share": "Non-letter character share",
    "probability": "Predicted probability",
}
PREDICT_ROUTES = '"/v1/predict|/invocations"'


# Label-filtered numerators use `(... or vector(0))`: no 5xx yet means a ratio of 0, not "No data".


def target(expr: str, legend: str = "", ref: str = "A", **extra: Any) -> dict[str, Any]:
    return {"datasource": DATASOURCE, "refId": ref, "expr": expr, "legendFormat": legend, **extra}


def targets(*items: tuple[str, str]) -> list[dict[str, Any]]:
    return [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(items)]


def panel(
    title: str,
    panel_targets: list[dict[str, Any]],
    grid: tuple[int, int, int, int],
    *,
    kind: str = "timeseries",
    unit: str = "short",
    description: str = "",
    thresholds: list[tuple[float | None, str]] | None = None,
    threshold_line: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    options: dict[str, Any] | None = None,
    custom: dict[str, Any] | None = None,
) -> dict[str, Any]:
    x, y, w, h = grid
    steps = [{"color": color, "value": value} for value, color in thresholds or [(None, "green")]]
    defaults: dict[str, Any] = {
        "unit": unit,
        "thresholds": {"mode": "absolute", "steps": steps},
        "color": {"mode": "palette-classic" if kind == "timeseries" else "thresholds"},
    }
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    if kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": False,
            "thresholdsStyle": {"mode": "line+area" if threshold_line else "off"},
            **(custom or {}),
        }
    elif custom:
        defaults["custom"] = custom
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": panel_targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {},
    }


def dashboard(uid: str, title: str, panels: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    for number, item in enumerate(panels, start=1):
        item["id"] = number
    return {
        "uid": uid,
        "title": title,
        "tags": ["ai-text-detector"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": extra.pop("annotations", [])},
        "links": [],
        "panels": panels,
        **extra,
    }


def serving_dashboard() -> dict[str, Any]:
    latency = [
        (
            f"histogram_quantile({q}, sum by (le) (rate("
            f"detector_http_request_duration_seconds_bucket{{route=~{PREDICT_ROUTES}}}"
            "[$__rate_interval])))",
            f"p{int(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    ]
    panels = [
        panel(
            "Requests per second by route",
            targets(
                (
                    "sum by (route) (rate(detector_http_requests_total[$__rate_interval]))",
                    "{{route}}",
                )
            ),
            (0, 0, 12, 8),
            unit="reqps",
        ),
        panel(
            "Error ratio (5xx and 4xx)",
            targets(
                (
                    '(sum(rate(detector_http_requests_total{status=~"5.."}[$__rate_interval]))'
                    " or vector(0)) / sum(rate(detector_http_requests_total[$__rate_interval]))",
                    "5xx",
                ),
                (
                    '(sum(rate(detector_http_requests_total{status=~"4.."}[$__rate_interval]))'
                    " or vector(0)) / sum(rate(detector_http_requests_total[$__rate_interval]))",
                    "4xx",
                ),
            ),
            (12, 0, 12, 8),
            unit="percentunit",
            minimum=0,
            thresholds=[(None, "green"), (0.05, "red")],
            threshold_line=True,
            description="HighErrorRate fires above 5% of 5xx for 5 minutes.",
        ),
        panel(
            "Prediction latency p50 / p95 / p99 (/v1/predict, /invocations)",
            targets(*latency),
            (0, 8, 12, 8),
            unit="s",
            thresholds=[(None, "green"), (0.5, "red")],
            threshold_line=True,
            description="HighLatencyP99 fires when p99 stays above 500 ms for 5 minutes.",
        ),
        panel(
            "Requests in flight",
            targets(("sum(detector_http_requests_in_flight)", "in flight")),
            (12, 8, 6, 8),
        ),
        panel(
            "Texts per model call (batch size p50 / p95)",
            targets(
                (
                    "histogram_quantile(0.5, sum by (le) "
                    "(rate(detector_batch_size_bucket[$__rate_interval])))",
                    "p50",
                ),
                (
                    "histogram_quantile(0.95, sum by (le) "
                    "(rate(detector_batch_size_bucket[$__rate_interval])))",
                    "p95",
                ),
            ),
            (18, 8, 6, 8),
        ),
        panel(
            "Model served",
            targets(
                (
                    "max by (instance, version) (detector_model_info) == 1",
                    "{{instance}}: v{{version}}",
                ),
            ),
            (0, 16, 8, 6),
            kind="stat",
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "textMode": "name",
                "colorMode": "background",
            },
            description=(
                "The registered model version each serving replica answers with (one per "
                "replica; they converge within one poll interval of an alias move)."
            ),
        ),
        panel(
            "Model loaded",
            targets(("min(detector_model_loaded)", "loaded")),
            (8, 16, 4, 6),
            description="0 while any replica has no model (the proxy skips it: /readyz 503).",
            kind="stat",
            thresholds=[(None, "red"), (1, "green")],
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
        ),
        panel(
            "Model reloads",
            targets(
                (
                    "sum by (result) (increase(detector_model_reloads_total[$__interval]))",
                    "{{result}}",
                )
            ),
            (12, 16, 12, 6),
            custom={"drawStyle": "bars", "fillOpacity": 60},
            description="success = swapped to a new version; refused = failed its checks.",
        ),
        panel(
            "Prediction log queue depth",
            targets(("sum(detector_prediction_log_queue_depth)", "queued rows")),
            (0, 22, 8, 7),
        ),
        panel(
            "Prediction log writes and drops per second",
            targets(
                ("sum(rate(detector_prediction_log_written_total[$__rate_interval]))", "written"),
                ("sum(rate(detector_prediction_log_dropped_total[$__rate_interval]))", "dropped"),
            ),
            (8, 22, 8, 7),
            unit="short",
        ),
        panel(
            "Input length (p50 / p95 characters)",
            targets(
                (
                    "histogram_quantile(0.5, sum by (le) "
                    "(rate(detector_input_length_chars_bucket[$__rate_interval])))",
                    "p50",
                ),
                (
                    "histogram_quantile(0.95, sum by (le) "
                    "(rate(detector_input_length_chars_bucket[$__rate_interval])))",
                    "p95",
                ),
            ),
            (16, 22, 8, 7),
        ),
        panel(
            "Serving replicas answering",
            targets(
                ('count(up{job="serving"} == 1) or vector(0)', "answering"),
                ('count(up{job="serving"}) or vector(0)', "found by DNS"),
            ),
            (0, 29, 6, 7),
            kind="stat",
            thresholds=[(None, "red"), (1, "green")],
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
            description=(
                "Replicas Prometheus finds on the service's DNS name and scrapes. None answering "
                "fires ServingDown; one down of several, ServingReplicaDown."
            ),
        ),
        panel(
            "Requests per second by replica",
            targets(
                (
                    "sum by (instance) (rate(detector_http_requests_total[$__rate_interval]))",
                    "{{instance}}",
                )
            ),
            (6, 29, 18, 7),
            unit="reqps",
            description="How the proxy spreads the load (least connections, /readyz checked).",
        ),
    ]
    reloads = {
        "name": "Model reloads",
        "datasource": DATASOURCE,
        "enable": True,
        "iconColor": "orange",
        "expr": 'sum(increase(detector_model_reloads_total{result="success"}[1m])) > 0',
        "step": "60s",
        "titleFormat": "model reloaded",
    }
    return dashboard("detector-serving", "Serving", panels, annotations=[reloads])


def model_health_dashboard() -> dict[str, Any]:
    panels = [
        panel(
            "Predicted-AI share",
            targets(
                (
                    '(sum(rate(detector_predictions_total{label="ai"}[$__rate_interval]))'
                    " or vector(0)) / sum(rate(detector_predictions_total[$__rate_interval]))",
                    "share predicted AI",
                )
            ),
            (0, 0, 12, 8),
            unit="percentunit",
            minimum=0,
            maximum=1,
        ),
        panel(
            "Predicted probability (heatmap)",
            [
                target(
                    "sum by (le) (increase(detector_prediction_probability_bucket[$__interval]))",
                    "{{le}}",
                    format="heatmap",
                )
            ],
            (12, 0, 12, 8),
            kind="heatmap",
            options={
                "calculate": False,
                "yAxis": {"unit": "short"},
                "cellGap": 1,
                "color": {"mode": "scheme", "scheme": "Oranges"},
            },
        ),
    ]
    for index, signal in enumerate(DRIFT_SIGNALS):
        panels.append(
            panel(
                f"Drift: {SIGNAL_TITLES[signal]}",
                targets(
                    (f'max(detector_drift_score{{signal="{signal}"}})', "worst replica"),
                    (
                        f'max(detector:drift_score:alert_threshold{{signal="{signal}"}})',
                        "alert threshold",
                    ),
                    (
                        f'max by (instance) (detector_drift_score{{signal="{signal}"}})',
                        "{{instance}}",
                    ),
                ),
                (6 * index, 8, 6, 7),
                minimum=0,
                maximum=1,
                description=(
                    "Jensen-Shannon distance between the live window and the reference profile, "
                    "per serving replica (each scores the traffic it answers) and at the worst "
                    "one, which the alert uses; the dashed series is the alert threshold "
                    "(recording rule)."
                ),
            )
        )
    panels += [
        panel(
            "Combined drift score",
            targets(
                ("max(detector_drift_combined_score)", "worst replica"),
                ("max by (instance) (detector_drift_combined_score)", "{{instance}}"),
            ),
            (0, 15, 8, 7),
            minimum=0,
            maximum=1,
        ),
        panel(
            "Drift window",
            targets(
                ("sum(detector_drift_window_size)", "texts in window"),
                ("max(detector_drift_near_threshold_share)", "share near threshold"),
            ),
            (8, 15, 8, 7),
            description="Near-threshold share: predictions within 0.1 of the decision threshold.",
        ),
        panel(
            "Domain-classifier AUC (periodic drift_check)",
            targets(
                ("max(detector_drift_domain_auc)", "ROC-AUC"),
                ("max(detector:drift_domain_auc:alert_threshold)", "alert threshold"),
            ),
            (16, 15, 8, 7),
            minimum=0.4,
            maximum=1,
        ),
        panel(
            "Feedback accuracy",
            targets(
                ("min(detector_feedback_accuracy)", "accuracy"),
                ("max(detector:feedback_accuracy:alert_threshold)", "alert threshold"),
            ),
            (0, 22, 8, 7),
            unit="percentunit",
            minimum=0,
            maximum=1,
        ),
        panel(
            "Feedback received",
            targets(
                (
                    "sum by (outcome) (rate(detector_feedback_total[$__rate_interval]))",
                    "{{outcome}}",
                ),
                ("sum(detector_feedback_window_size)", "window size"),
            ),
            (8, 22, 8, 7),
        ),
        panel(
            "Firing alerts",
            targets(
                (
                    'sum by (alertname, severity) (ALERTS{alertstate="firing"})',
                    "{{alertname}} ({{severity}})",
                )
            ),
            (16, 22, 8, 7),
            kind="table",
            options={"showHeader": True},
            custom={"align": "auto"},
        ),
        panel(
            "Out-of-scope share (the model cannot judge the text)",
            targets(
                (
                    '(sum(rate(detector_out_of_scope_total{reason!="low_confidence"}'
                    "[$__rate_interval])) or vector(0))"
                    " / sum(rate(detector_predictions_total[$__rate_interval]))",
                    "scope checks (the drift signal)",
                ),
                (
                    "sum by (reason) (rate(detector_out_of_scope_total[$__rate_interval]))"
                    " / on () group_left sum(rate(detector_predictions_total[$__rate_interval]))",
                    "{{reason}}",
                ),
                (
                    "max(detector:out_of_scope_share:alert_threshold)",
                    "drift alert threshold (5 min share)",
                ),
            ),
            (0, 29, 24, 7),
            unit="percentunit",
            minimum=0,
            maximum=1,
            description=(
                "Share of predictions answered 'uncertain': too short, not English, or unlike "
                "the training data (scope checks, model_monitoring.scope), and per reason also "
                "low_confidence (a score too close to the threshold to call). The scope checks' "
                "share over 5 minutes feeds TextDriftDetected (signal out_of_scope) at the "
                "dashed threshold."
            ),
        ),
    ]
    # The threshold series are drawn dashed; everything else solid.
    for item in panels:
        for ref_target in item["targets"]:
            if "alert_threshold" in ref_target["expr"]:
                item["fieldConfig"]["overrides"].append(
                    {
                        "matcher": {"id": "byFrameRefID", "options": ref_target["refId"]},
                        "properties": [
                            {
                                "id": "custom.lineStyle",
                                "value": {"fill": "dash", "dash": [10, 10]},
                            },
                            {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}},
                        ],
                    }
                )
    return dashboard("detector-model-health", "Model health", panels)


DASHBOARDS = {
    "serving.json": serving_dashboard,
    "model-health.json": model_health_dashboard,
}


def render(name: str) -> str:
    """The JSON text of dashboard file ``name``."""
    return json.dumps(DASHBOARDS[name](), indent=2) + "\n"


def main() -> None:
    DASHBOARDS_DIR.mkdir(parents=True, exist_ok=True)
    for name in DASHBOARDS:
        (DASHBOARDS_DIR / name).write_text(render(name))


if __name__ == "__main__":
    main()
