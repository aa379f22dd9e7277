"""The candidate models: each one scikit-learn Pipeline from raw text to P(AI), sparse end to end.

=====================  ==========================================  =========================
candidate              features                                    classifier
=====================  ==========================================  =========================
word_tfidf_lr          word 1-2-gram TF-IDF (cased, 1-char tokens)  LogisticRegression
char_tfidf_lr          char_wb 3-5-gram TF-IDF                     LogisticRegression
word_char_tfidf_lr     both of the above, concatenated             LogisticRegression
word_tfidf_cnb         word 1-2-gram TF-IDF                        ComplementNB
style_lr               style profile (``style_features``)          LogisticRegression
word_style_lr          word TF-IDF + style profile                 LogisticRegression
word_style_stack       word TF-IDF + style profile                 one LR per block, log-odds
                                                                   summed (``ensemble``)
lm_lr                  n-gram LM likelihood profile                LogisticRegression
word_style_lm_stack    word TF-IDF + style + LM likelihood         word LR + one LR on style
                                                                   and LM, log-odds summed
=====================  ==========================================  =========================

The first four are the baselines; the style candidates aim at genres nobody trained on (function
words, punctuation, sentence-length spread, word rarity describe *how* a text is written, which
carries over between genres better than *what* it is about). The LM candidates add how likely
each token is under a human and under an AI n-gram language model fitted on the training split
(``lm_features``, a supervised block: cross-fitted on train, refitted per fold in the
leave-one-domain-out estimate). The champion is chosen by the leave-one-domain-out estimate
(``registration.choose_best``), not by in-domain F1.

Every pipeline is ``TextColumn -> features -> clf``. Explanations (serving): with
``x = pipeline[:-1].transform([text])`` (sparse, one row) and
``names = pipeline[:-1].get_feature_names_out()``, a feature's contribution to the AI score is
``x[j] * w[j]`` with ``w = clf.coef_[0]`` for the linear models and
``w = clf.feature_log_prob_[1] - clf.feature_log_prob_[0]`` for ComplementNB (the per-feature
log-likelihood ratio of the two classes); ``model_registry.linear_scorer.feature_weights(clf)``
returns ``(method, w)`` for both (and ``linear_weights`` adds the intercept ``b``).

Tuning fits each feature extractor once on the training split and tunes only the classifier on
the cached sparse matrices, which keeps the whole tuned training run to a few minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion, Pipeline

from model_registry import lm_features
from model_registry.ensemble import TwoBlockLogitSum
from model_registry.lm_features import LanguageModelFeatures
from model_registry.pipeline_input import TextColumn
from model_registry.style_features import StyleFeatures, feature_names

#: Words, and single punctuation marks, case kept: a lower-case "i" is a human-writing cue.
WORD_TOKEN_PATTERN = r"(?u)\b\w+\b|[^\w\s]"  # noqa: S105 (a regex, not a secret)


def word_features() -> TfidfVectorizer:
    return TfidfVectorizer(
        ngram_range=(1, 2),
        lowercase=False,
        token_pattern=WORD_TOKEN_PATTERN,
        min_df=2,
        max_features=300_000,
        sublinear_tf=True,
        dtype=np.float32,
    )


def char_features() -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(3, 5),
        min_df=3,
        max_features=300_000,
        sublinear_tf=True,
        dtype=np.float32,
    )


def style_features() -> StyleFeatures:
    return StyleFeatures()


def lm_likelihood_features() -> LanguageModelFeatures:
    return LanguageModelFeatures()


FEATURE_FACTORIES: dict[str, Callable[[], BaseEstimator]] = {
    "word": word_features,
    "char": char_features,
    "style": style_features,
    "lm": lm_likelihood_features,
}
#: Blocks fitted on the labels: training passes them ``y``; the leave-one-domain-out estimate
#: refits them per left-out domain (``training._FeatureCache.supervised_refit``).
SUPERVISED_FEATURES = frozenset({"lm"})


def fit_block(name: str, block: Any, texts: list[str], labels: Any, groups: Any) -> Any:
    """``block.fit_transform`` on the training texts: the labels and the ``group_id`` of each
    row reach only the supervised blocks, which cross-fit by group (``lm_features``)."""
    if name in SUPERVISED_FEATURES:
        return block.fit_transform(texts, labels, groups=groups)
    return block.fit_transform(texts)


def _logistic_regression(params: dict[str, Any], seed: int) -> LogisticRegression:
    return LogisticRegression(C=params["C"], max_iter=3000, random_state=seed)


def _suggest_lr(trial: Any) -> dict[str, Any]:
    return {"C": trial.suggest_float("C", 1.0, 300.0, log=True)}


def _suggest_style_lr(trial: Any) -> dict[str, Any]:
    return {"C": trial.suggest_float("C", 0.01, 30.0, log=True)}


def _word_style_stack(params: dict[str, Any], seed: int) -> TwoBlockLogitSum:
    return TwoBlockLogitSum(
        C=params["C"], tail_C=1.0, tail_width=len(feature_names()), random_state=seed
    )


def _word_style_lm_stack(params: dict[str, Any], seed: int) -> TwoBlockLogitSum:
    tail = len(feature_names()) + len(lm_features.feature_names())
    return TwoBlockLogitSum(C=params["C"], tail_C=1.0, tail_width=tail, random_state=seed)


def _complement_nb(params: dict[str, Any], seed: int) -> ComplementNB:
    return ComplementNB(alpha=params["alpha"])


def _inverse_smoothing(params: dict[str, Any]) -> float:
    """ComplementNB's complexity: less additive smoothing (``alpha``) fits the words closer."""
    return 1.0 / float(params["alpha"])


