"""Which ``detector_*`` metrics the code exports, and which ones a PromQL text refers to.

Shared by the rule and dashboard tests: every metric a rule or a panel names must be defined in
the code (serving, orchestration receiver, live drift monitor) and listed in docs/CONTRACTS.md.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.servers import REPO_ROOT

METRIC_DEFINITION_FILES = (
    REPO_ROOT / "model_serving" / "metrics.py",
    REPO_ROOT / "model_orchestration" / "metrics.py",
    REPO_ROOT / "model_monitoring" / "live_drift.py",
)
CONTRACTS = REPO_ROOT / "docs" / "CONTRACTS.md"
_DEFINITION = re.compile(r"(?:Gauge|Counter|Histogram|Summary)\(\s*\"(detector_[a-z0-9_]+)\"")
_REFERENCE = re.compile(r"(?<![A-Za-z0-9_:])(detector_[a-z0-9_]+)")
_RECORDED = re.compile(r"(?<![A-Za-z0-9_])([a-z_]+:[a-z0-9_]+:[a-z0-9_]+)")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def exported_metrics() -> set[str]:
    """Names passed to prometheus_client metric constructors in the code."""
    names: set[str] = set()
    for path in METRIC_DEFINITION_FILES:
        names.update(_DEFINITION.findall(Path(path).read_text()))
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
