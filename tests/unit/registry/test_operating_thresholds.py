"""Per-domain operating thresholds: selection on validation, routing, the version tag, old
versions, and honest (routed) evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model_monitoring.scope import (
    ScopeChecker,
    ScopeVerdict,
    build_scope_reference,
)
from model_registry import contract
from model_registry.domain_evaluation import (
    CrossFittedScores,
    by_domain,
    fpr_threshold,
    group_metrics,
    per_text_thresholds,
    routing_by_domain,
    select_operating_thresholds,
)
from model_registry.operating_thresholds import (
    DomainThreshold,
    OperatingThresholds,
    RoutedThreshold,
    ServedVerdict,
    served_verdict,
    version_thresholds,
)


def _validation() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three domains: 'strict' humans score high, 'easy' humans low, 'tiny' has 20 humans."""
    rng = np.random.default_rng(7)
    parts = []
    for domain, n_human, human_high in (
        ("easy", 400, 0.4),
        ("strict", 300, 0.9),
        ("tiny", 20, 0.95),
    ):
        human = rng.uniform(0.0, human_high, size=n_human)
        ai = rng.uniform(0.5, 1.0, size=n_human)
        parts.append(
            (np.r_[np.zeros(n_human), np.ones(n_human)], np.r_[human, ai], [domain] * (2 * n_human))
        )
    y = np.concatenate([part[0] for part in parts]).astype(int)
    p = np.concatenate([part[1] for part in parts])
    d = np.concatenate([np.asarray(part[2]) for part in parts])
    return y, p, d


def test_each_domain_with_enough_humans_gets_its_own_threshold_meeting_the_target() -> None:
    y, p, d = _validation()
    chosen = select_operating_thresholds(y, p, d, target=0.01, min_human=100)
    assert set(chosen.domains) == {"easy", "strict"}  # 'tiny' has 20 human rows: no own threshold
    for domain, own in chosen.domains.items():
        human = p[(d == domain) & (y == 0)]
        assert own.n_human == human.size
        assert np.mean(human >= own.threshold) <= 0.01
        assert own.val_fpr_human == pytest.approx(np.mean(human >= own.threshold), abs=1e-6)
        ai = p[(d == domain) & (y == 1)]
        assert own.val_tpr_ai == pytest.approx(np.mean(ai >= own.threshold), abs=1e-6)
    # The easy domain's humans are far from its AI texts: its threshold is much lower.
    assert chosen.domains["easy"].threshold < chosen.domains["strict"].threshold
    easy_tpr, strict_tpr = chosen.domains["easy"].val_tpr_ai, chosen.domains["strict"].val_tpr_ai
    assert easy_tpr is not None and strict_tpr is not None and easy_tpr > strict_tpr


def test_the_global_fallback_is_todays_rule_the_strictest() -> None:
    y, p, d = _validation()
    chosen = select_operating_thresholds(y, p, d, target=0.01, min_human=100)
    expected, _ = fpr_threshold(y, p, d, 0.01, 100)
    assert chosen.threshold == expected
    assert chosen.threshold >= max(t.threshold for t in chosen.domains.values())
    assert chosen.global_threshold.n_human == int((y == 0).sum())
    assert chosen.fpr_target == 0.01 and chosen.min_human == 100


def test_small_domains_only_get_the_global_threshold() -> None:
    y, p, d = _validation()
    chosen = select_operating_thresholds(y, p, d, target=0.01, min_human=1000)
    assert chosen.domains == {}
    assert chosen.route(ScopeVerdict(True, None, 0.5, "easy")) == RoutedThreshold(
        chosen.threshold, None
    )


