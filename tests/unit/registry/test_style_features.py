"""The style profile: the faster single-pass code computes exactly what the straightforward one
did, and its values stay pinned."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter

import numpy as np
import pytest

from model_registry import style_features
from model_registry.style_features import (
    FUNCTION_WORDS,
    PUNCTUATION,
    TTR_WINDOW,
    StyleFeatures,
    words_and_sentence_lengths,
)
from tests.support.edge_texts import EDGE_TEXTS
from tests.support.model_fixtures import sample

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(A-Z0-9])")
_CONTRACTION = re.compile(r"[A-Za-z]+'(?:s|t|re|ve|ll|d|m)\b", re.IGNORECASE)


def reference_profile(text: str, ranks: dict[str, float], unknown_rank: float) -> list[float]:
    """The profile as it was first written (one regex pass per sentence, no short cuts)."""
    n_chars = max(len(text), 1)
    words = _WORD.findall(text)
    lower = [w.lower() for w in words]
    n_words = max(len(words), 1)
    counts = Counter(lower)
    out = [counts.get(w, 0) / n_words for w in FUNCTION_WORDS]
    char_counts = Counter(text)
    out += [char_counts.get(p, 0) / n_chars for p in PUNCTUATION]
    out.append(sum(n for c, n in char_counts.items() if c.isupper()) / n_chars)
    out.append(sum(n for c, n in char_counts.items() if c.isdigit()) / n_chars)
    out.append(char_counts.get(" ", 0) / n_chars)
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    lengths = np.asarray([len(_WORD.findall(s)) for s in sentences] or [0], dtype=float)
    mean_len = float(lengths.mean())
    std_len = float(lengths.std())
    out += [mean_len, std_len, std_len / mean_len if mean_len else 0.0]
    word_lengths = np.asarray([len(w) for w in words] or [0], dtype=float)
    out += [
        float(word_lengths.mean()),
        float(word_lengths.std()),
        float((word_lengths >= 7).mean()),
    ]
    window = lower[:TTR_WINDOW]
    out.append(len(set(window)) / max(len(window), 1))
    out.append(sum(1 for c in counts.values() if c == 1) / n_words)
    out.append(len(_CONTRACTION.findall(text)) / n_words)
    out.append(
        sum(counts.get(w, 0) for w in ("i", "me", "my", "mine", "we", "us", "our")) / n_words
    )
    out.append(sum(1 for w in words[1:] if w[0].isupper()) / n_words)
    rarity = np.asarray([ranks.get(w, unknown_rank) for w in lower] or [unknown_rank])
    out += [
        float(rarity.mean()),
        float(rarity.std()),
        sum(1 for w in lower if w not in ranks) / n_words,
    ]
    out.append(math.log1p(len(text)))
    return out


@pytest.fixture(scope="module")
def fitted() -> StyleFeatures:
    return StyleFeatures().fit(sample(200, seed=3)["text"].tolist())


def test_the_profile_equals_the_reference_code_exactly(fitted: StyleFeatures) -> None:
    texts = sample(1500, seed=21)["text"].tolist() + EDGE_TEXTS
    for text in texts:
        expected = reference_profile(text, fitted.ranks_, fitted.unknown_rank_)
        assert style_features._profile(text, fitted.ranks_, fitted.unknown_rank_) == expected


def test_words_and_sentences_come_from_one_pass_as_from_two() -> None:
    for text in [*EDGE_TEXTS, *sample(300, seed=4)["text"].tolist()]:
        words, lengths = words_and_sentence_lengths(text)
        assert words == _WORD.findall(text)
        sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
        assert lengths == [len(_WORD.findall(s)) for s in sentences]


def test_contractions_are_the_matches_of_the_plain_pattern() -> None:
    for text in [*EDGE_TEXTS, *sample(300, seed=5)["text"].tolist()]:
        assert style_features._contractions(text) == len(_CONTRACTION.findall(text))


#: SHA-256 of ``transform`` (float32) of the pinned texts, fitted as in ``fitted``; computed
#: with the code before it was made faster.
PINNED_SHA256 = "a494f8626b484fe9dfef6d3c46637f88277f65481e25442dfbcc62ce32f79a3d"


def pinned_texts() -> list[str]:
    return sample(6, seed=11)["text"].tolist() + EDGE_TEXTS[:5]


def test_transform_values_are_pinned(fitted: StyleFeatures) -> None:
    values = fitted.transform(pinned_texts()).toarray()
    assert values.dtype == np.float32
    assert values.shape == (11, len(style_features.feature_names()))
    assert hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest() == PINNED_SHA256


def test_the_dense_values_are_the_sparse_ones_and_a_text_alone_scores_as_in_a_batch(
    fitted: StyleFeatures,
) -> None:
    texts = pinned_texts()
    dense = fitted.dense_transform(texts)
    np.testing.assert_array_equal(dense, fitted.transform(texts).toarray())
    alone = np.vstack([fitted.dense_transform([text]) for text in texts])
    np.testing.assert_array_equal(alone, dense)


def test_mean_and_std_are_numpy_s_to_the_bit() -> None:
    rng = np.random.default_rng(7)
    for size in [1, 2, 7, 8, 9, 15, 16, 17, 127, 128, 129, 300, 1000]:
        for values in (rng.integers(0, 40, size).tolist(), rng.normal(5, 3, size).tolist()):
            array = np.asarray(values, dtype=float)
            expected = (float(array.mean()), float(array.std()))
            assert style_features._mean_and_std(values) == expected


def test_ascii_character_counts_are_the_counter_s() -> None:
    every_ascii = "".join(map(chr, range(128)))
    for text in [every_ascii * 3, *EDGE_TEXTS, *sample(300, seed=6)["text"].tolist()]:
        if not text.isascii():
            continue
        counts = Counter(text)
        assert style_features._character_counts(text) == (
            [counts.get(p, 0) for p in PUNCTUATION],
            sum(n for c, n in counts.items() if c.isupper()),
            sum(n for c, n in counts.items() if c.isdigit()),
            counts.get(" ", 0),
        )
