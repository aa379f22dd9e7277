"""Measured drift test: real serving process, real Prometheus with the project's rules.

One stack for the module (serving with a small champion, the orchestration webhook receiver,
Prometheus scraping both every 2 s). The ``drift_run`` fixture sends the traffic once, in order,
whatever tests are selected:

1. In-domain traffic (held-out corpus essays, 10 req/s, into a fresh window): no drift alert
   becomes even pending and every drift score stays below its threshold.
2. Then different-genre traffic (tests/data/off_domain_texts.jsonl, 10 req/s):
   ``TextDriftDetected`` goes pending, then fires within 2 minutes of the first off-domain request.
3. A new champion is registered and loaded: the drift window resets; then every Grafana panel's
   PromQL (Grafana variables substituted) parses and returns data.

The figures (scores reached, alert states seen, seconds to threshold/pending/firing) are printed
as ``[monitoring figures]`` lines and attached to the JUnit report (``record_property``);
model_monitoring/README.md and the threshold comments in the rule files quote them.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from model_monitoring import dashboards
from tests.conftest import service_or_skip
from tests.data.off_domain import off_domain_texts
from tests.support import servers
from tests.support.model_fixtures import corpus, register_small_model, sample
from tests.support.monitoring_servers import (
    LOGIN,
    register_local_champion,
    start_project_prometheus,
)
from tests.support.orchestration_servers import start_webhook
from tests.support.serving_servers import metric, start_serving
from tests.unit.monitoring.metric_names import (
    all_queries,
    load,
    referenced_metrics,
    rule_groups,
)

RATE_PER_SECOND = 10.0
IN_DOMAIN_SECONDS = 70.0
FIRE_DEADLINE_SECONDS = 120.0
# 2 s keeps the module short; MONITORING_IT_SCRAPE_SECONDS=15 reproduces the compose intervals
# (scrape and rule evaluation) to check the 2-minute promise there too.
SCRAPE_SECONDS = int(os.environ.get("MONITORING_IT_SCRAPE_SECONDS", "2"))
SCRAPE_INTERVAL = f"{SCRAPE_SECONDS}s"
#: What Grafana substitutes for $__rate_interval here (at least four scrapes, at least 10 s).
RATE_INTERVAL = f"{max(10, 4 * SCRAPE_SECONDS)}s"
#: How long a freshly exposed value may take to be scraped and evaluated.
SCRAPED_WITHIN = 20 + 2 * SCRAPE_SECONDS
WEBHOOK_TOKEN = "monitoring-test-token"
DRIFT_ALERTS = "TextDriftDetected|PredictionDriftDetected"
TEXT_SIGNALS = "length_chars|oov_rate|non_letter_share"
N_TRAIN = 600


@dataclass
class Stack:
    serving: servers.ServerProcess
    prometheus: servers.ServerProcess
    webhook: servers.ServerProcess
    in_domain: list[str]
    tracking_uri: str

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": promql}
        if at is not None:
            params["time"] = at
        response = httpx.get(
            f"{self.prometheus.url}/api/v1/query", params=params, auth=LOGIN, timeout=10
        )
        body = response.json()
        assert body.get("status") == "success", f"{promql!r}: {body}"
        return body["data"]["result"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, server_logs: Path) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("monitoring-it")
    uri = register_local_champion(work / "mlflow", n_train=N_TRAIN)
    started: list[servers.ServerProcess] = []
    try:
        serving = service_or_skip(
            lambda: start_serving(
                {"MLFLOW_TRACKING_URI": uri, "SERVING_POLL_INTERVAL_SECONDS": "60"},
                server_logs,
                name="monitoring-serving",
                wait_ready=True,
                timeout=120,
            )
        )
        started.append(serving)
        webhook = service_or_skip(
            lambda: start_webhook(
                {
                    "ORCHESTRATION_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
                    "ORCHESTRATION_PREDICTIONS_DATABASE_URL": f"sqlite:///{work / 'p.db'}",
                },
                server_logs,
            )
        )
        started.append(webhook)
        prometheus = service_or_skip(
            lambda: start_project_prometheus(
                work / "prometheus",
                server_logs,
                serving_targets=[serving.url.removeprefix("http://")],
                webhook_targets=[webhook.url.removeprefix("http://")],
                interval=SCRAPE_INTERVAL,
            )
        )
        started.append(prometheus)
        seen = set(sample(N_TRAIN + 200, seed=0)["text"])
        held_out = corpus()[~corpus()["text"].isin(seen)].sample(1500, random_state=7)
        stack = Stack(serving, prometheus, webhook, held_out["text"].tolist(), uri)
        servers.wait_until(
            lambda: bool(stack.query('up{job="serving"} == 1')),
            timeout=30,
            what="first serving scrape",
        )
        yield stack
    finally:
        for server in reversed(started):
            server.stop()


def send_traffic(
    stack: Stack,
    texts: list[str],
    *,
    seconds: float,
    on_tick: Callable[[float], bool] | None = None,
) -> tuple[int, float]:
    """POST texts to /v1/predict at RATE_PER_SECOND for ``seconds`` (or until ``on_tick`` says
    stop; it is called about once a second with the elapsed time). Returns (requests, elapsed)."""
    started = time.monotonic()
    sent = 0
    next_tick = 1.0
    with httpx.Client(base_url=stack.serving.url, timeout=10) as client:
        while (elapsed := time.monotonic() - started) < seconds:
            due = started + sent / RATE_PER_SECOND
            if due > time.monotonic():  # pace the load generator (not a readiness wait)
                time.sleep(due - time.monotonic())
            response = client.post("/v1/predict", json={"text": texts[sent % len(texts)]})
            assert response.status_code == 200, response.text
            sent += 1
            if on_tick is not None and elapsed >= next_tick:
                next_tick = elapsed + 1.0
                if on_tick(elapsed):
                    break
    return sent, time.monotonic() - started


def max_scores(stack: Stack, window: str, at: float) -> dict[str, float]:
    """Highest per-signal drift score Prometheus scraped over ``window`` before ``at``."""
    result = stack.query(f"max by (signal) (max_over_time(detector_drift_score[{window}]))", at)
    scores = {r["metric"]["signal"]: round(float(r["value"][1]), 4) for r in result}
    combined = stack.query(f"max(max_over_time(detector_drift_combined_score[{window}]))", at)
    if combined:
        scores["combined"] = round(float(combined[0]["value"][1]), 4)
    return scores


def thresholds(stack: Stack) -> dict[str, float]:
    result = stack.query("detector:drift_score:alert_threshold")
    return {r["metric"]["signal"]: float(r["value"][1]) for r in result}


def report(
    figures: dict[str, Any],
    name: str,
    record_property: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Attach figures to the JUnit report and print them even when output is captured."""
    record_property(name, json.dumps(figures))
    with capsys.disabled():
        print(f"\n[monitoring figures] {name}: {json.dumps(figures)}")