def _thresholds() -> OperatingThresholds:
    return OperatingThresholds(
        global_threshold=DomainThreshold(0.9, 100, 0.01, 0.8),
        domains={"news": DomainThreshold(0.6, 50, 0.0, 0.9), "essay": DomainThreshold(0.7)},
        fpr_target=0.01,
        min_human=40,
    )


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        (ScopeVerdict(True, None, 0.4, "news"), RoutedThreshold(0.6, "news")),
        (ScopeVerdict(True, None, 0.4, "essay"), RoutedThreshold(0.7, "essay")),
        # A domain without a threshold of its own, no reference, out of scope: global.
        (ScopeVerdict(True, None, 0.4, "wikipedia"), RoutedThreshold(0.9, None)),
        (ScopeVerdict(True, None, None, None), RoutedThreshold(0.9, None)),
        (
            ScopeVerdict(False, contract.ScopeReason.UNLIKE_TRAINING_DATA, 3.0),
            RoutedThreshold(0.9, None),
        ),
        (
            ScopeVerdict(False, contract.ScopeReason.TOO_SHORT, None, "news"),
            RoutedThreshold(0.9, None),
        ),
        (None, RoutedThreshold(0.9, None)),
    ],
)
def test_routing_picks_the_routed_domains_threshold_else_the_global_one(
    verdict: ScopeVerdict | None, expected: RoutedThreshold
) -> None:
    assert _thresholds().route(verdict) == expected


def test_the_tag_round_trips_and_old_versions_have_only_the_global_threshold() -> None:
    recorded = _thresholds()
    tags = {
        contract.VersionTag.THRESHOLD: "0.900000",
        contract.VersionTag.OPERATING_THRESHOLDS: recorded.to_json(),
    }
    assert version_thresholds(tags) == recorded
    assert len(recorded.to_json()) < 1000  # one small tag

    old = version_thresholds({contract.VersionTag.THRESHOLD: "0.730000"})
    assert old.threshold == 0.73 and old.domains == {}
    assert old.route(ScopeVerdict(True, None, 0.2, "news")) == RoutedThreshold(0.73, None)
    assert version_thresholds({}).threshold == 0.5


