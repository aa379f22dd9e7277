"""Unit tests of the domain-classifier drift check on real essays and off-domain texts."""

from __future__ import annotations

import pytest

from model_monitoring.domain_classifier import (
    DomainDriftReport,
    auc_threshold,
    chance_auc_sd,
    run_domain_drift,
)
from tests.data.off_domain import off_domain_texts
from tests.support.model_fixtures import sample


@pytest.fixture(scope="module")
def essays() -> list[str]:
    return sample(400, seed=11)["text"].tolist()


def test_same_distribution_is_not_drift(essays: list[str]) -> None:
    report = run_domain_drift(essays[:100], essays[100:200], seed=0)
    assert not report.drifted, report.to_markdown()
    assert report.auc < report.threshold
    assert 0.3 < report.auc < 0.7


def test_different_genre_is_drift_with_its_words(essays: list[str]) -> None:
    recent = list(off_domain_texts())[:100]
    report = run_domain_drift(essays[:100], recent, seed=0, n_permutations=2)
    assert report.drifted and report.auc > 0.95
    assert report.p_value == pytest.approx(1 / 3)  # best possible with 2 permutations
    assert report.recent_terms and report.reference_terms
    assert all(t.weight > 0 for t in report.recent_terms)
    assert all(t.weight < 0 for t in report.reference_terms)


def test_threshold_shrinks_with_sample_size_but_not_below_min_auc() -> None:
    small = auc_threshold(20, 20, alpha=0.01, min_auc=0.6)
    assert small == pytest.approx(0.5 + 2.3263 * chance_auc_sd(20, 20), abs=1e-3)
    assert small > 0.6
    assert auc_threshold(5000, 5000, alpha=0.01, min_auc=0.6) == 0.6


def test_report_round_trips_and_renders(essays: list[str]) -> None:
    report = run_domain_drift(essays[:40], list(off_domain_texts())[:40], seed=1, top_terms=5)
    again = DomainDriftReport.from_json(report.to_json())
    assert again == report
    markdown = report.to_markdown()
    assert "Verdict: drift" in markdown and report.recent_terms[0].term in markdown
    assert len(report.recent_terms) <= 5


def test_too_few_texts_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="at least 5 non-empty texts per side"):
        run_domain_drift(["a b", "c d"], ["e f"] * 10, seed=0)
    with pytest.raises(ValueError, match="at least"):
        run_domain_drift(["", "  "] * 10, ["some words here"] * 10, seed=0)