@dataclass
class DriftRun:
    """What the two traffic phases measured (shared by the tests, whatever their order)."""

    in_domain: dict[str, Any]
    in_domain_alerts: list[str]
    in_domain_history: list[dict[str, Any]]
    off_domain: dict[str, Any]
    off_domain_end: float


def run_in_domain(stack: Stack) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
    """Held-out essays at 10 req/s into a fresh window; every drift alert state seen."""
    alert_states: list[str] = []

    def watch(_: float) -> bool:
        alert_states.extend(
            f"{r['metric']['alertname']}:{r['metric']['alertstate']}"
            for r in stack.query(f'ALERTS{{alertname=~"{DRIFT_ALERTS}"}}')
        )
        return False

    started = time.time()
    sent, elapsed = send_traffic(stack, stack.in_domain, seconds=IN_DOMAIN_SECONDS, on_tick=watch)
    end = time.time()
    # Let Prometheus scrape and evaluate the last observations before judging.
    servers.wait_until(
        lambda: bool(
            stack.query(
                "detector:drift_window_size:sum >= 500 and "
                f"timestamp(detector:drift_window_size:sum) > {end + 2 * SCRAPE_SECONDS}"
            )
        ),
        timeout=SCRAPED_WITHIN,
        what="a full drift window scraped and evaluated",
    )
    window = f"{int(time.time() - started) + 1}s"
    judged_at = time.time()
    history = stack.query(
        f'max_over_time(ALERTS{{alertname=~"{DRIFT_ALERTS}"}}[{window}])', judged_at
    )
    figures = {
        "requests": sent,
        "seconds": round(elapsed, 1),
        "max_scores": max_scores(stack, window, judged_at),
        "thresholds": thresholds(stack),
        "drift_alerts_pending_or_firing": len(alert_states) + len(history),
    }
    return figures, alert_states, history