@pytest.mark.parametrize(
    "document",
    [
        {"format_version": 2, "global": {"threshold": 0.5}},
        {"format_version": 1, "global": {"threshold": 1.5}},
        {"format_version": 1, "global": {"threshold": "nan"}},
        {"format_version": 1, "global": {"threshold": True}},
        {"format_version": 1},
        {"format_version": 1, "global": {"threshold": 0.5}, "domains": {"news": {"threshold": -1}}},
        {"format_version": 1, "global": {"threshold": 0.5}, "router": "oracle"},
        {"format_version": 1, "global": {"threshold": 0.5}, "domains": ["news"]},
    ],
)
def test_a_malformed_tag_is_refused(document: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        version_thresholds({contract.VersionTag.OPERATING_THRESHOLDS: json.dumps(document)})


def test_scope_verdicts_carry_the_nearest_training_domain_in_scope_only() -> None:
    essay = (
        "I think that students should be allowed to use their phones in school because it helps "
        "them learn. When I was in class last year, my teacher let us look things up and I "
        "learned a lot more than I would have otherwise. Some people say phones are a "
        "distraction, but I believe that if we are taught how to use them well, they can be a "
        "great tool for learning and for staying safe. "
    )
    abstract = (
        "We propose a novel method for the estimation of sparse covariance matrices (SCM) in "
        "high-dimensional settings. Our approach, based on penalised likelihood, achieves "
        "minimax-optimal rates; experiments on synthetic and real data (n = 1,024) show a "
        "12.5% reduction in error relative to the state of the art. Theoretical guarantees "
        "are derived under mild assumptions. "
    )
    reference = build_scope_reference(
        [essay, essay * 2, abstract, abstract * 2], ["essay", "essay", "abstract", "abstract"]
    )
    checker = ScopeChecker(reference, novelty_threshold=100.0)
    verdicts = checker.assess([essay * 3, abstract * 3, "too short", essay])
    assert [v.domain for v in verdicts] == ["essay", "abstract", None, None]
    assert not verdicts[2].in_scope
    assert verdicts[3].in_scope  # in scope, but shorter than the route minimum: global threshold
    # Short texts too (the length check aside): how the minimum length is measured.
    assert [checker.route_of(t) for t in (essay * 2, abstract * 2)] == ["essay", "abstract"]


def test_evaluation_uses_the_routed_threshold_not_the_true_domains() -> None:
    y = np.array([0, 1, 0, 1])
    p = np.array([0.65, 0.8, 0.65, 0.8])
    d = np.array(["news", "news", "essay", "essay"])
    thresholds = _thresholds()
    # Both news texts are routed to news (0.6); the essay human is routed to news too (a router
    # mistake: its human text at 0.65 becomes a false positive), the essay AI text to wikipedia.
    verdicts = [
        ScopeVerdict(True, None, 0.1, "news"),
        ScopeVerdict(True, None, 0.1, "news"),
        ScopeVerdict(True, None, 0.1, "news"),
        ScopeVerdict(True, None, 0.1, "wikipedia"),
    ]
    routes = thresholds.route_all(verdicts)
    t = per_text_thresholds(routes)
    np.testing.assert_allclose(t, [0.6, 0.6, 0.6, 0.9])
    table = by_domain(y, p, d, t)
    assert table["news"]["fpr_human"] == 1.0 and table["news"]["tpr_ai"] == 1.0
    assert table["essay"]["fpr_human"] == 1.0  # at the true domain's 0.7 it would be 0.0
    assert table["essay"]["tpr_ai"] == 0.0  # 0.8 < the global 0.9 it fell back to
    routing = routing_by_domain(d, [v.domain for v in verdicts], [r.domain for r in routes])
    assert routing["news"] == {"n": 2, "accuracy": 1.0, "global_share": 0.0}
    assert routing["essay"] == {"n": 2, "accuracy": 0.0, "global_share": 0.5}


def test_the_band_lets_at_most_the_miss_target_of_ai_texts_be_called_human() -> None:
    y, p, d = _validation()
    chosen = select_operating_thresholds(y, p, d, target=0.01, min_human=100, ai_miss_target=0.05)
    assert chosen.ai_miss_target == 0.05
    for domain, own in chosen.domains.items():
        assert own.human_below is not None and own.human_below <= own.threshold
        ai, rows = p[(d == domain) & (y == 1)], p[d == domain]
        assert np.mean(ai < own.human_below) <= 0.05
        # The highest such bound (unless capped at the threshold: then no band at all).
        assert own.human_below == own.threshold or np.mean(ai <= own.human_below) > 0.05
        in_band = (rows >= own.human_below) & (rows < own.threshold)
        assert own.val_uncertain_share == pytest.approx(in_band.mean(), abs=1e-6)
    # The global fallback has the strictest threshold and the widest band.
    lowest = chosen.global_threshold.human_below
    assert lowest is not None
    assert lowest <= min(own.human_below or 1.0 for own in chosen.domains.values())
    assert np.mean(p[y == 1] < lowest) <= 0.05


def test_no_band_without_a_miss_target() -> None:
    y, p, d = _validation()
    chosen = select_operating_thresholds(y, p, d, target=0.01, min_human=100)
    assert chosen.ai_miss_target is None
    assert all(t.human_below is None for t in [chosen.global_threshold, *chosen.domains.values()])
    assert "human_below" not in chosen.to_json()  # the document of versions without a band


@pytest.mark.parametrize(
    ("probability", "scope", "expected"),
    [
        (0.95, ScopeVerdict(True, None, 0.4, "news"), ServedVerdict("ai", True, None)),
        (0.60, ScopeVerdict(True, None, 0.4, "news"), ServedVerdict("ai", True, None)),
        (
            0.59,
            ScopeVerdict(True, None, 0.4, "news"),
            ServedVerdict("uncertain", False, contract.ScopeReason.LOW_CONFIDENCE),
        ),
        (
            0.30,
            ScopeVerdict(True, None, 0.4, "news"),
            ServedVerdict("uncertain", False, contract.ScopeReason.LOW_CONFIDENCE),
        ),
        (0.29, ScopeVerdict(True, None, 0.4, "news"), ServedVerdict("human", True, None)),
        # The out-of-scope reason comes first, whatever the score.
        (
            0.5,
            ScopeVerdict(False, contract.ScopeReason.TOO_SHORT, None),
            ServedVerdict("uncertain", False, contract.ScopeReason.TOO_SHORT),
        ),
        # A domain without a band: human below its threshold.
        (0.65, ScopeVerdict(True, None, 0.4, "essay"), ServedVerdict("human", True, None)),
    ],
)
def test_the_served_verdict_is_uncertain_inside_the_band_only(
    probability: float, scope: ScopeVerdict, expected: ServedVerdict
) -> None:
    thresholds = OperatingThresholds(
        global_threshold=DomainThreshold(0.9, 100, 0.01, 0.8, human_below=0.2),
        domains={
            "news": DomainThreshold(0.6, 50, 0.0, 0.9, human_below=0.3),
            "essay": DomainThreshold(0.7),
        },
    )
    assert served_verdict(probability, scope, thresholds.route(scope)) == expected


def test_a_band_round_trips_and_is_never_rounded_above_its_threshold() -> None:
    recorded = OperatingThresholds(
        global_threshold=DomainThreshold(0.9, 100, 0.01, 0.8, 0.1234567, 0.05),
        domains={"news": DomainThreshold(0.6000004, 50, 0.0, 0.9, 0.6000004, 0.0)},
        ai_miss_target=0.02,
    )
    loaded = OperatingThresholds.from_json(recorded.to_json())
    assert loaded.ai_miss_target == 0.02
    assert loaded.global_threshold.human_below == 0.123456
    news = loaded.domains["news"]
    assert news.human_below is not None and news.human_below <= news.threshold


def test_a_band_above_its_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="above the threshold"):
        DomainThreshold(0.5, human_below=0.6)
    document = json.loads(_thresholds().to_json())
    document["domains"]["news"]["human_below"] = 0.99
    with pytest.raises(ValueError, match="above the threshold"):
        OperatingThresholds.from_dict(document)


