"""AppTest: the model tab shows the champion and links to the other UIs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Element, Tab

from tests.unit.frontend.fake_serving import FakeServing


def _model_tab(at: AppTest) -> Tab:
    return at.tabs[2]


def _table_text(at: AppTest) -> str:
    return " ".join(table.value.to_string() for table in _model_tab(at).table)


def test_model_tab_shows_version_threshold_metrics_digest_and_loaded_at(
    page: Callable[[], AppTest],
) -> None:
    at = page().run()
    tab = _model_tab(at)

    metrics = {metric.label: metric.value for metric in tab.metric}
    assert metrics == {
        "Version": "7",
        "Alias": "champion",
        "Decision threshold": "50.0%",
    }
    text = _table_text(at)
    for expected in (
        "ai-text-detector",
        "sha256:feedface",
        "2026-11-23 08:00:00 UTC",
        "0123456789abcdef",
        "linear: coef * tfidf",
        "compiled",
    ):
        assert expected in text
    metric_table = tab.table[1].value
    assert metric_table["metric"].tolist() == ["accuracy", "f1", "roc_auc"]
    assert metric_table["value"].tolist() == pytest.approx([0.9587, 0.9612, 0.993])


def test_links_point_at_the_configured_uis(
    page: Callable[[], AppTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTEND_MLFLOW_URL", "http://mlflow.example:5000/")
    monkeypatch.setenv("FRONTEND_GRAFANA_URL", "http://grafana.example:3000")
    monkeypatch.setenv("FRONTEND_PREFECT_URL", "http://prefect.example:4200")
    at = page().run()

    links = [link for link in at.get("link_button") if isinstance(link, Element)]
    assert len(links) == len(at.get("link_button"))
    urls = {link.label.split(":")[0]: link.proto.url for link in links}
    assert urls == {
        "MLflow": "http://mlflow.example:5000/#/models/ai-text-detector/versions/7",
        "Grafana": "http://grafana.example:3000",
        "Prefect": "http://prefect.example:4200",
    }


def test_default_links_are_the_local_ports(page: Callable[[], AppTest]) -> None:
    at = page().run()

    urls = sorted(link.proto.url for link in at.get("link_button"))
    assert urls[0].startswith("http://localhost:3000")
    assert urls[1].startswith("http://localhost:4200")
    assert urls[2].startswith("http://localhost:5000/")


def test_model_tab_without_a_model_says_why(page: Callable[[], AppTest], fake: FakeServing) -> None:
    fake.state = "no_model"
    at = page().run()

    assert any("no model loaded yet" in info.value for info in _model_tab(at).info)
    assert not _model_tab(at).metric
    assert len(at.get("link_button")) == 3  # the links are useful even then
