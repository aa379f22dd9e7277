"""A person in a real browser: the page waits for serving, classifies an essay, takes feedback.

Real everything: Debian's chromium driven by Playwright, ``streamlit run frontend/app.py``,
``python -m model_serving`` with a champion registered in a real MLflow server (S3 artifacts,
MariaDB metadata) and its prediction log in MariaDB. The feedback click must end up as a row of
serving's ``feedback`` table. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

from tests.conftest import service_or_skip
from tests.e2e.frontend import browser
from tests.e2e.frontend.servers import start_frontend
from tests.support.model_fixtures import register_small_model, sample
from tests.support.servers import ServerProcess, free_port, wait_until
from tests.support.serving_servers import start_serving


@pytest.fixture
def stopper() -> Iterator[list[ServerProcess]]:
    """Servers started by the test, stopped at the end whatever happens."""
    started: list[ServerProcess] = []
    yield started
    for server in reversed(started):
        server.stop()


def test_person_classifies_an_essay_and_feedback_is_stored(
    mlflow_env: dict[str, str],
    mariadb_url: str,
    server_logs: Path,
    page: browser.Page,
    stopper: list[ServerProcess],
) -> None:
    serving_port = free_port()
    serving_url = f"http://127.0.0.1:{serving_port}"

    # 1. The page comes up before serving does and says so plainly.
    frontend = service_or_skip(
        lambda: start_frontend(free_port(), serving_url=serving_url, log_dir=server_logs)
    )
    stopper.append(frontend)
    page.goto(frontend.url)
    page.get_by_test_id("stSidebar").get_by_text("is not reachable").wait_for()
    page.get_by_role("button", name="Classify", exact=True).wait_for()
    browser.screenshot(page, "frontend-serving-down")
    browser.assert_no_developer_chrome(page)

    # 2. A champion appears and serving starts: the page recovers by itself (no reload).
    version = register_small_model(mlflow_env["MLFLOW_TRACKING_URI"], n_train=400)
    serving_env = {
        **mlflow_env,
        "SERVING_DATABASE_URL": mariadb_url,
        "SERVING_LOG_FLUSH_INTERVAL_SECONDS": "0.2",
    }
    serving = service_or_skip(
        lambda: start_serving(serving_env, server_logs, port=serving_port, wait_ready=True)
    )
    stopper.append(serving)
    browser.wait_for_serving_ready(page, version)

    # 3. Classify a real essay (one the model was not trained on).
    essay_row = sample(40, seed=123).iloc[0]
    essay, truth = str(essay_row["text"]), "ai" if int(essay_row["generated"]) else "human"
    shown = browser.classify(page, essay)
    assert set(shown) >= {"Verdict", "Probability AI", "Threshold", "Model version"}, shown
    direct = httpx.post(f"{serving_url}/v1/predict", json={"text": essay}, timeout=30).json()
    assert shown["Verdict"] == {"ai": "AI", "human": "Human"}[direct["label"]]
    assert shown["Probability AI"] == f"{direct['probability_ai']:.1%}"
    assert shown["Threshold"] == f"{direct['threshold']:.1%}"
    assert shown["Model version"] == version
    assert page.locator(".highlighted-text span").count() > 0, "no n-gram highlighted"

    # 4. Say whether it was right: serving stores it, the page confirms.
    prediction_id = browser.prediction_id(page)
    right = direct["label"] == truth
    page.get_by_role("button", name=re.compile("Right, it is" if right else "Wrong, it is")).click()
    page.get_by_text("your feedback was recorded").wait_for()
    browser.screenshot(page, "frontend-classify-feedback", full_height=2300)

    stored = _wait_for_feedback(mariadb_url, prediction_id)
    assert stored == (truth, version), f"feedback row {stored} != ({truth}, {version})"

    # 5. A text too short to judge gets no AI/Human verdict: the page says why.
    why = browser.classify_out_of_scope(page, "Too short to judge, really.")
    assert "too short" in why, why
    assert browser.visible_metrics(page)["Verdict"] == "Cannot judge"
    browser.screenshot(page, "frontend-cannot-judge", full_height=1400)

    # 6. The Model tab names the champion that answered, and has its per-domain evaluation
    # section (the table, or the note that this version has none).
    page.get_by_role("tab", name="Model").click()
    page.get_by_text("Test metrics").wait_for()
    assert browser.visible_metrics(page)["Version"] == version
    page.get_by_text("Per-domain evaluation", exact=True).wait_for()
    browser.screenshot(page, "frontend-model", full_height=1400)

    # 7. A CSV: every line comes back, the empty text with an error rather than a verdict.
    texts = [*sample(40, seed=123)["text"].iloc[1:3], ""]
    csv_text = pd.DataFrame({"id": range(len(texts)), "text": texts}).to_csv(index=False)
    summary = browser.classify_csv(page, "essays.csv", csv_text)
    assert "2 texts classified" in summary and "1 not classified" in summary, summary
    browser.screenshot(page, "frontend-batch", full_height=1400)
    browser.assert_no_developer_chrome(page)


def _wait_for_feedback(database_url: str, prediction_id: str) -> tuple[str, str]:
    """(feedback label, model version of the prediction) once serving's writer flushed them."""
    engine = sa.create_engine(database_url)
    query = sa.text(
        "SELECT f.label, p.model_version FROM feedback f "
        "JOIN predictions p ON p.id = f.prediction_id WHERE f.prediction_id = :id"
    )
    found: list[tuple[str, str]] = []

    def stored() -> bool:
        with engine.connect() as conn:
            found[:] = [tuple(row) for row in conn.execute(query, {"id": prediction_id})]
        return bool(found)

    try:
        wait_until(stored, timeout=20, what=f"feedback row for {prediction_id}")
    finally:
        engine.dispose()
    return found[0]
