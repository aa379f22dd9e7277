"""The scope checks: language, length, novelty against a training reference, and the artifact."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_monitoring.scope import (
    FEATURE_NAMES,
    ScopeChecker,
    ScopeReference,
    ScopeVerdict,
    build_scope_reference,
    latin_letter_share,
    normalised_length,
    style_features,
)
from model_registry.contract import ScopeReason
from tests.data.scope_fixtures import non_english_texts

ENGLISH = (
    "The committee met on Tuesday to discuss the budget for the coming year. Most of the "
    "members agreed that the library should get more money, because the number of visitors has "
    "grown every month since the new reading room opened. A few of them asked whether the town "
    "could afford it, but in the end the vote was clear and the plan was approved."
)


@pytest.fixture(scope="module")
def reference() -> ScopeReference:
    texts = [ENGLISH, ENGLISH.replace("Tuesday", "Friday"), ENGLISH[:300] + " It rained."]
    return build_scope_reference(texts * 4, ["news"] * 12)


def test_without_reference_only_length_and_language_apply() -> None:
    checker = ScopeChecker(None, min_chars=200)
    assert checker.assess([ENGLISH]) == [ScopeVerdict(True, None, None)]
    assert checker.assess(["Too short to judge."])[0].reason == ScopeReason.TOO_SHORT


def test_length_counts_whitespace_runs_once() -> None:
    padded = "word " * 10 + " " * 500
    assert normalised_length(padded) == len("word " * 10) - 1
    assert ScopeChecker(None, min_chars=200).assess_one(padded).reason == ScopeReason.TOO_SHORT


@pytest.mark.parametrize(("language", "text"), non_english_texts())
def test_non_english_prose_is_out_of_scope(language: str, text: str) -> None:
    verdict = ScopeChecker(None, min_chars=100).assess_one(text)
    assert verdict == ScopeVerdict(False, ScopeReason.NOT_ENGLISH, None), language


def test_script_check_applies_even_to_short_texts() -> None:
    assert latin_letter_share("Привет, как дела?") == 0.0
    assert ScopeChecker(None).assess_one("Привет, как дела?").reason == ScopeReason.NOT_ENGLISH
    assert latin_letter_share("Café au lait, naïve façade") == 1.0


def test_reference_round_trips_through_json(reference: ScopeReference) -> None:
    again = ScopeReference.from_json(reference.to_json())
    assert again == reference
    assert list(again.domains) == ["news"]
    assert len(again.domains["news"].mean) == len(FEATURE_NAMES)


def test_reference_from_another_format_is_refused(reference: ScopeReference) -> None:
    data = json.loads(reference.to_json())
    with pytest.raises(ValueError, match="format"):
        ScopeReference.from_dict({**data, "format_version": 99})
    with pytest.raises(ValueError, match="style features"):
        ScopeReference.from_dict({**data, "feature_names": ["x"]})


def test_novelty_is_small_for_training_like_text_and_large_for_other_text(
    reference: ScopeReference,
) -> None:
    checker = ScopeChecker(reference, min_chars=100, novelty_threshold=3.0)
    same = checker.assess_one(ENGLISH)
    assert same.in_scope and same.novelty is not None and same.novelty < 1.0
    other = (
        "WOW!!! THE BEST DAY EVER!!! WE WON THE CUP AND THE WHOLE TOWN IS OUT IN THE STREETS!!! "
        "MY DAD IS CRYING, MY MOM IS SCREAMING AND I AM JUST STANDING HERE WITH MY FLAG!!! "
        "WHAT A GAME!!! THANK YOU BOYS!!! SEE YOU ALL AT THE PARADE TOMORROW!!!"
    )
    verdict = checker.assess_one(other)
    assert verdict == ScopeVerdict(False, ScopeReason.UNLIKE_TRAINING_DATA, verdict.novelty)
    assert verdict.novelty is not None and verdict.novelty > 3.0


def test_assess_keeps_order_and_length(reference: ScopeReference) -> None:
    texts = ["short", ENGLISH, non_english_texts()[0][1]]
    reasons = [v.reason for v in ScopeChecker(reference, min_chars=200).assess(texts)]
    assert reasons == [ScopeReason.TOO_SHORT, None, ScopeReason.NOT_ENGLISH]


def test_assess_of_a_batch_is_assess_one_of_each_text() -> None:
    """The batched novelty arithmetic gives every text exactly its own verdict and novelty."""
    texts = [ENGLISH, "short", ENGLISH.upper(), non_english_texts()[0][1], ENGLISH[::-1]]
    texts += [ENGLISH.replace("the", "a") + " (see p. 12; 3 - 4)", ENGLISH[:260]] * 2
    two_domains = build_scope_reference(
        [ENGLISH, ENGLISH[:300], "We propose a method. " * 20, "This movie was fun! " * 20] * 2,
        ["news", "news", "science", "reviews"] * 2,
    )
    for reference in (two_domains, None):
        checker = ScopeChecker(reference, min_chars=200, novelty_threshold=2.0)
        assert checker.assess(texts) == [checker.assess_one(text) for text in texts]
        assert checker.assess(texts[:1]) == [checker.assess_one(texts[0])]
        assert checker.assess([]) == []


def test_features_read_only_the_leading_window() -> None:
    assert style_features(ENGLISH * 20) == style_features((ENGLISH * 20) + "!!!" * 1000)


def test_reference_needs_matching_texts_and_domains() -> None:
    with pytest.raises(ValueError):
        build_scope_reference([ENGLISH], [])
    with pytest.raises(ValueError):
        build_scope_reference([], [])


def test_non_ascii_whitespace_does_not_count_as_length() -> None:
    padded = "word " * 10 + "\u00a0\u3000" * 300
    assert ScopeChecker(None, min_chars=200).assess_one(padded).reason == ScopeReason.TOO_SHORT


def test_defaults_are_the_measured_figures() -> None:
    """The defaults are what tests/data/measure_scope.py measured (bench/results/scope.json)."""
    from model_monitoring import scope
    from tests.support.servers import REPO_ROOT

    measured = json.loads((REPO_ROOT / "bench" / "results" / "scope.json").read_text())
    assert measured["length"]["min_chars"] == scope.DEFAULT_MIN_CHARS
    assert measured["length"]["min_route_chars"] == scope.DEFAULT_MIN_ROUTE_CHARS
    assert measured["novelty"]["threshold"] == scope.DEFAULT_NOVELTY_THRESHOLD
    assert measured["language"]["threshold"] == scope.DEFAULT_MIN_FUNCTION_WORD_SHARE
    assert measured["cost"]["window_chars"] == scope.WINDOW_CHARS


def test_on_the_shipped_essays_with_the_measured_defaults() -> None:
    """Built from real essays: held-out essays stay in scope, odd English and other languages
    do not."""
    from tests.data.scope_fixtures import UNUSUAL_ENGLISH_TEXTS
    from tests.support.model_fixtures import corpus

    texts = corpus()["text"].tolist()
    reference = build_scope_reference(texts[:800], ["student_essay"] * 800)
    checker = ScopeChecker(reference)
    held_out = checker.assess(texts[-400:])
    out_of_scope = [v for v in held_out if not v.in_scope]
    assert len(out_of_scope) / len(held_out) <= 0.05, [v.reason for v in out_of_scope]
    for text in UNUSUAL_ENGLISH_TEXTS:
        assert checker.assess_one(text).reason == ScopeReason.UNLIKE_TRAINING_DATA, text[:30]
    long_foreign = [t for _, t in non_english_texts() if len(t) >= checker.min_chars]
    assert long_foreign
    assert {checker.assess_one(t).reason for t in long_foreign} == {ScopeReason.NOT_ENGLISH}


HOSTILE_TEXTS = [
    "",
    "\x00" * 500,
    "a \ud800 lone surrogate " * 40,
    "\u200f\u202e right-to-left marks " * 40,
    "x" * 100_000,
    "\u00a0" * 5_000,
    "🙂" * 1_000,
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=range(len(HOSTILE_TEXTS)))
def test_hostile_strings_get_a_verdict_never_an_exception(
    text: str, reference: ScopeReference
) -> None:
    verdict = ScopeChecker(reference).assess_one(text)
    assert verdict.reason in {None, *ScopeReason.ALL}
    assert verdict.in_scope == (verdict.reason is None)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=3_000))
def test_any_text_gets_a_consistent_verdict(text: str) -> None:
    checker = ScopeChecker(_HYPOTHESIS_REFERENCE, min_chars=50)
    verdict = checker.assess_one(text)
    assert verdict.reason in {None, *ScopeReason.ALL}
    assert verdict.in_scope == (verdict.reason is None)
    if normalised_length(text) < 50 and latin_letter_share(text) >= 0.8:
        assert verdict.reason == ScopeReason.TOO_SHORT
    if verdict.novelty is not None:
        assert verdict.novelty >= 0.0


_HYPOTHESIS_REFERENCE = build_scope_reference([ENGLISH, ENGLISH[:250]] * 3, ["news"] * 6)