def test_group_metrics_report_what_the_band_leaves_unanswered() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.5, 0.8, 0.45, 0.7, 0.9])
    forced = group_metrics(y, p, 0.75)
    assert "answered_f1" not in forced
    banded = group_metrics(y, p, 0.75, human_below=0.4)
    # Answered: 0.1 (human, right), 0.8 (AI, wrong), 0.9 (AI, right); 0.5, 0.45, 0.7 uncertain.
    assert banded["uncertain_share"] == pytest.approx(0.5)
    assert banded["answered_f1"] == pytest.approx(2 / 3)
    assert banded["fpr_human"] == forced["fpr_human"] == pytest.approx(1 / 3)


def test_a_threshold_also_protects_the_people_routed_to_its_domain() -> None:
    y, p, d = _validation()
    # The router takes every 'strict' text for an 'easy' one: those people are judged at
    # easy's threshold, which their own domain's rows alone would set far too low for them.
    routed = np.where(d == "strict", "easy", d).tolist()
    alone = select_operating_thresholds(y, p, d, target=0.01, min_human=100)
    both = select_operating_thresholds(y, p, d, target=0.01, min_human=100, routed=routed)
    sent_to_easy = p[(y == 0) & np.isin(d, ["easy", "strict"])]
    assert np.mean(sent_to_easy >= alone.domains["easy"].threshold) > 0.2
    assert np.mean(sent_to_easy >= both.domains["easy"].threshold) <= 0.01
    # No human row is routed to 'strict' any more: its own rows alone set its threshold.
    assert both.domains["strict"].threshold == alone.domains["strict"].threshold
    # Fewer routed human rows than min_human: only the domain's own rows count.
    few = np.full(len(d), "elsewhere", dtype=object)
    few[np.flatnonzero((d == "strict") & (y == 0))[:50]] = "easy"
    chosen = select_operating_thresholds(y, p, d, target=0.01, min_human=100, routed=list(few))
    assert chosen.domains["easy"].threshold == alone.domains["easy"].threshold