def run_off_domain(stack: Stack) -> tuple[dict[str, Any], float]:
    """Off-domain texts at 10 req/s until TextDriftDetected fires (or the deadline passes)."""
    marks: dict[str, float] = {}
    over_threshold = (
        f'signal:detector_drift_score:max{{signal=~"{TEXT_SIGNALS}"}}'
        " > on (signal) detector:drift_score:alert_threshold"
    )

    def watch(elapsed: float) -> bool:
        if "threshold_crossed" not in marks and stack.query(over_threshold):
            marks["threshold_crossed"] = elapsed
        states = {
            r["metric"]["alertstate"] for r in stack.query('ALERTS{alertname="TextDriftDetected"}')
        }
        if "pending" in states or "firing" in states:
            marks.setdefault("pending", elapsed)
        if "firing" in states:
            marks["firing"] = elapsed
            return True
        return False

    texts = list(off_domain_texts())
    sent, elapsed = send_traffic(stack, texts, seconds=FIRE_DEADLINE_SECONDS, on_tick=watch)
    end = time.time()
    figures = {
        "requests": sent,
        "seconds": round(elapsed, 1),
        **{f"seconds_to_{k}": round(v, 1) for k, v in sorted(marks.items())},
        "max_scores": max_scores(stack, f"{int(elapsed) + 1}s", end),
        "firing_signals": sorted(
            r["metric"]["signal"]
            for r in stack.query('ALERTS{alertname="TextDriftDetected", alertstate="firing"}')
        ),
    }
    return figures, end


@pytest.fixture(scope="module")
def drift_run(stack: Stack) -> DriftRun:
    """In-domain traffic into a fresh window, then off-domain traffic: measured once."""
    in_domain, alerts, history = run_in_domain(stack)
    off_domain, end = run_off_domain(stack)
    return DriftRun(in_domain, alerts, history, off_domain, end)


