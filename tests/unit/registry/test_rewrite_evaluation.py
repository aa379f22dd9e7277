"""Rewrites of a person's text, banded by how much of its wording they keep."""

from __future__ import annotations

import math

import numpy as np

from model_registry.rewrite_evaluation import NO_ORIGINAL, by_kept_wording, kept_wording, word_pairs

ORIGINAL = "The city council met on Monday. It voted to close the old bridge."


def test_word_pairs_are_adjacent_case_folded_and_distinct() -> None:
    assert word_pairs("The cat, the CAT the cat") == {("the", "cat"), ("cat", "the")}
    assert word_pairs("one") == set()


def test_kept_wording_is_the_share_of_pairs_found_in_the_groups_human_texts() -> None:
    texts = [
        ORIGINAL,
        ORIGINAL.upper(),  # a copy: every pair kept
        "Entirely different words appear in this generated answer.",
        "the city council met but nothing else matches here at all",
        "A prompt-only AI text with no person's text in its group.",
        "Another person's text, in a group of its own.",
    ]
    labels = [0, 1, 1, 1, 1, 0]
    groups = ["g1", "g1", "g1", "g1", "g2", "g3"]
    kept = kept_wording(texts, labels, groups)
    assert math.isnan(kept[0]) and math.isnan(kept[5])  # human texts
    assert kept[1] == 1.0
    assert kept[2] == 0.0
    assert kept[3] == 3 / 10  # "the city", "city council", "council met" of ten pairs
    assert math.isnan(kept[4])  # no original to keep wording from


def test_a_text_without_pairs_keeps_nothing() -> None:
    assert kept_wording([ORIGINAL, "Yes."], [0, 1], [1, 1])[1] == 0.0


def test_bands_count_the_ai_texts_called_ai_and_left_uncertain() -> None:
    y = np.array([0, 1, 1, 1, 1, 1])
    p = np.array([0.9, 0.9, 0.2, 0.4, 0.95, 0.1])
    kept = np.array([np.nan, 0.05, 0.08, 0.6, 1.0, np.nan])
    table = by_kept_wording(y, p, np.full(6, 0.5), np.full(6, 0.3), kept)
    assert set(table) == {"under_10pct", "50pct_or_more", NO_ORIGINAL}  # empty bands left out
    assert table["under_10pct"] == {"n_ai": 2, "tpr_ai": 0.5, "uncertain_share": 0.0}
    # 0.6 is in the band (0.3 <= p < 0.5): uncertain; 1.0 belongs to the last band.
    assert table["50pct_or_more"] == {"n_ai": 2, "tpr_ai": 0.5, "uncertain_share": 0.5}
    assert table[NO_ORIGINAL]["n_ai"] == 1 and table[NO_ORIGINAL]["tpr_ai"] == 0.0


def test_without_a_band_there_is_no_uncertain_share() -> None:
    table = by_kept_wording([1], [0.7], 0.5, None, np.array([0.2]))
    assert table == {"10_to_30pct": {"n_ai": 1, "tpr_ai": 1.0}}
