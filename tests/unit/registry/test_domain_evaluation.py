"""Per-domain evaluation, the FPR-target threshold, calibration folding, LODO and the choice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from model_registry.domain_evaluation import (
    CrossFittedScores,
    by_domain,
    by_generator,
    evaluation_document,
    fpr_threshold,
    rate_upper_bound,
    routing_by_domain,
    select_operating_thresholds,
    threshold_for_fpr,
)
from model_registry.evaluation import calibrate_linear
from model_registry.lodo import leave_one_domain_out
from model_registry.rewrite_evaluation import by_kept_wording, kept_wording

CONTRACTS = Path(__file__).resolve().parents[3] / "docs" / "CONTRACTS.md"


def test_threshold_for_fpr_keeps_the_false_positive_rate_at_or_under_target() -> None:
    rng = np.random.default_rng(0)
    human = rng.uniform(size=1000)
    for target in (0.0, 0.01, 0.05, 0.2):
        t = threshold_for_fpr(human, target)
        assert (human >= t).mean() <= target + 1e-12
        # The lowest such threshold: one step lower lets one more human text through.
        lower = np.sort(human)[::-1][int(np.floor(target * 1000))]
        assert (human >= lower).mean() > target


def test_fpr_threshold_is_the_strictest_of_overall_and_each_large_domain() -> None:
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(400), np.ones(400)].astype(int)
    p = np.r_[rng.uniform(0, 0.5, 200), rng.uniform(0, 0.9, 200), rng.uniform(0.5, 1, 400)]
    domains = np.array((["easy"] * 200 + ["hard"] * 200) * 2)
    threshold, per_domain = fpr_threshold(y, p, domains, 0.01, min_human=100)
    assert threshold == max(per_domain.values())
    assert threshold == per_domain["hard"]
    for domain in ("easy", "hard"):
        rows = (domains == domain) & (y == 0)
        assert (p[rows] >= threshold).mean() <= 0.01
    # A domain with too few human rows gets no threshold of its own.
    _, few = fpr_threshold(y, p, domains, 0.01, min_human=201)
    assert few == {}


def test_by_domain_and_by_generator_figures() -> None:
    y = np.array([0, 0, 1, 1, 0, 1, 1])
    p = np.array([0.1, 0.8, 0.9, 0.4, 0.2, 0.7, 0.95])
    d = np.array(["a", "a", "a", "a", "b", "b", "b"])
    g = np.array(["human", "human", "x", "y", "human", "x", "y"])
    table = by_domain(y, p, d, 0.5)
    assert table["a"]["n_human"] == 2 and table["a"]["n_ai"] == 2
    assert table["a"]["fpr_human"] == 0.5 and table["a"]["tpr_ai"] == 0.5
    assert table["b"]["fpr_human"] == 0.0 and table["b"]["tpr_ai"] == 1.0
    assert table["a"]["brier"] == pytest.approx(np.mean((p[:4] - y[:4]) ** 2), abs=1e-6)
    generators = by_generator(y, p, d, g, 0.5)
    assert set(generators) == {"x", "y"}
    assert generators["y"]["n_ai"] == 2 and generators["y"]["tpr_ai"] == 0.5
    assert set(generators["x"]) == {"n_ai", "tpr_ai", "f1", "roc_auc"}


def test_document_has_exactly_the_contract_keys() -> None:
    example = CONTRACTS.read_text().split("`evaluation/by_domain.json`:", 1)[1]
    example = example.split("```json", 1)[1].split("```", 1)[0]
    expected = json.loads(example)
    y = np.array([0, 1, 0, 1])
    p = np.array([0.2, 0.8, 0.3, 0.6])
    d = np.array(["news"] * 4)
    doc = evaluation_document(
        threshold=0.5,
        fpr_target=0.01,
        domains=by_domain(y, p, d, 0.5, human_below=0.25),
        generators=by_generator(y, p, d, np.array(["human", "g", "human", "g"]), 0.5),
        leave_one_domain_out={
            "domains": {"news": {"roc_auc": 0.9, "f1": 0.8, "fpr_human": 0.0}},
            "mean_roc_auc": 0.9,
            "worst_roc_auc": 0.9,
            "worst_domain": "news",
        },
        operating_thresholds=select_operating_thresholds(
            y,
            p,
            d,
            0.01,
            min_human=1,
            ai_miss_target=0.02,
            cross_fitted=CrossFittedScores(y, p, d, list(d), folds=5),
        ),
        routing=routing_by_domain(d, ["news", "news", None, "wikipedia"], ["news"] * 4),
        kept_wording=by_kept_wording(
            y, p, 0.5, 0.25, kept_wording(["a b c", "a b c x y z", "e f", "g h"], y, [1, 1, 2, 2])
        ),
    )
    assert set(doc) == set(expected)
    assert set(doc["operating_thresholds"]) == set(expected["operating_thresholds"])
    assert set(doc["operating_thresholds"]["domains"]["news"]) == set(
        expected["operating_thresholds"]["domains"]["news"]
    )
    assert set(doc["operating_thresholds"]["global"]) == set(
        expected["operating_thresholds"]["global"]
    )
    assert set(doc["routing"]["news"]) == set(expected["routing"]["news"])
    assert set(doc["kept_wording"]["30_to_50pct"]) == set(expected["kept_wording"]["30_to_50pct"])
    assert set(doc["domains"]["news"]) == set(expected["domains"]["news"])
    assert set(doc["generators"]["g"]) == set(expected["generators"]["gpt-4o"])
    lodo = doc["leave_one_domain_out"]
    assert set(lodo) == set(expected["leave_one_domain_out"])
    assert set(lodo["domains"]["news"]) == set(expected["leave_one_domain_out"]["domains"]["news"])
    json.dumps(doc, allow_nan=False)  # serving exposes it as JSON as is


def test_platt_scaling_is_folded_into_the_linear_weights() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(600, 5))
    y = (x[:, 0] + rng.normal(scale=1.5, size=600) > 0).astype(int)
    clf = LogisticRegression(C=1e4).fit(x[:300] * 5, y[:300])  # over-confident on purpose
    before = clf.predict_proba(x[300:])[:, 1]
    a, b = calibrate_linear(clf, x[300:], y[300:])
    after = clf.predict_proba(x[300:])[:, 1]
    assert a > 0
    expected = 1 / (1 + np.exp(-(a * np.log(before / (1 - before)) + b)))
    np.testing.assert_allclose(after, expected, rtol=1e-6)
    brier = lambda q: np.mean((q - y[300:]) ** 2)  # noqa: E731
    assert brier(after) <= brier(before)


def test_leave_one_domain_out_never_trains_on_the_left_out_domain() -> None:
    rng = np.random.default_rng(3)
    seen: list[int] = []

    def fit(x: sp.csr_matrix, y: np.ndarray) -> LogisticRegression:
        seen.append(x.shape[0])
        return LogisticRegression().fit(x, y)

    def part(n: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        y = np.tile([0, 0, 0, 0, 1, 1, 1, 1], n // 8)
        x = sp.csr_matrix(rng.normal(size=(n, 3)) + y[:, None])
        return x, y, np.array(["a", "b", "c", "d"] * (n // 4))

    parts = [part(400), part(80), part(80)]
    block = leave_one_domain_out(fit, parts, fpr_target=0.05, min_human=10)
    assert block is not None
    assert set(block["domains"]) == {"a", "b", "c", "d"}
    assert seen == [300] * 4  # three of four training domains each time
    assert block["worst_roc_auc"] == min(m["roc_auc"] for m in block["domains"].values())
    assert block["worst_domain"] in block["domains"]
    one_domain = [(x, y, np.array(["a"] * len(y))) for x, y, _ in parts]
    assert leave_one_domain_out(fit, one_domain, fpr_target=0.05, min_human=10) is None


def test_champion_choice_uses_the_unseen_genre_estimate_not_in_domain_f1() -> None:
    from types import SimpleNamespace

    from model_registry.registration import choose_best

    def result(name: str, mean: float, worst: float, val_f1: float, passed: bool = True) -> Any:
        return SimpleNamespace(
            name=name,
            lodo={"mean_roc_auc": mean, "worst_roc_auc": worst},
            validation_metrics={"f1": val_f1, "pr_auc": val_f1},
            behaviour=SimpleNamespace(passed=passed),
        )

    in_domain_best = result("in_domain", 0.80, 0.70, 0.999)
    general = result("general", 0.93, 0.90, 0.95)
    assert choose_best([in_domain_best, general]).name == "general"
    # Within the tolerance on both mean and worst: tied on unseen genres, in-domain F1 decides.
    tied = result("tied", 0.935, 0.895, 0.90)
    assert choose_best([general, tied], 0.01).name == "general"
    assert choose_best([general, tied], 0.0).name == "tied"  # best mean, nothing within reach
    # A clearly better worst domain at a mean within noise wins, whatever the in-domain F1.
    safer = result("safer", 0.925, 0.93, 0.90)
    assert choose_best([general, safer], 0.01).name == "safer"
    # Neither within reach of both bests: the best mean (then worst) wins.
    other = result("other", 0.90, 0.95, 0.99)
    assert choose_best([general, other], 0.01).name == "general"
    # A candidate that failed its behaviour tests is not chosen while another passed.
    failed = result("failed", 0.99, 0.99, 0.99, passed=False)
    assert choose_best([failed, general]).name == "general"


def test_leave_one_domain_out_scores_with_the_matrices_refitted_without_the_domain() -> None:
    """A supervised feature block is refitted per fold: the fold's matrices are the ones used."""
    rng = np.random.default_rng(4)

    def part(n: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        y = np.tile([0, 1], n // 2)
        return sp.csr_matrix(rng.normal(size=(n, 2))), y, np.array(["a", "a", "b", "b"] * (n // 4))

    parts = [part(200), part(60), part(60)]
    masks: list[np.ndarray] = []

    def refit_parts(keep_train: np.ndarray) -> list[sp.csr_matrix]:
        masks.append(keep_train.copy())
        # Features that separate the labels perfectly: only usable if these matrices are used.
        return [sp.csr_matrix(np.column_stack([y, 1 - y]).astype(float)) for _, y, _ in parts]

    def fit(x: sp.csr_matrix, y: np.ndarray) -> LogisticRegression:
        return LogisticRegression().fit(x, y)

    without = leave_one_domain_out(fit, parts, fpr_target=0.05, min_human=10)
    block = leave_one_domain_out(fit, parts, fpr_target=0.05, min_human=10, refit_parts=refit_parts)
    assert without is not None and block is not None
    assert without["worst_roc_auc"] < 0.8  # noise features
    assert block["worst_roc_auc"] == 1.0
    left_out = parts[0][2]
    assert [set(left_out[~mask].tolist()) for mask in masks] == [{"a"}, {"b"}]


@pytest.mark.parametrize(("hits", "n"), [(0, 45), (2, 45), (1, 120), (13, 900), (0, 149)])
def test_fpr_upper_bound_leaves_exactly_five_percent_for_what_was_seen(hits: int, n: int) -> None:
    """At the bound, seeing ``hits`` or fewer has probability 5 % (exact, one-sided)."""
    from scipy.stats import binom

    bound = rate_upper_bound(hits, n)
    assert bound is not None and hits / n < bound < 1
    assert binom.cdf(hits, n, bound) == pytest.approx(0.05, abs=1e-4)


def test_fpr_upper_bound_edges_and_the_rows_needed_to_show_two_percent() -> None:
    assert rate_upper_bound(0, 0) is None
    assert rate_upper_bound(5, 5) == 1.0
    assert rate_upper_bound(0, 45) == pytest.approx(1 - 0.05 ** (1 / 45), abs=1e-6)
    assert rate_upper_bound(0, 148) > 0.02 >= rate_upper_bound(0, 149)  # type: ignore[operator]


def test_by_domain_gives_each_fpr_its_upper_bound() -> None:
    y = np.array([0] * 45 + [1] * 5 + [0] * 3)
    p = np.array([0.9, 0.8] + [0.1] * 43 + [0.9] * 5 + [0.1] * 3)
    d = np.array(["wiki"] * 50 + ["tiny"] * 3)
    table = by_domain(y, p, d, 0.5)
    assert table["wiki"]["fpr_human"] == pytest.approx(2 / 45, abs=1e-6)
    assert table["wiki"]["fpr_human_upper95"] == rate_upper_bound(2, 45)
    assert table["tiny"]["fpr_human"] == 0.0
    assert table["tiny"]["fpr_human_upper95"] == pytest.approx(1 - 0.05 ** (1 / 3), abs=1e-6)
