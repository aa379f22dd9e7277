"""Unit tests of the drift statistics and of the fast text-signal paths (same as definitions)."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_monitoring.drift_statistics import js_distance, population_stability_index
from model_monitoring.signals import text_signals, words
from tests.support.model_fixtures import sample

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
VOCABULARY = frozenset({"the", "a", "don't", "essay", "students", "cars", "i"})


def reference_signals(text: str, vocabulary: frozenset[str]) -> tuple[int, float, float]:
    """The defining (slow) computation the fast paths must reproduce exactly."""
    tokens = _WORD.findall(text.lower())
    oov = sum(1 for t in tokens if t not in vocabulary) / len(tokens) if tokens else 1.0
    visible = [ch for ch in text if not ch.isspace()]
    non_letter = sum(1 for ch in visible if not ch.isalpha()) / len(visible) if visible else 0.0
    return len(text), oov, non_letter


def as_tuple(text: str, vocabulary: frozenset[str]) -> tuple[int, float, float]:
    s = text_signals(text, vocabulary)
    return s.length_chars, s.oov_rate, s.non_letter_share


def test_js_distance_bounds() -> None:
    assert js_distance([0.5, 0.5], [10, 10]) == pytest.approx(0.0, abs=1e-9)
    assert js_distance([1, 0], [0, 1]) == pytest.approx(1.0, abs=1e-3)
    middle = js_distance([0.25] * 4, [1, 0, 0, 0])
    assert 0.3 < middle < 1.0 and math.isfinite(middle)
    assert js_distance([0.1, 0.9], [0, 0]) == pytest.approx(js_distance([0.1, 0.9], [1, 1]))


def test_js_distance_is_symmetric_and_rejects_mismatched_bins() -> None:
    p, q = [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]
    assert js_distance(p, q) == pytest.approx(js_distance(q, p))
    with pytest.raises(ValueError, match="bin counts differ"):
        js_distance([1, 2], [1, 2, 3])


def test_psi_is_finite_with_empty_bins() -> None:
    assert population_stability_index([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]) > 1.0
    assert population_stability_index([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.0)


def test_fast_signals_equal_definitions_on_corpus() -> None:
    texts = sample(400, seed=5)["text"].tolist()
    for text in texts:
        assert as_tuple(text, VOCABULARY) == reference_signals(text, VOCABULARY)
        assert words(text) == _WORD.findall(text.lower())


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [*"abzAZ'' .,!?09_\t\n\x0b\x1c\x1f\u00a0\u2019\u3000éİKß²½一🙂", "don't", "the"]
        ),
        max_size=40,
    ).map("".join)
)
def test_fast_signals_equal_definitions_on_odd_text(text: str) -> None:
    assert as_tuple(text, VOCABULARY) == reference_signals(text, VOCABULARY)
    assert words(text) == _WORD.findall(text.lower())


def test_ascii_whitespace_table_matches_str_isspace() -> None:
    for code in range(128):
        ch = chr(code)
        spaces = 1 if ch.isspace() else 0
        letters = 1 if ch.isalpha() else 0
        visible = 1 - spaces
        expected = (visible - letters) / visible if visible else 0.0
        assert text_signals(ch, VOCABULARY).non_letter_share == expected, repr(ch)
