"""Which ``detector_*`` metrics the code exports, and which ones a PromQL text refers to.

Shared by the rule and dashboard tests: every metric a rule or a panel names must be exported by
the code (serving, orchestration receiver, live drift monitor) and listed in docs/CONTRACTS.md.
Also the one loader of the committed rule files and dashboards those tests (and the README and
drift-alerting tests) read.
"""

from __future__ import annotations

import json
import re

import yaml
from prometheus_client import CollectorRegistry

from model_monitoring import dashboards
from model_monitoring.render import RULES_DIR
from tests.support.servers import REPO_ROOT

CONTRACTS = REPO_ROOT / "docs" / "CONTRACTS.md"
_REFERENCE = re.compile(r"(?<![A-Za-z0-9_:])(detector_[a-z0-9_]+)")
_RECORDED = re.compile(r"(?<![A-Za-z0-9_])([a-z_]+:[a-z0-9_]+:[a-z0-9_]+)")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def rule_groups() -> list[dict]:
    """Every rule group of the committed rule files, files in name order."""
    groups = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        groups += yaml.safe_load(path.read_text())["groups"]
    return groups


def load(name: str) -> dict:
    """The committed dashboard ``name`` (a key of ``dashboards.DASHBOARDS``)."""
    return json.loads((dashboards.DASHBOARDS_DIR / name).read_text())


def all_queries(board: dict) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets, then annotations."""
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    exprs += [a["expr"] for a in board["annotations"]["list"] if "expr" in a]
    return exprs


def code_registries() -> list[CollectorRegistry]:
    """The registries the code really builds: serving's, the drift monitor's, the receiver's."""
    from model_monitoring.live_drift import drift_gauges
    from model_orchestration.metrics import create_metrics
    from model_serving.metrics import ServingMetrics

    serving = ServingMetrics().registry
    drift_gauges(serving)  # serving registers the live drift gauges on its own registry
    return [serving, create_metrics().registry]


def exported_metrics() -> set[str]:
    """``detector_*`` names the code exports, as Prometheus sees them (counters with _total).

    Read from the metric objects the code constructs, not from its source text, so a metric that
    is defined but never registered (or registered under another name) does not count.
    """
    names: set[str] = set()
    for registry in code_registries():
        for family in registry.collect():
            if family.name.startswith("detector_"):
                names.add(f"{family.name}_total" if family.type == "counter" else family.name)
    return names


def contract_metrics() -> set[str]:
    """Metric names listed in docs/CONTRACTS.md (label sets stripped)."""
    return set(_REFERENCE.findall(CONTRACTS.read_text()))


def referenced_metrics(promql: str) -> set[str]:
    """Base metric names used in a PromQL expression (histogram suffixes removed)."""
    names = set()
    for name in _REFERENCE.findall(promql):
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and not name.endswith("_total"):
                name = name[: -len(suffix)]
                break
        names.add(name)
    return names


def referenced_recordings(promql: str) -> set[str]:
    """Recording-rule names (``level:metric:operations``) used in a PromQL expression."""
    return set(_RECORDED.findall(promql))
