"""A faster, exact scorer for word TF-IDF (+ cheap extra blocks) + linear pipelines, compiled
from the fitted pipeline; and ``feature_weights``, the one place that says what a classifier's
per-feature weights are (used by the scorer through ``linear_weights``, by explanations and by the
tests).

Why: scikit-learn's ``TfidfVectorizer.transform`` builds every n-gram of a text as a Python
string (``" ".join`` per position) and looks each one up in a Python dict, one at a time: for an
essay that is most of ``predict_proba``'s time, more than tokenizing (the speed-up this buys is
measured in ``bench/results/serve.json``, ``model_alone_in_process_one_core``). This module
keeps the pipeline's own steps for everything that touches raw text -- the vectorizer's
``build_preprocessor()``, its token pattern (for the two common patterns, an equivalent regex that
runs faster: ``FASTER_TOKEN_PATTERNS``, and on an ASCII text ``ASCII_TOKEN_PATTERNS``) and
stop-word list, and the steps before the vectorizer -- and replaces only the n-gram lookup and
the arithmetic after it:

1. each token is mapped to an integer once (one dict lookup per token; a token that appears in no
   vocabulary n-gram gets ``-1``, which also voids every n-gram containing it);
2. n-grams become integer keys (``id1 * T + id2`` ...) for the whole batch at once and are looked
   up in an integer hash table built from the fitted vocabulary (``IntHashTable``);
3. counts per (text, feature) come from one sort of the batch; then, exactly as
   ``TfidfTransformer`` does, ``binary`` / ``1 + log(tf)`` / ``x idf`` / l2 or l1 normalisation,
   and the classifier's linear decision ``x . w + b`` and link (logistic for logistic regression,
   the two-class softmax -- also a logistic -- for naive Bayes' ``feature_log_prob_``).

Extra feature blocks: the feature step may also be a ``FeatureUnion`` of one word
``TfidfVectorizer`` and other transformers that are not TF-IDF vectorizers (the style profile,
``style_features.StyleFeatures``, and the LM likelihood block, ``lm_features``, each of which
costs about as much per text as the compiled word block). Those blocks run their own code (the
pipeline's, unchanged: ``dense_transform`` when they have it, the same values as ``transform``
without building a one-row sparse matrix, which costs more than their arithmetic; else
``transform``) and add ``block(x) . w_block`` to the decision; only the word block is compiled.
The steps before the features (``TextColumn``) run one by one, not through ``Pipeline.transform``,
whose metadata routing costs more per call than ``TextColumn`` itself.

It is not a different model: ``compile_linear_scorer`` returns ``None`` for any pipeline it does
not cover exactly (char analyzers, custom analyzers, weighted unions, more than two classes,
n-grams whose keys would not fit in 63 bits, vocabulary terms that do not split into the right
number of tokens, ...),
and the caller (``model_holder``) also checks it against ``pipeline.predict_proba`` on the
built-in check texts at load time and serves the pipeline itself if they differ by more than
``MAX_ABS_DIFFERENCE``. At score time a text whose tokens contain a space (which scikit-learn's
``" ".join`` would make ambiguous) sends the whole batch to the pipeline. Explanations still come
from the pipeline (``explain.py``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from model_registry import contract

logger = logging.getLogger(__name__)

#: Largest difference in P(AI) from ``pipeline.predict_proba`` accepted at load time (float32
#: TF-IDF in the pipeline vs float64 here differ by ~1e-7).
MAX_ABS_DIFFERENCE = 1e-5
KEY_BITS = 62
#: Token patterns and an equivalent that Python's ``re`` runs faster. In ``findall`` a match
#: of ``\b\w+\b`` can only start at a word's first character (an attempt inside a word would
#: have matched earlier) and a greedy ``\w+`` always ends at a word boundary, so dropping the
#: ``\b`` assertions changes no token (also checked on the whole corpus by the unit tests).
FASTER_TOKEN_PATTERNS = {
    r"(?u)\b\w\w+\b": r"(?u)\w{2,}",  # scikit-learn's default
    r"(?u)\b\w+\b|[^\w\s]": r"(?u)\w+|[^\w\s]",  # model_registry.candidates.WORD_TOKEN_PATTERN
}
#: The same patterns for an ASCII text, spelled with ASCII ranges that ``re`` checks faster than
#: its Unicode categories: on ASCII, ``\w`` is ``[A-Za-z0-9_]`` and ``\s`` is
#: ``[ \t\n\r\f\v\x1c-\x1f]`` (``str.isspace``). Tokens of these patterns hold no white space.
ASCII_TOKEN_PATTERNS = {
    r"(?u)\b\w\w+\b": r"[A-Za-z0-9_]{2,}",
    r"(?u)\b\w+\b|[^\w\s]": r"[A-Za-z0-9_]+|[^A-Za-z0-9_ \t\n\r\f\v\x1c-\x1f]",
}


class _TokenIds(dict[str, int]):
    """Token -> id; an unknown token reads as -1 (``map(ids.__getitem__, ...)`` stays in C)."""

    def __missing__(self, token: str) -> int:
        return -1


class LinearTextScorer:
    """``predict_proba`` for a word TF-IDF + two-class linear pipeline, without n-gram strings."""

    def __init__(
        self,
        pipeline: Any,
        prefix: Callable[[list[str]], list[str]] | None,
        vectorizer: TfidfVectorizer,
        weights: np.ndarray,
        intercept: float,
        extras: Sequence[tuple[Any, np.ndarray]] = (),
    ) -> None:
        self.pipeline = pipeline
        #: Extra blocks of a FeatureUnion: (fitted transformer, its slice of the weights).
        self._extras = [(block, np.asarray(w, dtype=np.float64)) for block, w in extras]
        self._prefix = prefix
        self._preprocess = vectorizer.build_preprocessor()
        self._tokenize, tokens_may_hold_spaces = _tokenizer(vectorizer)
        stop_words = vectorizer.get_stop_words()
        self._stop_words = frozenset(stop_words) if stop_words else None
        self._min_n, self._max_n = vectorizer.ngram_range
        #: A token holding a space would make its n-gram strings ambiguous: look for one.
        self._check_spaces = self._max_n > 1 and tokens_may_hold_spaces
        self._binary = bool(vectorizer.binary)
        self._sublinear = bool(vectorizer.sublinear_tf)
        self._norm = vectorizer.norm
        self._n_features = len(vectorizer.vocabulary_)
        idf = getattr(vectorizer, "idf_", None) if vectorizer.use_idf else None
        self._idf = None if idf is None else np.asarray(idf, dtype=np.float64)
        self._weights = np.asarray(weights, dtype=np.float64)
        self._intercept = float(intercept)
        self._token_ids, self._unigram_feature, self._ngram_tables = _index_vocabulary(
            vectorizer.vocabulary_, self._min_n, self._max_n
        )
        self._n_tokens = len(self._token_ids)

    # --- scoring ---------------------------------------------------------------------------

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """``[[P(class 0), P(class 1)], ...]`` as the pipeline's ``predict_proba`` returns them."""
        documents = self._prefix(list(texts)) if self._prefix is not None else list(texts)
        ids, lengths = self._token_id_array(documents)
        if ids is None:
            return np.asarray(self.pipeline.predict_proba(list(texts)), dtype=np.float64)
        decision = self._decisions(ids, lengths)
        for block, block_weights in self._extras:
            decision = decision + _block_decision(block, documents, block_weights)
        positive = expit(decision)
        return np.column_stack([1.0 - positive, positive])

    def _token_id_array(self, documents: list[str]) -> tuple[np.ndarray | None, np.ndarray]:
        lookup = self._token_ids.__getitem__
        stop_words = self._stop_words
        all_ids: list[int] = []
        lengths = np.empty(len(documents), dtype=np.int64)
        for index, document in enumerate(documents):
            tokens = self._tokenize(self._preprocess(document))
            if stop_words is not None:
                tokens = [token for token in tokens if token not in stop_words]
            if self._check_spaces and " ".join(tokens).count(" ") != max(len(tokens) - 1, 0):
                return None, lengths  # a token holds a space: n-gram strings would be ambiguous
            all_ids.extend(map(lookup, tokens))
            lengths[index] = len(tokens)
        return np.asarray(all_ids, dtype=np.int64), lengths

    def _decisions(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        n_texts = len(lengths)
        # One text (serving's usual call): every position is in text 0, no text bookkeeping.
        text_of = None if n_texts == 1 else np.repeat(np.arange(n_texts, dtype=np.int64), lengths)
        found_texts: list[np.ndarray] = []
        found_features: list[np.ndarray] = []
        for n in range(self._min_n, self._max_n + 1):
            texts_n, features_n = self._ngram_features_of(n, ids, text_of)
            found_texts.append(texts_n)
            found_features.append(features_n)
        keys = np.concatenate(found_features)
        if text_of is not None:
            keys = np.concatenate(found_texts) * self._n_features + keys
        unique, counts = _unique_counts(keys)
        if text_of is None:
            text_index, feature = np.zeros(len(unique), dtype=np.int64), unique
        else:
            text_index, feature = np.divmod(unique, self._n_features)
        values = np.ones(len(unique)) if self._binary else counts.astype(np.float64)
        if self._sublinear:
            values = np.log(values) + 1.0
        if self._idf is not None:
            values = values * self._idf[feature]
        decision: np.ndarray = np.bincount(
            text_index, values * self._weights[feature], minlength=n_texts
        )
        if self._norm is not None:
            size = values * values if self._norm == "l2" else np.abs(values)
            norms = np.bincount(text_index, size, minlength=n_texts)
            if self._norm == "l2":
                norms = np.sqrt(norms)
            norms[norms == 0.0] = 1.0  # sklearn's normalize leaves an all-zero row as it is
            decision = decision / norms
        return decision + self._intercept

    def _ngram_features_of(
        self, n: int, ids: np.ndarray, text_of: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(text index, feature index) of every n-gram of the batch found in the vocabulary
        (``text_of`` ``None``: one text, and the text indexes are left empty)."""
        if n == 1:
            features = self._unigram_feature[ids]  # ids == -1 reads the trailing -1
            found = features >= 0
            return (_EMPTY if text_of is None else text_of[found]), features[found]
        count = len(ids) - n + 1
        if count <= 0:
            return _EMPTY, _EMPTY
        keys = ids[:count].copy()
        valid = keys >= 0
        if text_of is not None:
            valid &= text_of[:count] == text_of[n - 1 : n - 1 + count]
        for offset in range(1, n):
            following = ids[offset : offset + count]
            valid &= following >= 0
            keys = keys * self._n_tokens + following
        features = self._ngram_tables[n].get(keys[valid])
        found = features >= 0
        if text_of is None:
            return _EMPTY, features[found]
        return text_of[:count][valid][found], features[found]


_EMPTY = np.empty(0, dtype=np.int64)


def _unique_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_counts=True)`` (the same arrays), without its generic wrapper,
    which costs more than the sort on the few hundred keys of one text."""
    keys = np.sort(keys)
    if not len(keys):
        return keys, np.empty(0, dtype=np.intp)
    first = np.empty(len(keys), dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.empty(len(starts), dtype=np.intp)
    np.subtract(starts[1:], starts[:-1], out=counts[:-1])
    counts[-1] = len(keys) - starts[-1]
    return keys[first], counts


def _block_decision(block: Any, documents: list[str], weights: np.ndarray) -> np.ndarray:
    """``block(x) . w`` per text, from the block's dense values when it has ``dense_transform``
    (the style and LM blocks: a sparse matrix of one row costs more to build than their profile),
    else from its ``transform``."""
    dense = getattr(block, "dense_transform", None)
    values = dense(documents) if dense is not None else block.transform(documents)
    return np.asarray(values @ weights).ravel()


class IntHashTable:
    """A read-only open-addressing hash table from non-negative int64 keys to int64 values.

    Built once, looked up for a whole array of keys at a time: multiplicative (Fibonacci) hashing
    into a table at most a quarter full, linear probing, each probe round one vectorised gather
    over the keys not resolved yet: for the tens of thousands of n-grams of a batch, faster than
    ``numpy.searchsorted`` over the sorted keys (which is why it exists).
    """

    MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
    EMPTY = -1
    #: Keys left unresolved at or below this many are probed one by one (``_probe_each``).
    PROBE_IN_PYTHON = 8

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.int64)
        values = np.asarray(values, dtype=np.int64)
        if len(np.unique(keys)) != len(keys):
            raise ValueError("duplicate keys")
        if len(keys) and keys.min() < 0:
            raise ValueError("keys must be non-negative")
        self._bits = max(4, (4 * max(len(keys), 1) - 1).bit_length())
        self._mask = np.int64((1 << self._bits) - 1)
        self._keys = np.full(1 << self._bits, self.EMPTY, dtype=np.int64)
        self._values = np.full(1 << self._bits, self.EMPTY, dtype=np.int64)
        pending = np.arange(len(keys))
        slots = self._slots(keys)
        while len(pending):
            wanted = slots[pending]
            free = self._keys[wanted] == self.EMPTY
            free_slots, first = np.unique(wanted[free], return_index=True)
            winners = pending[free][first]
            self._keys[free_slots] = keys[winners]
            self._values[free_slots] = values[winners]
            placed = np.zeros(len(keys), dtype=bool)
            placed[winners] = True
            pending = pending[~placed[pending]]
            slots[pending] = (slots[pending] + 1) & self._mask

    def _probe_each(
        self, active: np.ndarray, keys: np.ndarray, slots: np.ndarray, result: np.ndarray
    ) -> None:
        """The last few keys' probes one key at a time: the same probes as a vectorised round,
        without its fixed cost of several array operations per round."""
        table_keys, table_values, mask = self._keys, self._values, int(self._mask)
        for index, key, slot in zip(active.tolist(), keys.tolist(), slots.tolist(), strict=True):
            while True:
                stored = int(table_keys[slot])
                if stored == key:
                    result[index] = table_values[slot]
                    break
                if stored == self.EMPTY:
                    break
                slot = (slot + 1) & mask

    def __len__(self) -> int:
        return int(np.count_nonzero(self._keys != self.EMPTY))

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        hashed = keys.astype(np.uint64) * self.MULTIPLIER  # wraps modulo 2**64, as intended
        return (hashed >> np.uint64(64 - self._bits)).astype(np.int64)

    def get(self, keys: np.ndarray) -> np.ndarray:
        """The value of each key, ``-1`` where a key is absent."""
        keys = np.asarray(keys, dtype=np.int64)
        result = np.full(len(keys), self.EMPTY, dtype=np.int64)
        active = np.arange(len(keys))
        slots = self._slots(keys)
        while len(active):
            if len(active) <= self.PROBE_IN_PYTHON:
                self._probe_each(active, keys, slots, result)
                break
            stored = self._keys[slots]
            hit = stored == keys
            result[active[hit]] = self._values[slots[hit]]
            unresolved = ~hit & (stored != self.EMPTY)
            active, keys = active[unresolved], keys[unresolved]
            slots = (slots[unresolved] + 1) & self._mask
        return result


# --- compiling ----------------------------------------------------------------------------------


class NotCompilable(Exception):
    """The pipeline is outside what ``LinearTextScorer`` reproduces exactly."""


def compile_linear_scorer(pipeline: Any) -> LinearTextScorer | None:
    """A ``LinearTextScorer`` equivalent to ``pipeline``, or ``None`` (with the reason logged)."""
    try:
        return _compile(pipeline)
    except NotCompilable as exc:
        logger.info("serving the pipeline as it is (no compiled scorer): %s", exc)
        return None


def _compile(pipeline: Any) -> LinearTextScorer:
    steps = getattr(pipeline, "steps", None)
    if not steps or len(steps) < 2:
        raise NotCompilable("not a scikit-learn Pipeline of features then a classifier")
    features, classifier = steps[-2][1], steps[-1][1]
    vectorizer, word_slice, extra_blocks = _feature_blocks(features)
    if vectorizer.analyzer != "word":  # a callable analyzer too
        raise NotCompilable(f"the vectorizer's analyzer is {vectorizer.analyzer!r}, not 'word'")
    if vectorizer.norm not in ("l2", "l1", None):
        raise NotCompilable(f"the vectorizer's norm is {vectorizer.norm!r}")
    n_features = max([word_slice.stop, *(s.stop for _, s in extra_blocks)])
    try:
        weights, intercept = linear_weights(classifier)
    except TypeError as exc:
        raise NotCompilable(str(exc)) from exc
    if weights.shape != (n_features,):
        raise NotCompilable(f"the classifier has {weights.shape} weights for {n_features} features")
    prefix = _steps_transform([step for _, step in steps[:-2]]) if len(steps) > 2 else None
    extras = [(block, weights[block_slice]) for block, block_slice in extra_blocks]
    return LinearTextScorer(pipeline, prefix, vectorizer, weights[word_slice], intercept, extras)


def _steps_transform(steps: list[Any]) -> Callable[[list[str]], list[str]]:
    """The steps before the features (e.g. ``TextColumn``), each one's ``transform`` in turn: what
    ``Pipeline.transform`` does for them, without its per-call metadata routing (which costs
    more than ``TextColumn`` itself on a single text)."""
    active = [step for step in steps if step not in (None, "passthrough")]

    def transform(documents: list[str]) -> list[str]:
        values: Any = documents
        for step in active:
            values = step.transform(values)
        texts: list[str] = values
        return texts

    return transform


def _feature_blocks(features: Any) -> tuple[TfidfVectorizer, slice, list[tuple[Any, slice]]]:
    """The word vectorizer, its columns, and every other block with its columns."""
    if type(features) is TfidfVectorizer:
        return features, slice(0, len(features.vocabulary_)), []
    if type(features) is not FeatureUnion:
        raise NotCompilable(f"the feature step is a {type(features).__name__}")
    if features.transformer_weights:
        raise NotCompilable("the FeatureUnion weights its blocks")
    word: tuple[TfidfVectorizer, slice] | None = None
    extras: list[tuple[Any, slice]] = []
    start = 0
    for _, block in features.transformer_list:
        if block in ("drop", None):
            continue
        if block == "passthrough":
            raise NotCompilable("a passthrough block in the FeatureUnion")
        if type(block) is TfidfVectorizer:
            width = len(block.vocabulary_)
            if word is not None:
                raise NotCompilable("more than one TF-IDF block in the FeatureUnion")
            word = (block, slice(start, start + width))
        else:
            width = len(block.get_feature_names_out())
            extras.append((block, slice(start, start + width)))
        start += width
    if word is None:
        raise NotCompilable("no word TF-IDF block in the FeatureUnion")
    return word[0], word[1], extras


def _tokenizer(vectorizer: TfidfVectorizer) -> tuple[Callable[[str], list[str]], bool]:
    """The vectorizer's own tokenizer, or the same pattern's faster equivalents (one for ASCII
    texts, one for the others); and whether its tokens may hold a space."""
    faster = FASTER_TOKEN_PATTERNS.get(vectorizer.token_pattern)
    if vectorizer.tokenizer is None and faster is not None:
        unicode_findall = re.compile(faster).findall
        ascii_findall = re.compile(ASCII_TOKEN_PATTERNS[vectorizer.token_pattern]).findall

        def tokenize(document: str) -> list[str]:
            tokens: list[str] = (ascii_findall if document.isascii() else unicode_findall)(document)
            return tokens

        return tokenize, False
    tokenizer: Callable[[str], list[str]] = vectorizer.build_tokenizer()
    return tokenizer, True


#: How ``feature_weights`` read a classifier (the ``method`` of an explanation).
COEFFICIENT = "coefficient_x_feature_value"
LOG_PROBABILITY_RATIO = "log_probability_ratio_x_feature_value"
MEAN_CALIBRATED_COEFFICIENT = "mean_calibrated_coefficient_x_feature_value"


def feature_weights(classifier: Any) -> tuple[str, np.ndarray]:
    """The one reading of a two-class classifier's per-feature weights towards AI: ``(method, w)``,
    where a feature's contribution to a text's score is ``x[j] * w[j]``.

    Linear models (``coef_``: logistic regression, linear SVM): ``w = coef_``, the feature's
    exact additive share of the decision function. Naive-Bayes-like models (``feature_log_prob_``):
    ``w = log P(j|ai) - log P(j|human)``, its share of the log-likelihood ratio. A
    ``CalibratedClassifierCV`` around linear models: the mean ``coef_`` of its calibrated
    estimators (calibration is monotonic, so the ranking of contributions holds). The sign is
    turned so that positive always points to ``contract.LABEL_AI``. Raises ``TypeError`` for
    anything else.
    """
    classes = list(getattr(classifier, "classes_", []))
    if len(classes) != 2 or contract.LABEL_AI not in classes:
        raise TypeError("the classifier is not a fitted two-class classifier with the AI class")
    ai = classes.index(contract.LABEL_AI)
    sign = 1.0 if ai == 1 else -1.0
    coef = getattr(classifier, "coef_", None)
    if coef is not None:
        return COEFFICIENT, sign * np.asarray(coef, dtype=np.float64).ravel()
    log_prob = getattr(classifier, "feature_log_prob_", None)
    if log_prob is not None:
        log_prob = np.asarray(log_prob, dtype=np.float64)
        return LOG_PROBABILITY_RATIO, log_prob[ai] - log_prob[1 - ai]
    calibrated = getattr(classifier, "calibrated_classifiers_", None)
    if calibrated:
        coefs = [getattr(c.estimator, "coef_", None) for c in calibrated]
        if all(c is not None for c in coefs):
            mean = np.mean([np.asarray(c, dtype=np.float64).ravel() for c in coefs], axis=0)
            return MEAN_CALIBRATED_COEFFICIENT, sign * mean
    raise TypeError(f"no per-feature weights for a {type(classifier).__name__}")


def linear_weights(classifier: Any) -> tuple[np.ndarray, float]:
    """``(w, b)`` with P(AI) = logistic(x . w + b), exactly as ``classifier`` computes it.

    ``w`` is ``feature_weights``' reading; ``b`` is the intercept of logistic regression, the log
    prior ratio of MultinomialNB, or 0 for ComplementNB without ``norm`` (which adds no prior with
    two classes). Only those are exact; anything else (linear SVMs, calibrated wrappers,
    ComplementNB with ``norm``) raises ``TypeError``.
    """
    from sklearn.linear_model import LogisticRegression

    name = type(classifier).__name__
    if isinstance(classifier, LogisticRegression):  # also ensemble.TwoBlockLogitSum
        _, weights = feature_weights(classifier)
        return weights, float(np.asarray(classifier.intercept_).ravel()[0])
    if name == "MultinomialNB" or (name == "ComplementNB" and not getattr(classifier, "norm", 0)):
        _, weights = feature_weights(classifier)
        intercept = 0.0
        if name == "MultinomialNB":
            prior = np.asarray(classifier.class_log_prior_, dtype=np.float64)
            intercept = float(prior[1] - prior[0])
        return weights, intercept
    raise TypeError(f"the classifier is a {name} (norm={getattr(classifier, 'norm', None)})")


def _index_vocabulary(
    vocabulary: dict[str, int], min_n: int, max_n: int
) -> tuple[_TokenIds, np.ndarray, dict[int, IntHashTable]]:
    """Token ids, unigram features by token id, and n-gram keys to features by n (n >= 2)."""
    token_ids = _TokenIds()
    split_terms: list[tuple[list[int], int]] = []
    for term, feature in vocabulary.items():
        parts = term.split(" ")
        if not min_n <= len(parts) <= max_n or "" in parts:
            raise NotCompilable(f"vocabulary term {term!r} is not a {min_n}-{max_n}-gram of tokens")
        ids = [token_ids.setdefault(part, len(token_ids)) for part in parts]
        split_terms.append((ids, feature))
    n_tokens = len(token_ids)
    if max_n > 1 and max_n * max(n_tokens, 2).bit_length() > KEY_BITS:
        raise NotCompilable(f"{max_n}-gram keys over {n_tokens} tokens do not fit in 62 bits")
    unigram_feature = np.full(n_tokens + 1, -1, dtype=np.int64)  # last slot: unknown token (-1)
    keys: dict[int, list[int]] = {n: [] for n in range(2, max_n + 1)}
    features: dict[int, list[int]] = {n: [] for n in range(2, max_n + 1)}
    for term_ids, feature in split_terms:
        if len(term_ids) == 1:
            unigram_feature[term_ids[0]] = feature
            continue
        key = 0
        for term_id in term_ids:
            key = key * n_tokens + term_id
        keys[len(term_ids)].append(key)
        features[len(term_ids)].append(feature)
    tables = {n: IntHashTable(np.asarray(keys[n]), np.asarray(features[n])) for n in keys}
    return token_ids, unigram_feature, tables
