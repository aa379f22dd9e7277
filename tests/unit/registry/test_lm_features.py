"""The n-gram language-model likelihood block: its probabilities, no label leakage, servability."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys

import cloudpickle
import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import FeatureUnion, Pipeline

from model_registry import lm_features
from model_registry.candidates import (
    CANDIDATES,
    fit_block,
    lm_likelihood_features,
    style_features,
    word_features,
)
from model_registry.linear_scorer import MAX_ABS_DIFFERENCE, compile_linear_scorer
from model_registry.lm_features import LanguageModelFeatures, feature_names, refit_profiles
from model_registry.pipeline_input import TextColumn
from tests.support.edge_texts import EDGE_TEXTS
from tests.support.model_fixtures import sample


def _corpus(n: int = 200, seed: int = 3) -> tuple[list[str], np.ndarray]:
    frame = sample(n, seed=seed)
    return frame["text"].tolist(), frame["generated"].to_numpy()


def test_bigram_probability_is_witten_bell_interpolated_with_add_one_unigrams() -> None:
    texts = ["a b a c", "a b", "x y"]
    labels = np.asarray([0, 0, 1])
    index = lm_features.build_index(texts)
    n_ids = len(index) + 3
    encoded = lm_features.encode(texts, index)
    tables = lm_features.fit_tables(encoded, np.arange(3), labels, n_ids, min_count=1)
    probe = lm_features.encode(["a b"], index)
    series = lm_features.token_log_probs(tables, probe)  # a after BEGIN, b after a, END
    # Human counts: predicted tokens a b a c END a b END -> n(b) = 2, N = 8; V = n_ids.
    p_b = (2 + 1) / (8 + n_ids)
    # Context "a" in human text: a->b twice, a->c once: c(a) = 3, T(a) = 2 followers.
    p_b_after_a = (2 + 2 * p_b) / (3 + 2)
    assert math.isclose(series[1, 0], math.log(p_b), rel_tol=1e-9)
    assert math.isclose(series[1, 2], math.log(p_b_after_a), rel_tol=1e-9)
    assert series.shape == (3, len(lm_features.SERIES))
    # The AI model never saw "a": its bigram falls back to its add-one unigram.
    p_b_ai = (0 + 1) / (3 + n_ids)
    assert math.isclose(series[1, 3], math.log(p_b_ai), rel_tol=1e-9)
    assert math.isclose(series[1, 5], math.log(p_b_ai) - math.log(p_b_after_a), rel_tol=1e-9)


def test_shape_names_and_determinism() -> None:
    texts, labels = _corpus()
    first = LanguageModelFeatures().fit_transform(texts, labels)
    again = LanguageModelFeatures().fit_transform(texts, labels)
    assert sp.issparse(first)
    assert first.shape == (len(texts), len(feature_names()))
    np.testing.assert_array_equal(first.toarray(), again.toarray())
    block = LanguageModelFeatures().fit(texts, labels)
    assert len(block.get_feature_names_out()) == first.shape[1]
    assert block.transform(["Short one.", ""]).shape == (2, len(feature_names()))


def test_training_rows_are_scored_out_of_fold_so_their_own_label_is_never_read() -> None:
    texts, labels = _corpus()
    flipped = labels.copy()
    flipped[7] = 1 - flipped[7]
    original = LanguageModelFeatures(seed=1)
    changed = LanguageModelFeatures(seed=1)
    raw_original = original.fit_transform(texts, labels).toarray() * original.scale_
    raw_changed = changed.fit_transform(texts, flipped).toarray() * changed.scale_
    # Row 7's features come from models of the other folds, which never saw its label.
    np.testing.assert_allclose(
        raw_original[7] + original.mean_, raw_changed[7] + changed.mean_, rtol=1e-5, atol=1e-5
    )
    # In-sample (the final models saw the text) is a different, optimistic, profile.
    assert not np.allclose(
        original.transform(texts[:20]).toarray(),
        original.fit_transform(texts, labels).toarray()[:20],
    )


def _raw_training_profiles(
    texts: list[str], labels: np.ndarray, groups: np.ndarray | None
) -> np.ndarray:
    block = LanguageModelFeatures(seed=1)
    standardised = block.fit_transform(texts, labels, groups=groups).toarray()
    return np.asarray(standardised * block.scale_ + block.mean_)


def test_the_folds_keep_an_original_and_its_rewrites_together() -> None:
    """Row 7 and row 8 share a ``group_id`` (an original and its rewrite): row 7's out-of-fold
    profile must not come from models that counted row 8. Cut by row, they fell in different folds
    (seed 1), and row 8's label reached row 7's features; cut by group, it never does."""
    texts, labels = _corpus()
    flipped = labels.copy()
    flipped[8] = 1 - flipped[8]
    groups = np.arange(len(texts))
    groups[8] = groups[7]
    by_group = [_raw_training_profiles(texts, y, groups)[7] for y in (labels, flipped)]
    np.testing.assert_allclose(by_group[0], by_group[1], rtol=1e-5, atol=1e-5)
    by_row = [_raw_training_profiles(texts, y, None)[7] for y in (labels, flipped)]
    assert not np.allclose(by_row[0], by_row[1], rtol=1e-5, atol=1e-5)


def test_fit_block_gives_the_groups_to_the_supervised_block_only() -> None:
    """Training, the scope measurement and the benchmarks fit every block through ``fit_block``."""
    texts, labels = _corpus()
    groups = np.arange(len(texts)) // 2  # pairs of rows, as an original and its rewrite
    lm_block = fit_block("lm", LanguageModelFeatures(seed=1), texts, labels, groups).toarray()
    direct = LanguageModelFeatures(seed=1).fit_transform(texts, labels, groups=groups).toarray()
    by_row = LanguageModelFeatures(seed=1).fit_transform(texts, labels).toarray()
    np.testing.assert_array_equal(lm_block, direct)
    assert not np.array_equal(lm_block, by_row)
    words = fit_block("word", word_features(), texts, labels, groups)
    assert words.shape[0] == len(texts)


def test_fold_of_rows_never_splits_a_group() -> None:
    groups = np.repeat(np.arange(40), np.arange(40) % 4 + 1)  # groups of 1 to 4 rows
    folds = lm_features.fold_of_rows(groups, len(groups), n_folds=5, seed=0)
    for group in np.unique(groups):
        assert len(set(folds[groups == group].tolist())) == 1
    assert set(folds.tolist()) == set(range(5))
    try:
        lm_features.fold_of_rows(groups[:-1], len(groups), n_folds=5, seed=0)
    except ValueError as error:
        assert "groups for" in str(error)
    else:
        raise AssertionError("groups of the wrong length were accepted")


def test_fitting_needs_both_labels() -> None:
    texts, _ = _corpus(20)
    for labels in (None, np.zeros(20)):
        try:
            LanguageModelFeatures().fit(texts, labels)
        except ValueError:
            continue
        raise AssertionError(f"fitted with labels {labels}")


def test_leave_one_domain_out_refit_reads_no_label_of_the_left_out_rows() -> None:
    texts, labels = _corpus()
    block = LanguageModelFeatures().fit(texts, labels)
    parts = [block.encode(texts), block.encode(texts[:30])]
    keep = np.arange(len(texts)) % 3 != 0
    scrambled = labels.copy()
    scrambled[~keep] = 1 - scrambled[~keep]
    first = refit_profiles(block, parts, labels, keep)
    second = refit_profiles(block, parts, scrambled, keep)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.toarray(), b.toarray())
    assert [m.shape for m in first] == [(len(texts), 27), (30, 27)]


def test_pickled_by_value_round_trip_transforms_the_same() -> None:
    texts, labels = _corpus()
    block = LanguageModelFeatures().fit(texts, labels)
    cloudpickle.register_pickle_by_value(lm_features)
    try:
        restored = cloudpickle.loads(cloudpickle.dumps(block))
    finally:
        cloudpickle.unregister_pickle_by_value(lm_features)
    probe = texts[:25]
    np.testing.assert_array_equal(
        restored.transform(probe).toarray(), block.transform(probe).toarray()
    )


def test_the_lm_candidate_pipeline_compiles_to_the_same_probabilities() -> None:
    texts, labels = _corpus(300, seed=5)
    spec = CANDIDATES["word_style_lm_stack"]
    union = FeatureUnion(
        [("word", word_features()), ("style", style_features()), ("lm", lm_likelihood_features())]
    )
    pipeline = Pipeline(
        [
            ("text", TextColumn()),
            ("features", union),
            ("clf", spec.make_classifier(spec.default_params, 0)),
        ]
    ).fit(texts, labels)
    scorer = compile_linear_scorer(pipeline)
    assert scorer is not None
    probe = sample(60, seed=9)["text"].tolist()
    difference = np.abs(scorer.predict_proba(probe) - pipeline.predict_proba(probe)).max()
    assert difference <= MAX_ABS_DIFFERENCE
    names = pipeline[:-1].get_feature_names_out()
    assert len(names) == len(pipeline[-1].coef_[0])
    assert sum(str(name).startswith("lm__lm:") for name in names) == len(feature_names())


def test_the_pickled_block_loads_and_scores_without_this_package() -> None:
    """The model artifact carries the block's code: unpickling needs no ``model_registry``."""
    texts, labels = _corpus()
    block = LanguageModelFeatures().fit(texts, labels)
    cloudpickle.register_pickle_by_value(lm_features)
    try:
        payload = cloudpickle.dumps(block)
    finally:
        cloudpickle.unregister_pickle_by_value(lm_features)
    script = (
        "import sys, pickle\n"
        "sys.modules['model_registry'] = None  # any import of the package fails\n"
        "block = pickle.loads(sys.stdin.buffer.read())\n"
        "print(block.transform(['A short text to score.']).toarray().sum())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], input=payload, capture_output=True, check=True, timeout=60
    )
    expected = block.transform(["A short text to score."]).toarray().sum()
    assert math.isclose(float(done.stdout), float(expected), rel_tol=1e-6)


