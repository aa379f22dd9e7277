"""The compiled scorer gives the pipeline's own probabilities, or refuses to compile."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB, MultinomialNB
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from model_registry import linear_scorer
from model_registry.candidates import char_features, style_features, word_features
from model_registry.linear_scorer import IntHashTable, _unique_counts, compile_linear_scorer
from model_registry.pipeline_input import TextColumn
from model_serving.model_check_texts import CHECK_TEXTS
from model_serving.model_checks import build_loaded_model
from model_serving.model_version import LoadedArtifacts, VersionInfo
from tests.support.model_fixtures import corpus, sample

#: Texts a vocabulary partly or wholly misses, repeats, punctuation only, one word, casing.
EDGE_TEXTS = [
    "!!!",
    "zzqx wvvy",
    "the the the the the the",
    "Essay",
    "ESSAY essay Essay. In conclusion, in CONCLUSION!",
    "a",
    "   ",
    "\u00e9t\u00e9 na\u00efve caf\u00e9 -- \u201cquoted\u201d text\u2026",
]


@pytest.fixture(scope="module")
def data() -> tuple[list[str], list[int], list[str]]:
    frame = sample(500, seed=3)
    held_out = sample(120, seed=11)["text"].tolist()
    return frame["text"].tolist(), frame["generated"].tolist(), held_out + EDGE_TEXTS


def fitted(data: tuple[list[str], list[int], list[str]], *steps: tuple[str, Any]) -> Pipeline:
    texts, labels, _ = data
    return Pipeline(list(steps)).fit(texts, labels)


def assert_same_probabilities(pipeline: Pipeline, texts: list[str], tolerance: float) -> None:
    scorer = compile_linear_scorer(pipeline)
    assert scorer is not None
    expected = pipeline.predict_proba(texts)
    assert np.abs(scorer.predict_proba(texts) - expected).max() <= tolerance
    alone = np.vstack([scorer.predict_proba([text]) for text in texts[:25] + EDGE_TEXTS])
    expected_alone = pipeline.predict_proba(texts[:25] + EDGE_TEXTS)
    assert np.abs(alone - expected_alone).max() <= tolerance


VECTORIZERS = {
    "sklearn defaults, 1-2-grams": dict(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
    "unigrams only": dict(min_df=1),
    "1-3-grams, max_features": dict(ngram_range=(1, 3), min_df=2, max_features=5_000),
    "bigrams only": dict(ngram_range=(2, 2), min_df=2),
    "binary, l1": dict(ngram_range=(1, 2), binary=True, norm="l1", min_df=2),
    "no norm, no idf": dict(ngram_range=(1, 2), norm=None, use_idf=False, min_df=2),
    "stop words, max_df": dict(ngram_range=(1, 2), stop_words="english", max_df=0.5, min_df=2),
    "cased, punctuation tokens": dict(
        ngram_range=(1, 2), lowercase=False, token_pattern=r"(?u)\b\w+\b|[^\w\s]", min_df=2
    ),
    "accents stripped": dict(ngram_range=(1, 2), strip_accents="unicode", min_df=2),
}


@pytest.mark.parametrize("options", VECTORIZERS.values(), ids=VECTORIZERS.keys())
def test_word_tfidf_logistic_regression_gives_the_pipelines_probabilities(data, options) -> None:
    pipeline = fitted(data, ("tfidf", TfidfVectorizer(**options)), ("clf", LogisticRegression()))
    assert_same_probabilities(pipeline, data[2], tolerance=1e-12)


@pytest.mark.parametrize("classifier", [ComplementNB(alpha=0.01), MultinomialNB(alpha=0.1)])
def test_naive_bayes_on_word_tfidf_gives_the_pipelines_probabilities(data, classifier) -> None:
    pipeline = fitted(
        data, ("tfidf", TfidfVectorizer(ngram_range=(1, 2), min_df=2)), ("clf", classifier)
    )
    assert_same_probabilities(pipeline, data[2], tolerance=1e-9)


def test_the_projects_word_candidate_with_its_text_column_step(data) -> None:
    """The shape training registers: TextColumn -> float32 word TF-IDF -> logistic regression."""
    pipeline = fitted(
        data,
        ("text", TextColumn()),
        ("features", word_features()),
        ("clf", LogisticRegression(C=30.0, max_iter=3000)),
    )
    assert_same_probabilities(pipeline, data[2], tolerance=linear_scorer.MAX_ABS_DIFFERENCE)


def test_word_tfidf_plus_style_profile_gives_the_pipelines_probabilities(data) -> None:
    """The word_style_lr candidate: the word block compiled, the style block run as it is."""
    pipeline = fitted(
        data,
        ("text", TextColumn()),
        ("features", FeatureUnion([("word", word_features()), ("style", style_features())])),
        ("clf", LogisticRegression(C=10.0, max_iter=3000)),
    )
    assert_same_probabilities(pipeline, data[2], tolerance=linear_scorer.MAX_ABS_DIFFERENCE)


def test_a_weighted_union_or_one_without_word_tfidf_is_not_compiled(data) -> None:
    weighted = FeatureUnion(
        [("word", word_features()), ("style", style_features())],
        transformer_weights={"word": 1.0, "style": 2.0},
    )
    style_only = fitted(
        data, ("f", FeatureUnion([("s", style_features())])), ("clf", LogisticRegression())
    )
    assert (
        compile_linear_scorer(fitted(data, ("f", weighted), ("clf", LogisticRegression()))) is None
    )
    assert compile_linear_scorer(style_only) is None


def test_linear_weights_is_the_decision_function(data) -> None:
    held_out = data[2]
    for classifier in (LogisticRegression(), ComplementNB(alpha=0.01), MultinomialNB(alpha=0.1)):
        pipeline = fitted(data, ("tfidf", TfidfVectorizer(min_df=2)), ("clf", classifier))
        weights, intercept = linear_scorer.linear_weights(pipeline[-1])
        x = pipeline[:-1].transform(held_out)
        positive = 1.0 / (1.0 + np.exp(-(x @ weights + intercept)))
        np.testing.assert_allclose(positive, pipeline.predict_proba(held_out)[:, 1], atol=1e-9)
    with pytest.raises(TypeError):
        linear_scorer.linear_weights(LinearSVC().fit(np.eye(2), [0, 1]))


def unfitted_or_other(data) -> dict[str, Pipeline]:
    texts, labels, _ = data
    three_labels = [label if index % 3 else 2 for index, label in enumerate(labels)]
    return {
        "char_wb analyzer": fitted(data, ("f", char_features()), ("clf", LogisticRegression())),
        "feature union": fitted(
            data,
            ("f", FeatureUnion([("w", word_features()), ("c", char_features())])),
            ("clf", LogisticRegression()),
        ),
        "linear svm (no probabilities)": fitted(
            data, ("f", TfidfVectorizer()), ("clf", LinearSVC())
        ),
        "three classes": Pipeline([("f", TfidfVectorizer()), ("clf", LogisticRegression())]).fit(
            texts, three_labels
        ),
        "callable analyzer": fitted(
            data, ("f", TfidfVectorizer(analyzer=str.split)), ("clf", LogisticRegression())
        ),
    }


def test_pipelines_it_does_not_reproduce_are_not_compiled(data) -> None:
    for name, pipeline in unfitted_or_other(data).items():
        assert compile_linear_scorer(pipeline) is None, name
    assert compile_linear_scorer(LogisticRegression()) is None


def test_tokens_holding_a_space_are_refused_or_sent_to_the_pipeline(data) -> None:
    """scikit-learn joins n-gram tokens with spaces; a token with a space makes that ambiguous."""
    pattern = r"in conclusion|\b\w\w+\b"
    fitted_here = fitted(
        data,
        ("f", TfidfVectorizer(ngram_range=(1, 2), token_pattern=pattern)),
        ("clf", LogisticRegression()),
    )
    assert compile_linear_scorer(fitted_here) is None  # "in conclusion the" is a 3-token bigram
    vocabulary = ["in", "conclusion", "in conclusion", "the", "essay", "the essay", "ends"]
    texts = ["In conclusion, the essay ends.", "in conclusion in conclusion", "The essay ends."]
    pipeline = Pipeline(
        [
            (
                "f",
                TfidfVectorizer(ngram_range=(1, 2), token_pattern=pattern, vocabulary=vocabulary),
            ),
            ("clf", LogisticRegression()),
        ]
    ).fit(texts * 2, [1, 1, 0, 0, 1, 0])
    scorer = compile_linear_scorer(pipeline)
    assert scorer is not None  # every term splits into one or two tokens
    assert np.abs(scorer.predict_proba(texts) - pipeline.predict_proba(texts)).max() <= 1e-12


@pytest.mark.parametrize("pattern", linear_scorer.FASTER_TOKEN_PATTERNS)
def test_faster_token_patterns_give_the_same_tokens_on_the_whole_corpus(pattern: str) -> None:
    original = re.compile(pattern)
    faster = re.compile(linear_scorer.FASTER_TOKEN_PATTERNS[pattern])
    for text in corpus()["text"]:
        assert faster.findall(text) == original.findall(text)
        assert faster.findall(text.lower()) == original.findall(text.lower())


@settings(max_examples=400, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("ab_Z09 \t\n.,'-!é́中٠​ ")),
        max_size=40,
    )
)
def test_faster_token_patterns_give_the_same_tokens_on_any_text(text: str) -> None:
    for pattern, faster in linear_scorer.FASTER_TOKEN_PATTERNS.items():
        assert re.findall(faster, text) == re.findall(pattern, text)


def test_hash_table_finds_every_key_and_only_those() -> None:
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 2**40, size=20_000))
    values = rng.integers(0, 1_000_000, size=len(keys))
    table = IntHashTable(keys, values)
    assert len(table) == len(keys)
    assert np.array_equal(table.get(keys), values)
    absent = np.setdiff1d(rng.integers(0, 2**40, size=5_000), keys)
    assert np.all(table.get(absent) == -1)
    consecutive = np.arange(1_000, dtype=np.int64) * 1024  # many keys sharing low bits
    shared_low_bits = IntHashTable(consecutive, consecutive + 1)
    assert np.array_equal(shared_low_bits.get(consecutive), consecutive + 1)
    empty = IntHashTable(np.empty(0, np.int64), np.empty(0, np.int64))
    assert empty.get(keys[:3]).tolist() == [-1] * 3
    with pytest.raises(ValueError, match="duplicate"):
        IntHashTable(np.array([1, 1]), np.array([2, 3]))
    few = np.concatenate([keys[:4], absent[:4]])  # probed one by one from the first round
    assert table.get(few).tolist() == [*values[:4].tolist(), -1, -1, -1, -1]


@pytest.mark.parametrize("size", [0, 1, 2, 50, 5_000])
def test_unique_counts_is_numpys_unique_with_counts(size: int) -> None:
    keys = np.random.default_rng(size).integers(0, 40, size=size)
    unique, counts = _unique_counts(keys)
    expected_unique, expected_counts = np.unique(keys, return_counts=True)
    assert np.array_equal(unique, expected_unique) and np.array_equal(counts, expected_counts)
    assert counts.dtype == expected_counts.dtype


class ServedVersion:
    info = VersionInfo("m", "champion", "1", "run-1", {"threshold": "0.5"})


def test_a_loaded_model_scores_compiled_only_when_allowed_and_identical(data, monkeypatch) -> None:
    pipeline = fitted(
        data, ("tfidf", TfidfVectorizer(ngram_range=(1, 2))), ("clf", LogisticRegression())
    )
    artifacts = LoadedArtifacts(pipeline=pipeline)
    compiled = build_loaded_model(ServedVersion.info, artifacts)
    assert compiled.scoring == "compiled"
    texts = list(CHECK_TEXTS) + data[2][:10]
    expected = pipeline.predict_proba(texts)[:, 1]
    assert np.allclose(compiled.predict_proba(texts), expected, atol=1e-12)
    switched_off = build_loaded_model(ServedVersion.info, artifacts, compile_scorer=False)
    assert switched_off.scoring == "pipeline"

    class Off:
        """A compiled scorer that is wrong by 0.01: the load-time check must refuse it."""

        def __init__(self, scorer: Any) -> None:
            self.scorer = scorer

        def predict_proba(self, texts: list[str]) -> np.ndarray:
            shift = np.array([[-0.01, 0.01]])
            return np.clip(self.scorer.predict_proba(texts) + shift, 0, 1)

    real_compile = linear_scorer.compile_linear_scorer
    monkeypatch.setattr(
        "model_serving.model_checks.compile_linear_scorer", lambda p: Off(real_compile(p))
    )
    assert build_loaded_model(ServedVersion.info, artifacts).scoring == "pipeline"


@pytest.mark.parametrize("pattern", linear_scorer.ASCII_TOKEN_PATTERNS)
def test_ascii_token_patterns_give_the_same_tokens_on_ascii_texts(pattern: str) -> None:
    original = re.compile(pattern)
    ascii_pattern = re.compile(linear_scorer.ASCII_TOKEN_PATTERNS[pattern])
    every_ascii = "".join(map(chr, range(128)))
    mixed = [f"{a}{b}x'{b}1{a}" for a in every_ascii for b in every_ascii[::7]]
    ascii_texts = [text for text in corpus()["text"] if text.isascii()]
    for text in [every_ascii, every_ascii[::-1], *mixed, *ascii_texts]:
        assert ascii_pattern.findall(text) == original.findall(text)
