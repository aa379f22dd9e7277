"""The reference profile and the text signals that training and serving share."""

from __future__ import annotations

import math

import pytest

from model_monitoring.profile import (
    PROBABILITY_SIGNAL,
    BinnedDistribution,
    ReferenceProfile,
    build_reference_profile,
    build_vocabulary,
    quantile_edges,
)
from model_monitoring.signals import SIGNAL_NAMES, text_signals, words

TRAIN = ["The cat sat on the mat.", "The dog sat on the log.", "A cat and a dog."] * 4
REFERENCE = ["The cat sat.", "A dog on a mat!", "Zyx qwv 123 ###"]


def test_words_lowercases_and_keeps_inner_apostrophes() -> None:
    assert words("Don't STOP, it's 42 o'clock") == ["don't", "stop", "it's", "o'clock"]


def test_signals_of_a_known_text() -> None:
    signals = text_signals("cat zzz 12", vocabulary={"cat"})
    assert signals.length_chars == 10
    assert signals.oov_rate == pytest.approx(0.5)  # "cat" known, "zzz" unknown; digits are no word
    assert signals.non_letter_share == pytest.approx(2 / 8)  # 8 visible characters, 2 digits


def test_signals_of_a_text_without_words() -> None:
    signals = text_signals("123 !!!", vocabulary={"cat"})
    assert signals.oov_rate == 1.0
    assert signals.non_letter_share == 1.0


def test_vocabulary_keeps_words_seen_at_least_twice() -> None:
    vocabulary = build_vocabulary(["apple banana", "apple cherry"], min_count=2)
    assert vocabulary == frozenset({"apple"})


def test_bin_index_is_open_ended() -> None:
    dist = BinnedDistribution(edges=(-math.inf, 1.0, 2.0, math.inf), proportions=(0.2, 0.5, 0.3))
    assert [dist.bin_index(v) for v in (-5, 0.99, 1.0, 1.5, 2.0, 1e9)] == [0, 0, 1, 1, 2, 2]


def test_quantile_edges_merge_duplicates() -> None:
    edges = quantile_edges([1.0] * 50 + [2.0] * 50, bins=10)
    assert edges[0] == -math.inf and edges[-1] == math.inf
    assert len(edges) == len(set(edges))


def test_profile_round_trips_through_json() -> None:
    profile = build_reference_profile(TRAIN, REFERENCE, [0.1, 0.6, 0.95], threshold=0.42, bins=4)
    again = ReferenceProfile.from_json(profile.to_json())
    assert again == profile
    assert set(again.distributions) == {*SIGNAL_NAMES, PROBABILITY_SIGNAL}
    for dist in again.distributions.values():
        assert sum(dist.proportions) == pytest.approx(1.0)
    assert again.threshold == 0.42


def test_profile_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        build_reference_profile(TRAIN, REFERENCE, [0.5])
    with pytest.raises(ValueError, match="at least one"):
        build_reference_profile(TRAIN, [], [])


def test_unknown_profile_format_is_refused() -> None:
    data = build_reference_profile(TRAIN, REFERENCE, [0.1, 0.6, 0.95]).to_dict()
    data["format_version"] = 99
    with pytest.raises(ValueError, match="unsupported"):
        ReferenceProfile.from_dict(data)
