"""model_monitoring/README.md stays true to the rules and the code it documents."""

from __future__ import annotations

import re

from model_monitoring.render import MONITORING_DIR
from tests.unit.monitoring.metric_names import exported_metrics, rule_groups

README = (MONITORING_DIR / "README.md").read_text()


def rules() -> list[dict]:
    return [rule for group in rule_groups() for rule in group["rules"]]


def vector_value(expr: str) -> float:
    """The constant of a ``vector(x)`` threshold rule."""
    match = re.fullmatch(r"\s*vector\(([\d.]+)\)\s*", expr)
    assert match, expr
    return float(match[1])


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a markdown heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-")


def test_every_alert_runbook_link_has_its_section() -> None:
    anchors = {github_anchor(h) for h in re.findall(r"^#+ (.+)$", README, flags=re.MULTILINE)}
    alerts = [rule for rule in rules() if "alert" in rule]
    assert alerts
    for rule in alerts:
        url = rule["annotations"]["runbook_url"]
        assert url.split("#")[0].endswith("model_monitoring/README.md"), url
        assert url.split("#")[1] in anchors, f"{rule['alert']}: no README section for {url}"


def test_every_exported_metric_is_documented() -> None:
    documented = set(re.findall(r"`(detector_[a-z0-9_]+)", README))
    assert exported_metrics() <= documented, exported_metrics() - documented


def test_documented_thresholds_are_the_rule_thresholds() -> None:
    values = {
        rule["labels"]["signal"]: vector_value(rule["expr"])
        for rule in rules()
        if rule.get("record") == "detector:drift_score:alert_threshold"
    }
    assert set(values) == {"length_chars", "oov_rate", "non_letter_share", "probability"}
    (threshold,) = set(values.values())  # README documents one value for every signal
    assert f"Every drift threshold is **{threshold:g}**" in README
    (auc,) = [
        vector_value(rule["expr"])
        for rule in rules()
        if rule.get("record") == "detector:drift_domain_auc:alert_threshold"
    ]
    assert f"its alert threshold is {auc:g}" in README