def test_in_domain_traffic_raises_no_drift_alert(
    drift_run: DriftRun,
    record_property: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    figures = drift_run.in_domain
    report(figures, "in_domain", record_property, capsys)
    assert figures["requests"] >= RATE_PER_SECOND * IN_DOMAIN_SECONDS * 0.9
    seen, limits = figures["max_scores"], figures["thresholds"]
    assert set(seen) == {*dashboards.DRIFT_SIGNALS, "combined"}
    assert set(limits) == set(dashboards.DRIFT_SIGNALS)
    assert all(score > 0 for score in seen.values()), "the drift window never filled"
    for signal, limit in limits.items():
        assert seen[signal] < limit, f"in-domain {signal} score {seen[signal]} >= {limit}"
    assert not drift_run.in_domain_alerts, f"drift alerts: {set(drift_run.in_domain_alerts)}"
    assert drift_run.in_domain_history == []
    assert figures["drift_alerts_pending_or_firing"] == 0


def test_off_domain_traffic_fires_text_drift_within_two_minutes(
    drift_run: DriftRun,
    record_property: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    figures = drift_run.off_domain
    report(figures, "off_domain", record_property, capsys)
    assert "seconds_to_firing" in figures, (
        f"TextDriftDetected did not fire within {FIRE_DEADLINE_SECONDS:.0f}s: {figures}"
    )
    assert figures["seconds_to_firing"] <= FIRE_DEADLINE_SECONDS
    # The debounce held: pending before firing, for about the rule's `for: 1m`.
    assert figures["seconds_to_firing"] - figures["seconds_to_pending"] >= 55
    assert figures["firing_signals"], figures


def window_size(stack: Stack) -> float:
    """The serving process's own drift window gauge (read from /metrics directly)."""
    value = metric(stack.serving.url, "detector_drift_window_size", default=None)
    assert value is not None, "detector_drift_window_size not exported"
    return value


def grafana_to_promql(expr: str) -> str:
    """Substitute Grafana's interval variables the way Grafana would for this scrape interval."""
    return (
        expr.replace("$__rate_interval", RATE_INTERVAL)
        .replace("$__interval", RATE_INTERVAL)
        .replace("$__range", "5m")
    )


def test_every_dashboard_query_parses_and_returns_data(stack: Stack, drift_run: DriftRun) -> None:
    from model_monitoring.domain_classifier import run_domain_drift

    report = run_domain_drift(stack.in_domain[:60], list(off_domain_texts())[:60], seed=0)
    response = httpx.post(
        f"{stack.webhook.url}/v1/drift",
        json={"auc": report.auc, "threshold": report.threshold, "drifted": report.drifted},
        headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    with httpx.Client(base_url=stack.serving.url, timeout=10) as client:
        for text in list(off_domain_texts())[:5]:
            prediction = client.post("/v1/predict", json={"text": text}).json()
            feedback = client.post(
                "/v1/feedback",
                json={"prediction_id": prediction["prediction_id"], "label": "human"},
            )
            assert feedback.status_code < 300, feedback.text
        assert client.post("/v1/predict", json={"text": ""}).status_code == 422
    servers.wait_until(
        lambda: bool(stack.query("detector_drift_domain_auc > 0")),
        timeout=SCRAPED_WITHIN,
        what="domain AUC scraped",
    )
    before_swap = time.time()
    # A new champion: serving swaps to it and the drift window starts again from empty.
    window_before = window_size(stack)
    version = register_small_model(stack.tracking_uri, seed=1, n_train=200)
    reload = httpx.post(
        f"{stack.serving.url}/admin/reload",
        headers={"Authorization": f"Bearer {stack.serving.extra['admin_token']}"},
        timeout=120,
    )
    assert reload.status_code == 200 and reload.json()["serving_version"] == version, reload.text
    assert window_before >= 500 and window_size(stack) < 10
    servers.wait_until(
        lambda: bool(stack.query(f'detector_model_info{{version="{version}"}} == 1')),
        timeout=SCRAPED_WITHIN,
        what="new model version scraped",
    )
    empty: list[str] = []
    checked = 0
    for name in dashboards.DASHBOARDS:
        board = load(name)
        queries = [(p["title"], t["expr"]) for p in board["panels"] for t in p["targets"]]
        queries += [(a["name"], a["expr"]) for a in board["annotations"]["list"]]
        for title, expr in queries:
            promql = grafana_to_promql(expr)
            assert not re.search(r"\$\w+", promql), promql
            at = before_swap  # while the drift alert fires and before the window reset
            if "reloads_total" in promql:  # reload events: after the swap, over the whole test
                promql = promql.replace(f"[{RATE_INTERVAL}]", "[10m]").replace("[1m]", "[10m]")
                at = time.time()
            if not stack.query(promql, at):
                empty.append(f"{name} / {title}: {promql}")
            checked += 1
    assert checked >= 25
    assert not empty, "queries without data:\n" + "\n".join(empty)


def test_every_metric_rules_and_dashboards_name_is_scraped(
    stack: Stack, drift_run: DriftRun
) -> None:
    """What the real processes expose, as Prometheus stored it, covers every name used."""
    exprs = [rule["expr"] for group in rule_groups() for rule in group["rules"]]
    for name in dashboards.DASHBOARDS:
        exprs += all_queries(load(name))
    named = set().union(*(referenced_metrics(e) for e in exprs))
    response = httpx.get(
        f"{stack.prometheus.url}/api/v1/label/__name__/values", auth=LOGIN, timeout=10
    )
    scraped = set(response.json()["data"])
    assert len(named) >= 15
    missing = {n for n in named if n not in scraped and f"{n}_bucket" not in scraped}
    assert not missing, f"named by rules or dashboards, never scraped: {sorted(missing)}"