def _inverse_regularisation(params: dict[str, Any]) -> float:
    """A logistic model's complexity: its ``C`` (less L2 penalty, larger weights)."""
    return float(params["C"])


def _suggest_cnb(trial: Any) -> dict[str, Any]:
    return {"alpha": trial.suggest_float("alpha", 1e-3, 1.0, log=True)}


@dataclass(frozen=True)
class CandidateSpec:
    """A candidate: which cached feature blocks it uses and how its classifier is tuned."""

    name: str
    features: tuple[str, ...]
    make_classifier: Callable[[dict[str, Any], int], BaseEstimator]
    suggest: Callable[[Any], dict[str, Any]]
    default_params: dict[str, Any]
    description: str
    #: A trial's parameters -> how little they regularise; among trials the validation split
    #: cannot tell apart, the lowest wins (``trial_choice``).
    complexity: Callable[[dict[str, Any]], float] = _inverse_regularisation


CANDIDATES: dict[str, CandidateSpec] = {
    spec.name: spec
    for spec in (
        CandidateSpec(
            "word_tfidf_lr",
            ("word",),
            _logistic_regression,
            _suggest_lr,
            {"C": 30.0},
            "word 1-2-gram TF-IDF + logistic regression (seed baseline, tuned)",
        ),
        CandidateSpec(
            "char_tfidf_lr",
            ("char",),
            _logistic_regression,
            _suggest_lr,
            {"C": 10.0},
            "char_wb 3-5-gram TF-IDF + logistic regression",
        ),
        CandidateSpec(
            "word_char_tfidf_lr",
            ("word", "char"),
            _logistic_regression,
            _suggest_lr,
            {"C": 30.0},
            "word + char TF-IDF concatenated + logistic regression",
        ),
        CandidateSpec(
            "word_tfidf_cnb",
            ("word",),
            _complement_nb,
            _suggest_cnb,
            {"alpha": 0.01},
            "word 1-2-gram TF-IDF + complement naive Bayes (generative, different errors)",
            complexity=_inverse_smoothing,
        ),
        CandidateSpec(
            "style_lr",
            ("style",),
            _logistic_regression,
            _suggest_style_lr,
            {"C": 1.0},
            "style profile (function words, punctuation, sentence lengths, word rarity) + LR",
        ),
        CandidateSpec(
            "word_style_lr",
            ("word", "style"),
            _logistic_regression,
            _suggest_lr,
            {"C": 10.0},
            "word TF-IDF + style profile concatenated + logistic regression",
        ),
        CandidateSpec(
            "word_style_stack",
            ("word", "style"),
            _word_style_stack,
            _suggest_lr,
            {"C": 30.0},
            "word TF-IDF LR + style-profile LR, log-odds summed, calibrated (one linear model)",
        ),
        CandidateSpec(
            "lm_lr",
            ("lm",),
            _logistic_regression,
            _suggest_style_lr,
            {"C": 1.0},
            "human-vs-AI n-gram language-model likelihood profile + logistic regression",
        ),
        CandidateSpec(
            "word_style_lm_stack",
            ("word", "style", "lm"),
            _word_style_lm_stack,
            _suggest_lr,
            {"C": 30.0},
            "word TF-IDF LR + LR on style profile and n-gram LM likelihoods, log-odds summed, "
            "calibrated (one linear model)",
        ),
    )
}


def build_pipeline(
    features: dict[str, BaseEstimator], spec: CandidateSpec, classifier: BaseEstimator
) -> Pipeline:
    """Assemble fitted feature extractors and a fitted classifier into one servable Pipeline."""
    if len(spec.features) == 1:
        extractor: BaseEstimator = features[spec.features[0]]
    else:
        extractor = FeatureUnion([(name, features[name]) for name in spec.features])
    return Pipeline([("text", TextColumn()), ("features", extractor), ("clf", classifier)])