def test_the_global_threshold_also_protects_the_people_the_router_cannot_place() -> None:
    rng = np.random.default_rng(11)
    # 'easy' (400 people, low scores) is routed to itself and has its own threshold. Two small
    # genres (60 people each, no threshold of their own) score high and the router places none
    # of their texts: they are judged at the global threshold. Counted among all 520 people,
    # their false "AI" verdicts fit in the overall 1 %; counted among themselves they do not.
    y = np.r_[np.zeros(520), np.ones(520)].astype(int)
    p = np.r_[rng.uniform(0.0, 0.4, 400), rng.uniform(0.0, 0.95, 120), rng.uniform(0.5, 1.0, 520)]
    d = np.r_[["easy"] * 400, ["odd"] * 60, ["rare"] * 60, ["easy"] * 520]
    routed: list[str | None] = [None if domain != "easy" else "easy" for domain in d]
    unplaced = (y == 0) & (d != "easy")

    alone = select_operating_thresholds(y, p, d, target=0.01, min_human=100)
    assert np.mean(p[unplaced] >= alone.threshold) > 0.01  # the rule without routes
    chosen = select_operating_thresholds(y, p, d, target=0.01, min_human=100, routed=routed)
    assert set(chosen.domains) == {"easy"}
    assert np.mean(p[unplaced] >= chosen.threshold) <= 0.01
    assert chosen.threshold > alone.threshold
    # Rows routed to a domain without a threshold of its own are judged globally too.
    to_rare = ["rare" if r is None else r for r in routed]
    assert select_operating_thresholds(
        y, p, d, target=0.01, min_human=100, routed=to_rare
    ).threshold == pytest.approx(chosen.threshold)
    # Fewer such people than min_human: the overall rule alone, as before.
    few = ["easy" if domain == "odd" else r for domain, r in zip(d, routed, strict=True)]
    assert select_operating_thresholds(
        y, p, d, target=0.01, min_human=100, routed=few
    ).threshold == pytest.approx(alone.threshold)


def test_a_band_that_leaves_nothing_answered_has_no_answered_f1() -> None:
    # A small domain can fall entirely inside its band (seen in a 600-row training run).
    y, p = np.array([0, 1, 1]), np.array([0.4, 0.5, 0.6])
    banded = group_metrics(y, p, 0.9, human_below=0.1)
    assert banded["uncertain_share"] == 1.0 and banded["answered_f1"] is None


def _cross_fitted(
    y: np.ndarray, p: np.ndarray, d: np.ndarray, routed: list[str | None] | None = None
) -> CrossFittedScores:
    return CrossFittedScores(y, p, d, routed if routed is not None else list(d), folds=5)


def test_a_small_genre_gets_its_own_threshold_from_its_cross_fitted_people() -> None:
    y, p, d = _validation()  # 'tiny' has 20 human validation rows: no threshold of its own
    rng = np.random.default_rng(3)
    # 150 cross-fitted 'tiny' people, whose scores reach higher than the 20 in validation.
    fy = np.r_[np.zeros(150), np.ones(150)].astype(int)
    fp = np.r_[rng.uniform(0.0, 0.99, 150), rng.uniform(0.5, 1.0, 150)]
    fd = np.asarray(["tiny"] * 300)
    chosen = select_operating_thresholds(
        y, p, d, target=0.01, min_human=100, cross_fitted=_cross_fitted(fy, fp, fd)
    )
    tiny = chosen.domains["tiny"]
    assert np.mean(fp[fy == 0] >= tiny.threshold) <= 0.01
    assert tiny.threshold > p[(d == "tiny") & (y == 0)].max()  # validation alone: lower
    assert tiny.n_human == 20 and tiny.cross_fitted_n_human == 150
    assert tiny.cross_fitted_fpr_human == pytest.approx(
        np.mean(fp[fy == 0] >= tiny.threshold), abs=1e-6
    )
    # The validation rule still holds: the other genres keep their thresholds (no cross-fitted
    # rows of theirs), and the global one stays the strictest, now including 'tiny'.
    alone = select_operating_thresholds(y, p, d, target=0.01, min_human=100)
    for name in ("easy", "strict"):
        assert chosen.domains[name].threshold == alone.domains[name].threshold
        assert chosen.domains[name].cross_fitted_n_human == 0
    assert chosen.threshold >= max(t.threshold for t in chosen.domains.values())
    assert chosen.global_threshold.cross_fitted_n_human == 150
    assert chosen.cross_fitted_folds == 5