#: SHA-256 of ``transform`` (float32) of six essays and five edge texts, the block fitted on
#: ``_corpus()``: the values stay as they are when the code gets faster.
PINNED_SHA256 = "58daeb54b4e94891aa3b1bcce03237bd9c2ab0104b8c8ce3b58fcfc359a3738d"


def test_transform_values_are_pinned() -> None:
    texts, labels = _corpus()
    block = LanguageModelFeatures().fit(texts, labels)
    probe = sample(6, seed=11)["text"].tolist() + EDGE_TEXTS[:5]
    values = block.transform(probe).toarray()
    assert values.dtype == np.float32
    assert hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest() == PINNED_SHA256
    np.testing.assert_array_equal(block.dense_transform(probe), values)
    alone = np.vstack([block.dense_transform([text]) for text in probe])
    np.testing.assert_array_equal(alone, values)


def test_an_ascii_text_is_tokenised_as_by_the_unicode_pattern() -> None:
    every_ascii = "".join(map(chr, range(128)))
    mixed = [f"{a}{b}x'{b}1{a}" for a in every_ascii for b in every_ascii[::7]]
    texts = [every_ascii, every_ascii[::-1], *mixed, *EDGE_TEXTS, *_corpus(300, seed=5)[0]]
    for text in texts:
        assert lm_features.tokens(text) == lm_features._TOKEN.findall(text)
