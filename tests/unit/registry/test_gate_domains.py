"""The per-domain part of the gate: floor, margin, minimum rows, and a reason naming the domain."""

from __future__ import annotations

from model_registry.gate import DomainRule, decide

RULE = DomainRule(floor=0.9, margin=0.02, min_rows=50)


def domains(**f1: float) -> dict[str, dict[str, float]]:
    return {name: {"f1": value, "n_human": 40, "n_ai": 40} for name, value in f1.items()}


def test_a_domain_below_the_floor_blocks_promotion_and_is_named() -> None:
    promoted, reason = decide(
        0.97, True, None, floor=0.9, margin=0.0,
        challenger_domains=domains(news=0.85, essay=0.99), domain_rule=RULE,
    )  # fmt: skip
    assert not promoted
    assert reason.startswith("domain news:") and "floor" in reason


def test_a_loss_on_one_domain_is_not_bought_by_a_gain_overall() -> None:
    promoted, reason = decide(
        0.99, True, 0.95, floor=0.9, margin=0.0,
        challenger_domains=domains(news=0.92, essay=0.995),
        champion_domains=domains(news=0.95, essay=0.95),
        domain_rule=RULE,
    )  # fmt: skip
    assert not promoted
    assert reason.startswith("domain news:") and "champion F1 0.9500" in reason


def test_within_the_domain_margin_promotes() -> None:
    promoted, reason = decide(
        0.96, True, 0.95, floor=0.9, margin=0.0,
        challenger_domains=domains(news=0.94, essay=0.97),
        champion_domains=domains(news=0.955, essay=0.95),
        domain_rule=RULE,
    )  # fmt: skip
    assert promoted, reason


def test_small_domains_are_reported_not_gated() -> None:
    small = {"tiny": {"f1": 0.1, "n_human": 5, "n_ai": 5}}
    promoted, _ = decide(
        0.96, True, None, floor=0.9, margin=0.0, challenger_domains=small, domain_rule=RULE
    )
    assert promoted


def test_a_champion_without_a_domain_does_not_block_it() -> None:
    promoted, _ = decide(
        0.96, True, 0.95, floor=0.9, margin=0.0,
        challenger_domains=domains(news=0.93), champion_domains={}, domain_rule=RULE,
    )  # fmt: skip
    assert promoted


def test_the_floor_judges_the_answers_and_the_margin_every_text() -> None:
    """A version that leaves the genre's close calls ``uncertain`` is judged by what it answers:
    its every-text F1 (0.61 here, thresholds strict for people) no longer fails the floor; a
    version that answers badly still does, and one answering nothing in a genre fails it too."""
    strict = {"wiki": {"f1": 0.61, "answered_f1": 0.95, "n_human": 40, "n_ai": 40}}
    promoted, reason = decide(
        0.93, True, None, floor=0.8, margin=0.0, challenger_domains=strict, domain_rule=RULE
    )
    assert promoted, reason
    for answered in (0.85, None):
        poor = {"wiki": {"f1": 0.97, "answered_f1": answered, "n_human": 40, "n_ai": 40}}
        promoted, reason = decide(
            0.93, True, None, floor=0.8, margin=0.0, challenger_domains=poor, domain_rule=RULE
        )
        assert not promoted
        assert reason.startswith("domain wiki: challenger answered F1")
    promoted, reason = decide(
        0.93, True, 0.93, floor=0.8, margin=0.0,
        challenger_domains=strict,
        champion_domains={"wiki": {"f1": 0.72, "answered_f1": 0.9, "n_human": 40, "n_ai": 40}},
        domain_rule=RULE,
    )  # fmt: skip
    assert not promoted
    assert "champion F1 0.7200" in reason