def test_cross_fitted_people_raise_a_threshold_never_lower_it() -> None:
    y, p, d = _validation()
    alone = select_operating_thresholds(y, p, d, target=0.01, min_human=100)
    human_easy = (d == "easy") & (y == 0)
    # Cross-fitted 'easy' people scoring higher than validation's: easy's threshold must rise
    # until it holds 1 % on them too.
    higher = np.where(human_easy, np.minimum(p + 0.3, 1.0), p)
    raised = select_operating_thresholds(
        y, p, d, target=0.01, min_human=100, cross_fitted=_cross_fitted(y, higher, d)
    )
    assert raised.domains["easy"].threshold > alone.domains["easy"].threshold
    assert np.mean(higher[human_easy] >= raised.domains["easy"].threshold) <= 0.01
    assert np.mean(p[human_easy] >= raised.domains["easy"].threshold) <= 0.01
    # Lower-scoring cross-fitted people do not lower any threshold set on validation.
    lower = np.where(y == 0, p / 2, p)
    kept = select_operating_thresholds(
        y, p, d, target=0.01, min_human=100, cross_fitted=_cross_fitted(y, lower, d)
    )
    assert kept.threshold == alone.threshold
    assert {n: t.threshold for n, t in kept.domains.items()} == {
        n: t.threshold for n, t in alone.domains.items()
    }


def test_cross_fitted_people_the_router_cannot_place_raise_the_global_threshold() -> None:
    y, p, d = _validation()
    alone = select_operating_thresholds(y, p, d, target=0.01, min_human=100)
    rng = np.random.default_rng(5)
    # 200 cross-fitted people of a genre the router cannot place, scoring up to 0.999.
    fy = np.zeros(200, dtype=int)
    fp = rng.uniform(0.0, 0.999, 200)
    fd = np.asarray(["odd"] * 200)
    chosen = select_operating_thresholds(
        y, p, d, target=0.01, min_human=100, cross_fitted=_cross_fitted(fy, fp, fd, [None] * 200)
    )
    assert np.mean(fp >= chosen.threshold) <= 0.01
    assert chosen.threshold > alone.threshold


def test_cross_fitted_rates_survive_the_version_tag_and_old_tags_stay_as_they_were() -> None:
    y, p, d = _validation()
    old = select_operating_thresholds(y, p, d, target=0.01, min_human=100)
    assert "cross_fitted_folds" not in old.to_dict()
    assert all("cross_fitted_n_human" not in v for v in old.to_dict()["domains"].values())
    chosen = select_operating_thresholds(
        y, p, d, target=0.01, min_human=100, cross_fitted=_cross_fitted(y, p, d)
    )
    loaded = OperatingThresholds.from_json(chosen.to_json())
    assert loaded.cross_fitted_folds == 5
    assert loaded.domains["easy"].cross_fitted_n_human == 400
    assert loaded.domains["easy"].cross_fitted_fpr_human == pytest.approx(
        chosen.domains["easy"].cross_fitted_fpr_human, abs=1e-6
    )
    document = json.loads(chosen.to_json())
    document["domains"]["easy"]["cross_fitted_fpr_human"] = 1.5
    with pytest.raises(ValueError, match="cross_fitted_fpr_human"):
        OperatingThresholds.from_dict(document)


def test_a_small_genres_band_is_set_on_its_cross_fitted_ai_texts_too() -> None:
    rng = np.random.default_rng(9)
    # 'tiny': 30 AI validation texts, one of them scoring 0.001 (a rewrite the model misses).
    # On those alone a 1.5 % miss target puts the band's bound at that lowest score, so nearly
    # every human text of the genre would be answered "uncertain".
    y = np.r_[np.zeros(30), np.ones(30)].astype(int)
    p = np.r_[rng.uniform(0.0, 0.3, 30), 0.001, rng.uniform(0.6, 1.0, 29)]
    d = np.asarray(["tiny"] * 60)
    fy = np.r_[np.zeros(300), np.ones(300)].astype(int)
    fp = np.r_[rng.uniform(0.0, 0.3, 300), rng.uniform(0.1, 1.0, 300)]
    fd = np.asarray(["tiny"] * 600)
    alone = select_operating_thresholds(y, p, d, 0.01, min_human=20, ai_miss_target=0.015)
    assert alone.domains["tiny"].human_below == pytest.approx(0.001)
    chosen = select_operating_thresholds(
        y,
        p,
        d,
        0.01,
        min_human=20,
        ai_miss_target=0.015,
        cross_fitted=_cross_fitted(fy, fp, fd),
    )
    below = chosen.domains["tiny"].human_below
    assert below is not None and 0.1 < below < chosen.domains["tiny"].threshold
    pooled_ai = np.r_[p[y == 1], fp[fy == 1]]
    assert np.mean(pooled_ai < below) <= 0.015  # the miss target, on both sets together
