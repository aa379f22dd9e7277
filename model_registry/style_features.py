"""How a text is written rather than what it is about: a small dense profile per text.

Features (all rates, so length matters little): function-word frequencies (``FUNCTION_WORDS``),
punctuation and character-class rates, sentence-length mean / spread / coefficient of variation,
word-length mean and spread, type-token ratio over the first ``TTR_WINDOW`` words, hapax share,
contraction and first-person rates, and word-rarity statistics: the mean and spread of each word's
log-frequency rank in a general frequency list fitted on the training texts (``fit``), and the
share of words outside it. The profile is standardised with the training mean and spread, so a
linear model's weights compare across features; the output is a sparse matrix, so it stacks with
TF-IDF blocks (``FeatureUnion``) without densifying them.

Why: topic words carry over badly to a genre nobody trained on; style statistics are known to
carry over better (function words, punctuation, burstiness of sentence lengths).

This module is pickled *by value* into each model artifact (like ``pipeline_input``): standard
library, numpy, scipy and scikit-learn only.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from itertools import compress, repeat
from operator import itemgetter, not_
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

FUNCTION_WORDS = tuple(
    """a about above after again against all also although am among an and another any are as at
    be because been before being below between both but by can could did do does doing down
    during each either even every few for from further had has have having he her here hers
    herself him himself his how however i if in into is it its itself just least less like may
    me might more most much must my myself neither no nor not now of off often on once one
    only or other our ours ourselves out over own per quite rather same several she should
    since so some such than that the their theirs them themselves then there therefore these
    they this those though through thus to too under until up upon us very was we were what
    when where whether which while who whom whose why will with within without would yet you
    your yours yourself moreover furthermore additionally overall ultimately crucial essential
    significant various""".split()  # noqa: SIM905 (a list of words, kept readable)
)
PUNCTUATION = tuple(",.;:!?'\"()-[]/&*%$#@")
TTR_WINDOW = 200
VOCABULARY_SIZE = 50_000
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(A-Z0-9])")
#: ``_WORD`` or ``_SENTENCE_END`` in one pass. A word holds no white space and a sentence end is
#: nothing but white space, so the words it finds are ``_WORD.findall(text)`` and the white-space
#: items split them into the sentences of ``_SENTENCE_END.split(text)``.
_WORD_OR_SENTENCE_END = re.compile(f"{_WORD.pattern}|{_SENTENCE_END.pattern}")
#: What counts contractions (letters, an apostrophe, a suffix): the last letter before the
#: apostrophe stands for the run. Each match of the full pattern holds one apostrophe with a letter
#: before it, and so does each match of this one, with the same suffix after it; a match ends on a
#: letter followed by a non-word character, so the next run of letters (both patterns' letters are
#: word characters) starts after it in either pattern: they count the same apostrophes.
_CONTRACTION = re.compile(r"[A-Za-z]'(?:s|t|re|ve|ll|d|m)\b", re.IGNORECASE)
_FIRST_PERSON = frozenset({"i", "me", "my", "mine", "we", "us", "our"})


def feature_names() -> list[str]:
    names = [f"fw={w}" for w in FUNCTION_WORDS]
    names += [f"punct={p}" for p in PUNCTUATION]
    names += [
        "upper_rate",
        "digit_rate",
        "space_rate",
        "sentence_len_mean",
        "sentence_len_std",
        "sentence_len_cv",
        "word_len_mean",
        "word_len_std",
        "long_word_rate",
        "type_token_ratio",
        "hapax_share",
        "contraction_rate",
        "first_person_rate",
        "capitalised_word_rate",
        "rarity_mean",
        "rarity_std",
        "unknown_word_rate",
        "log_length",
    ]
    return names


def words_and_sentence_lengths(text: str) -> tuple[list[str], list[int]]:
    """``_WORD.findall(text)``, and the number of those words in each sentence that is not blank
    (``[s for s in _SENTENCE_END.split(text) if s.strip()]``), from one regex pass."""
    items = _WORD_OR_SENTENCE_END.findall(text)
    # A word holds no white space and a sentence end nothing else: C-level flags, no item loop.
    is_end = list(map(str.isspace, items))
    n_ends = is_end.count(True)
    if not n_ends:  # one sentence
        return items, [len(items)] if text.strip() else []
    words = list(compress(items, map(not_, is_end)))
    lengths = []
    start = 0
    for _ in range(n_ends):
        end = is_end.index(True, start)
        lengths.append(end - start)
        start = end + 1
    lengths.append(len(items) - start)
    # Every piece next to a sentence end holds its "." / "!" / "?" or the following quote, capital
    # or digit, so none of them is blank.
    return words, lengths


def _contractions(text: str) -> int:
    return len(_CONTRACTION.findall(text)) if "'" in text else 0


_PUNCTUATION_BYTES = [p.encode("ascii") for p in PUNCTUATION]
_ASCII_UPPER = bytes(range(ord("A"), ord("Z") + 1))
_ASCII_DIGITS = bytes(range(ord("0"), ord("9") + 1))


def _character_counts(text: str) -> tuple[list[int], int, int, int]:
    """How often each ``PUNCTUATION`` mark occurs in ``text``, and how many of its characters are
    upper case, digits and spaces (``str.isupper`` / ``str.isdigit`` / ``" "``). An ASCII text is
    counted on its bytes (where upper case is ``A-Z`` and a digit ``0-9``), without a ``Counter``
    of its characters."""
    if text.isascii():
        data = text.encode("ascii")
        return (
            list(map(data.count, _PUNCTUATION_BYTES)),
            len(data) - len(data.translate(None, _ASCII_UPPER)),
            len(data) - len(data.translate(None, _ASCII_DIGITS)),
            data.count(b" "),
        )
    char_counts = Counter(text)
    return (
        [char_counts.get(p, 0) for p in PUNCTUATION],
        sum(n for c, n in char_counts.items() if c.isupper()),
        sum(n for c, n in char_counts.items() if c.isdigit()),
        char_counts.get(" ", 0),
    )


def _mean_and_std(values: list[int] | list[float]) -> tuple[float, float]:
    """``values``' mean and standard deviation exactly as ``ndarray.mean()`` / ``.std()`` compute
    them (the same float64 sums in the same order), with a few numpy calls instead of two."""
    array = np.asarray(values, dtype=np.float64)
    mean = np.add.reduce(array) / len(array)
    deviation = array - mean
    return float(mean), math.sqrt(np.add.reduce(deviation * deviation) / len(array))


def _profile(text: str, ranks: dict[str, float], unknown_rank: float) -> list[float]:
    n_chars = max(len(text), 1)
    words, sentence_lengths = words_and_sentence_lengths(text)
    lower = list(map(str.lower, words))
    n_words = max(len(words), 1)
    counts = Counter(lower)
    out = [count / n_words for count in map(counts.get, FUNCTION_WORDS, repeat(0))]
    punctuation, upper, digits, spaces = _character_counts(text)
    out += [count / n_chars for count in punctuation]
    out += [upper / n_chars, digits / n_chars, spaces / n_chars]
    mean_len, std_len = _mean_and_std(sentence_lengths or [0])
    out += [mean_len, std_len, std_len / mean_len if mean_len else 0.0]
    word_lengths = list(map(len, words)) or [0]
    mean_word, std_word = _mean_and_std(word_lengths)
    out += [mean_word, std_word, sum(map((7).__le__, word_lengths)) / len(word_lengths)]
    window = lower[:TTR_WINDOW]
    out.append(len(set(window)) / max(len(window), 1))
    out.append(list(counts.values()).count(1) / n_words)
    out.append(_contractions(text) / n_words)
    out.append(sum(counts.get(w, 0) for w in _FIRST_PERSON) / n_words)
    out.append(sum(map(str.isupper, map(itemgetter(0), words[1:]))) / n_words)
    rarity = list(map(ranks.get, lower, repeat(unknown_rank, len(lower))))
    rarity_mean, rarity_std = _mean_and_std(rarity or [unknown_rank])
    # A word outside the list reads as ``unknown_rank``, which is above every rank in it.
    out += [rarity_mean, rarity_std, rarity.count(unknown_rank) / n_words]
    out.append(math.log1p(len(text)))
    return out


class StyleFeatures(TransformerMixin, BaseEstimator):
    """Text list -> standardised style profile (sparse CSR, float32); see the module docstring."""

    def __init__(self, vocabulary_size: int = VOCABULARY_SIZE) -> None:
        self.vocabulary_size = vocabulary_size

    def fit(self, X: Any, y: Any = None) -> StyleFeatures:  # noqa: N803 (scikit-learn API)
        texts = list(X)
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(w.lower() for w in _WORD.findall(text))
        common = counts.most_common(self.vocabulary_size)
        # Plain str -> float (no numpy scalars in the pickled vocabulary).
        self.ranks_ = {word: math.log1p(rank) for rank, (word, _) in enumerate(common)}
        self.unknown_rank_ = math.log1p(len(common))
        raw = self._raw(texts)
        self.mean_ = raw.mean(axis=0)
        self.scale_ = np.where(raw.std(axis=0) > 1e-9, raw.std(axis=0), 1.0)
        return self

    def _raw(self, texts: list[str]) -> np.ndarray:
        rows = [_profile(t, self.ranks_, self.unknown_rank_) for t in texts]
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(feature_names()))

    def transform(self, X: Any) -> sp.csr_matrix:  # noqa: N803
        return sp.csr_matrix(self.dense_transform(X))

    def dense_transform(self, X: Any) -> np.ndarray:  # noqa: N803
        """``transform``'s values as a dense float32 array: what the compiled scorer
        (``linear_scorer``) multiplies, as building a sparse matrix of one row costs more than
        the arithmetic of the profile."""
        standardised = (self._raw(list(X)) - self.mean_) / self.scale_
        dense: np.ndarray = np.clip(standardised, -10.0, 10.0).astype(np.float32)
        return dense

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"style:{name}" for name in feature_names()], dtype=object)
