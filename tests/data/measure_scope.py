"""Measure the scope checks' thresholds (``model_monitoring.scope``) and their cost.

Run (about 8 minutes on a shared 2-core machine, most of it fitting the detectors; ``--candidate``
names the detector, default the served champion ``word_style_lm_stack``; ``--params`` its
classifier's parameters as JSON, default the candidate's defaults; give the ones the last tuned
``train`` kept, ``params`` in ``bench/results/train_full.json``, to measure the served model):

    uv run --frozen python -m tests.data.measure_scope \
        [--candidate NAME] [--params '{"C": 9.95}'] \
        [--multidomain data/ai_human_multidomain.csv.gz] [--output bench/results/scope.json]

Data: the essays of ``data/ai_human_essays.csv.gz`` (domain ``student_essay``) and the multi-domain
corpus (``text,generated,domain,generator,source,group_id``). One split by group (an original and
its rewrites stay on one side; essays are one group each): 80 % "train", 20 % "held-out".

The detector is the candidate's pipeline with the given parameters, built by ``model_registry``
as training builds it (``FEATURE_FACTORIES`` blocks, the supervised LM block fitted with the
labels and cross-fitted, ``build_pipeline``), Platt-calibrated on a validation slice
(``evaluation.calibrate_linear``), whose scores give the served thresholds
(``domain_evaluation.select_routed_thresholds``: human false-positive rate <= 1 % overall and
in every domain with enough human rows; the global one is the strictest, each such domain has
its own), each of them also holding that target on the detector's training texts scored by
models that never saw them (``model_registry.cross_fitting``: five folds by group, the classifier
refitted per fold with the supervised LM block refitted too, calibrated on the same validation
slice), as training chooses them. A text is judged at the threshold serving routes it to
(``OperatingThresholds.route``).

1. **Minimum length.** The detector is fitted on the train part and calibrated on a validation
   slice of it. Every held-out text at least L characters long is cut to its first L characters
   (at a word boundary) and scored: ROC-AUC, accuracy and the human false-positive rate per L,
   each cut text at the threshold of its nearest training domain's style profile (scope
   reference of the train part), as serving would route it if it were in scope, and also at the
   global threshold. The minimum length is the shortest L from which on (for every longer L
   measured too) ROC-AUC >= ``MIN_AUC`` and the routed human false-positive rate <= ``MAX_FPR``:
   below it the verdicts fall apart. The minimum length to be routed (``min_route_chars``) is the
   shortest L from which on the routed human false-positive rate is <= ``ROUTE_MAX_FPR``: a
   shorter in-scope text is judged at the global threshold instead (``ScopeChecker``).
2. **Language.** Share of English function words per domain (every English text) against the
   non-English fixtures (``tests/data/non_english_texts.jsonl``); the threshold sits between the
   highest non-English share and the English 0.1 % quantile; the English texts it would refuse are
   counted.
3. **Novelty.** Leave-one-domain-out: the reference is built from the train part without domain
   D; the held-out texts of the other domains ("in-domain") and every text of D ("held-out
   domain") are scored. The threshold is the ``NOVELTY_QUANTILE`` quantile of the pooled
   in-domain scores (about 1 % of in-domain texts called "unlike the training data"); at that
   threshold the share of each held-out domain called out of scope, and with the reference of
   every domain, the false out-of-scope rate on held-out in-domain texts and the novelty of the
   unusual English fixtures.
4. **Cost.** CPU microseconds per text of ``ScopeChecker.assess_one`` with and without a
   reference (median over repeats, held-out texts of every domain), and of one single-text
   ``predict_proba`` of the detector above for scale.
5. **Unseen genres.** Per genre, a detector (same candidate, calibrated and thresholded on the
   held-out texts of the other genres) and a scope reference built without it: accuracy and the
   human false-positive rate on that genre, each text at the threshold its scope verdict routes
   it to, for every text, the in-scope and the out-of-scope ones (does "in scope" mean "judged
   better"?).
6. **Off-domain lines.** Share of ``tests/data/off_domain_texts.jsonl`` (the drift tests'
   off-domain traffic) that the checks call out of scope, for the drift alert's threshold.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from model_monitoring.scope import (
    ENGLISH_FUNCTION_WORDS,
    WINDOW_CHARS,
    ScopeChecker,
    ScopeReference,
    ScopeVerdict,
    build_scope_reference,
    function_word_share,
    style_features,
)
from model_registry.candidates import (
    CANDIDATES,
    FEATURE_FACTORIES,
    SUPERVISED_FEATURES,
    CandidateSpec,
    build_pipeline,
    fit_block,
)
from model_registry.contract import DEFAULT_DOMAIN, LABEL_AI, LABEL_NAMES, VERDICT_UNCERTAIN
from model_registry.cross_fitting import cross_fitted_scores, fold_strata
from model_registry.domain_evaluation import (
    CrossFittedScores,
    per_text_thresholds,
    routes_of,
    select_routed_thresholds,
)
from model_registry.evaluation import calibrate_linear
from model_registry.lm_features import refit_profiles
from model_registry.operating_thresholds import (
    OperatingThresholds,
    RoutedThreshold,
    served_verdict,
)
from model_registry.settings import RegistrySettings
from tests.data.off_domain import off_domain_texts
from tests.data.scope_fixtures import UNUSUAL_ENGLISH_TEXTS, non_english_texts

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
ESSAYS = ROOT / "data" / "ai_human_essays.csv.gz"
MULTIDOMAIN = ROOT / "data" / "ai_human_multidomain.csv.gz"
OUTPUT = ROOT / "bench" / "results" / "scope.json"

SEED = 13
HELD_OUT_SHARE = 0.2
VALIDATION_SHARE = 0.15
#: The served model: the candidate training chose as champion.
DEFAULT_CANDIDATE = "word_style_lm_stack"
#: Training's defaults for the served thresholds (``RegistrySettings``).
FPR_TARGET: float = RegistrySettings.model_fields["fpr_target"].default
MIN_HUMAN: int = RegistrySettings.model_fields["threshold_min_human"].default
AI_MISS_TARGET: float = RegistrySettings.model_fields["ai_miss_target"].default
THRESHOLD_FOLDS: int = RegistrySettings.model_fields["threshold_folds"].default
LENGTHS = (50, 100, 150, 200, 250, 300, 400, 500, 750, 1000)
MIN_AUC = 0.9
MAX_FPR = 0.05
#: The issue's per-genre bar for people called AI, for the texts judged at a genre's threshold.
ROUTE_MAX_FPR = 0.02
NOVELTY_QUANTILE = 0.99
TIMING_TEXTS = 3000
LODO_TRAIN_TEXTS = 8000
TIMING_REPEATS = 5


def load(multidomain: Path) -> dict[str, np.ndarray]:
    csv.field_size_limit(10**8)
    texts, labels, domains, groups = [], [], [], []
    with gzip.open(ESSAYS, "rt", encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            texts.append(row["text"])
            labels.append(int(row["generated"]))
            domains.append(DEFAULT_DOMAIN)
            groups.append(f"essay-{i}")
    with gzip.open(multidomain, "rt", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            texts.append(row["text"])
            labels.append(int(row["generated"]))
            domains.append(row["domain"])
            groups.append(f"md-{row['group_id']}")
    return {
        "text": np.asarray(texts, dtype=object),
        "label": np.asarray(labels),
        "domain": np.asarray(domains),
        "group": np.asarray(groups),
    }


def group_mask(groups: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """True for rows whose group falls in a random ``share`` of the groups."""
    unique = np.unique(groups)
    chosen = set(rng.choice(unique, size=round(len(unique) * share), replace=False))
    return np.fromiter((g in chosen for g in groups), dtype=bool, count=len(groups))


def truncate(text: str, length: int) -> str:
    """The first ``length`` characters of ``text``, cut back to the last whole word."""
    normal = " ".join(text.split())
    if len(normal) <= length:
        return normal
    cut = normal[:length]
    return cut.rsplit(" ", 1)[0] if " " in cut else cut


def rates(
    scores: np.ndarray, labels: np.ndarray, threshold: float | np.ndarray
) -> dict[str, float]:
    """ROC-AUC, and accuracy and the rates at ``threshold`` (one, or one per text)."""
    predicted = scores >= threshold
    return {
        "n": len(labels),
        "roc_auc": round(float(roc_auc_score(labels, scores)), 4),
        "accuracy": round(float((predicted == labels.astype(bool)).mean()), 4),
        "fpr_human": round(float(predicted[labels == 0].mean()), 4),
        "tpr_ai": round(float(predicted[labels == 1].mean()), 4),
    }


@dataclass(frozen=True)
class Detector:
    """A candidate fitted as training fits it: its served pipeline (the given parameters,
    calibrated on validation), the scope reference of its training texts (with the word router)
    and its served thresholds (global and per domain, routed, with the "too close to call"
    band)."""

    candidate: str
    pipeline: Pipeline
    reference: ScopeReference
    operating: OperatingThresholds

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """P(AI) of ``texts``."""
        scores: np.ndarray = self.pipeline.predict_proba(list(texts))[:, 1]
        return scores

    def routes(self, verdicts: Sequence[ScopeVerdict]) -> list[RoutedThreshold]:
        return self.operating.route_all(verdicts)

    def routed(self, verdicts: Sequence[ScopeVerdict]) -> np.ndarray:
        """Each text's threshold, routed from its scope verdict as serving routes it."""
        return per_text_thresholds(self.routes(verdicts))

    def served(self, scores: np.ndarray, verdicts: Sequence[ScopeVerdict]) -> np.ndarray:
        """What serving answers for each text: "ai", "human" or "uncertain"."""
        return np.asarray(
            [
                served_verdict(float(p), v, r).label
                for p, v, r in zip(scores, verdicts, self.routes(verdicts), strict=True)
            ]
        )


def fit_detector(
    candidate: str,
    params: dict[str, Any],
    train: tuple[list[str], np.ndarray, np.ndarray, np.ndarray],
    validation: tuple[list[str], np.ndarray, np.ndarray],
) -> Detector:
    """``candidate`` with the classifier parameters ``params``, built by ``model_registry`` as
    training builds it: each feature block of ``FEATURE_FACTORIES`` fitted on ``train`` (texts,
    labels, domains, groups; the labels reach the supervised blocks, which cross-fit) and the
    classifier on their matrices, the scope reference of the training texts with its word router,
    Platt-calibrated on ``validation`` (texts, labels, domains), whose scores and routes give the
    thresholds (``select_routed_thresholds`` at training's FPR target, minimum of human rows per
    domain and AI miss target), each also held on the training texts' cross-fitted scores
    (``cross_fitted_training_scores``). Each block transforms the texts once: its training and
    validation matrices serve the fit, the calibration and the cross-fitting."""
    spec = CANDIDATES[candidate]
    train_texts, train_labels, train_domains, train_groups = train
    val_texts, val_labels, val_domains = validation
    features = {name: FEATURE_FACTORIES[name]() for name in spec.features}
    parts = {
        name: [
            fit_block(name, block, train_texts, train_labels, train_groups),
            block.transform(val_texts),
        ]
        for name, block in features.items()
    }
    x_train, x_val = stack_blocks([parts[name] for name in spec.features])
    classifier = spec.make_classifier(params, SEED).fit(x_train, train_labels)
    calibrate_linear(classifier, x_val, val_labels)
    p_val = classifier.predict_proba(x_val)[:, 1]
    pipeline = build_pipeline(features, spec, classifier)
    reference = build_scope_reference(train_texts, list(train_domains), with_router=True)
    checker = ScopeChecker(reference)
    scores = cross_fitted_training_scores(
        spec, params, features, parts, train, (val_texts, val_labels)
    )
    operating = select_routed_thresholds(
        val_labels,
        p_val,
        val_domains,
        checker.assess(val_texts),
        word_router=reference.router is not None,
        target=FPR_TARGET,
        min_human=MIN_HUMAN,
        ai_miss_target=AI_MISS_TARGET,
        cross_fitted=None
        if scores is None
        else CrossFittedScores(
            y=train_labels,
            p=scores,
            domains=np.asarray(train_domains),
            routed=routes_of(checker.assess(train_texts)),
            folds=THRESHOLD_FOLDS,
        ),
    )
    return Detector(candidate, pipeline, reference, operating)


def stack_blocks(columns: Sequence[Sequence[Any]]) -> list[Any]:
    """Per part (train, validation), the blocks' matrices side by side, in the given order."""
    return [sp.hstack(list(part), format="csr") for part in zip(*columns, strict=True)]


def cross_fitted_training_scores(
    spec: CandidateSpec,
    params: dict[str, Any],
    features: dict[str, Any],
    parts: dict[str, list[Any]],
    train: tuple[list[str], np.ndarray, np.ndarray, np.ndarray],
    validation: tuple[list[str], np.ndarray],
) -> np.ndarray | None:
    """P(AI) of each training text from the candidate refitted without its fold (training's
    ``cross_fitting`` rule and folds): the unsupervised blocks' (train, validation) matrices
    ``parts`` as they are, the supervised ones refitted on each fold's kept rows
    (``lm_features.refit_profiles``)."""
    texts, labels, domains, groups = train
    val_texts, val_labels = validation
    encoded = {
        name: [block.encode(texts), block.encode(val_texts)]
        for name, block in features.items()
        if name in SUPERVISED_FEATURES
    }

    def refit(keep: np.ndarray) -> list[Any]:
        return stack_blocks(
            [
                refit_profiles(features[name], encoded[name], labels, keep, groups)
                if name in encoded
                else parts[name]
                for name in spec.features
            ]
        )

    return cross_fitted_scores(
        lambda x, y: spec.make_classifier(params, SEED).fit(x, y),
        None,
        labels,
        None,
        val_labels,
        strata=fold_strata(domains, labels),
        groups=list(groups),
        folds=THRESHOLD_FOLDS,
        seed=SEED,
        refit_parts=refit,
    )


def routed_as_if_in_scope(detector: Detector, texts: Sequence[str]) -> list[ScopeVerdict]:
    """In-scope verdicts carrying the domain serving would route each text to, whatever its
    length: how the text would be judged if the length check let it through."""
    checker = ScopeChecker(detector.reference)
    return [ScopeVerdict(True, None, None, checker.route_of(text)) for text in texts]


def length_point(
    scores: np.ndarray, labels: np.ndarray, routed: np.ndarray, global_threshold: float
) -> dict[str, Any]:
    """The rates at the routed thresholds, and the human FPR and AI TPR at the global one."""
    at_global = rates(scores, labels, global_threshold)
    return {
        **rates(scores, labels, routed),
        "at_global_threshold": {k: at_global[k] for k in ("accuracy", "fpr_human", "tpr_ai")},
    }


def shortest_reliable_length(
    curve: dict[str, Any], min_auc: float = MIN_AUC, max_fpr: float = MAX_FPR
) -> int | None:
    """The shortest measured length from which on every longer one has ROC-AUC >= ``min_auc``
    and a routed human false-positive rate <= ``max_fpr``."""
    minimum = None
    for length in reversed(LENGTHS):
        point = curve[str(length)]
        if point["roc_auc"] >= min_auc and point["fpr_human"] <= max_fpr:
            minimum = length
        else:
            break
    return minimum


def measure_length(
    data: dict[str, np.ndarray],
    held_out: np.ndarray,
    rng: np.random.Generator,
    candidate: str,
    params: dict[str, Any],
) -> tuple[dict[str, Any], Detector]:
    train_all = ~held_out
    validation = train_all & group_mask(data["group"], VALIDATION_SHARE, rng)
    train = train_all & ~validation
    started = time.perf_counter()
    detector = fit_detector(
        candidate,
        params,
        (
            list(data["text"][train]),
            data["label"][train],
            data["domain"][train],
            data["group"][train],
        ),
        (list(data["text"][validation]), data["label"][validation], data["domain"][validation]),
    )
    fit_seconds = time.perf_counter() - started
    global_threshold = detector.operating.threshold

    texts, labels = data["text"][held_out], data["label"][held_out]
    domains = data["domain"][held_out]
    normal_lengths = np.fromiter((len(" ".join(t.split())) for t in texts), dtype=int)

    def point(cut: list[str], truth: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
        scores = detector.score(cut)
        routed = detector.routed(routed_as_if_in_scope(detector, cut))
        return length_point(scores, truth, routed, global_threshold), scores

    curve: dict[str, Any] = {"full": point([str(t) for t in texts], labels)[0]}
    per_domain: dict[str, dict[str, Any]] = {}
    for length in LENGTHS:
        keep = normal_lengths >= length
        curve[str(length)], scores = point([truncate(t, length) for t in texts[keep]], labels[keep])
        per_domain[str(length)] = {
            domain: round(
                float(
                    roc_auc_score(
                        labels[keep][domains[keep] == domain], scores[domains[keep] == domain]
                    )
                ),
                4,
            )
            for domain in sorted(set(domains[keep]))
        }
        logger.info("length %d: %s", length, curve[str(length)])
    spec = CANDIDATES[candidate]
    return {
        "candidate": candidate,
        "model": spec.description,
        "params": params,
        "n_train": int(train.sum()),
        "n_validation": int(validation.sum()),
        "fit_seconds": round(fit_seconds, 1),
        "threshold": round(global_threshold, 4),
        "thresholds": detector.operating.to_dict(),
        "threshold_rule": (
            f"training's rule (select_routed_thresholds) on the validation slice and the train "
            f"part's cross-fitted scores ({THRESHOLD_FOLDS} folds): human false-positive rate <= "
            f"{FPR_TARGET} overall and in every domain with >= {MIN_HUMAN} human rows on either; "
            "the global threshold is the strictest of these, each such domain also has its own"
        ),
        "threshold_applied": (
            "each cut text at the threshold serving routes it to as if it were in scope (the "
            "word router of the train part's scope reference; the global threshold when the "
            "router is unsure or the domain has none of its own); at_global_threshold: every "
            "text at the global one (what an out-of-scope text gets)"
        ),
        "rule": (
            f"shortest length L (characters, whitespace runs counted once) from which on every "
            f"measured length has ROC-AUC >= {MIN_AUC} and human false-positive rate <= {MAX_FPR}"
            " at the routed thresholds, held-out texts cut to L characters at a word boundary"
        ),
        "by_length": curve,
        "roc_auc_by_domain_and_length": per_domain,
        "min_chars": shortest_reliable_length(curve),
        "route_rule": (
            "shortest length L from which on every measured length has a human false-positive "
            f"rate <= {ROUTE_MAX_FPR} at the routed thresholds; shorter in-scope texts are judged "
            "at the global threshold (at_global_threshold)"
        ),
        "min_route_chars": shortest_reliable_length(curve, min_auc=0.0, max_fpr=ROUTE_MAX_FPR),
    }, detector


def measure_language(data: dict[str, np.ndarray]) -> dict[str, Any]:
    english = np.fromiter((function_word_share(t) for t in data["text"]), dtype=float)
    foreign: dict[str, Any] = {}
    for language, text in non_english_texts():
        share = function_word_share(text)
        foreign[language] = max(foreign.get(language, 0.0), round(share, 4))
    highest_foreign = max(foreign.values())
    low_english = float(np.quantile(english, 0.001))
    threshold = round((highest_foreign + low_english) / 2, 2)
    return {
        "n_function_words": len(ENGLISH_FUNCTION_WORDS),
        "english_quantiles_by_domain": {
            domain: {
                q: round(float(np.quantile(english[data["domain"] == domain], float(q))), 4)
                for q in ("0.0", "0.001", "0.01", "0.5")
            }
            for domain in sorted(set(data["domain"]))
        },
        "non_english_max_by_language": foreign,
        "threshold": threshold,
        "rule": "midpoint of the highest non-English share and the English 0.1 % quantile",
        "english_refused_share": round(float((english < threshold).mean()), 5),
        "english_refused_count": int((english < threshold).sum()),
    }


def measure_novelty(data: dict[str, np.ndarray], held_out: np.ndarray) -> dict[str, Any]:
    features = np.asarray([style_features(t) for t in data["text"]], dtype=float)
    texts, domains = data["text"], data["domain"]
    all_domains = sorted(set(domains))

    def novelty(reference_mask: np.ndarray, score_mask: np.ndarray) -> np.ndarray:
        reference = build_scope_reference(
            list(texts[reference_mask]), list(domains[reference_mask])
        )
        return ScopeChecker(reference).novelty_of_features(features[score_mask])

    in_domain: list[np.ndarray] = []
    left_out: dict[str, np.ndarray] = {}
    for domain in all_domains:
        in_domain.append(novelty(~held_out & (domains != domain), held_out & (domains != domain)))
        left_out[domain] = novelty(~held_out & (domains != domain), domains == domain)
    pooled = np.concatenate(in_domain)
    threshold = round(float(np.quantile(pooled, NOVELTY_QUANTILE)), 2)
    full_scores = novelty(~held_out, held_out)
    full_reference = build_scope_reference(list(texts[~held_out]), list(domains[~held_out]))
    full_checker = ScopeChecker(full_reference, novelty_threshold=threshold)
    verdicts = full_checker.assess([str(t) for t in texts[held_out]])
    reasons: dict[str, int] = {}
    for verdict in verdicts:
        if verdict.reason:
            reasons[verdict.reason] = reasons.get(verdict.reason, 0) + 1
    return {
        "every_check_on_held_out_in_domain_texts": {
            "texts": len(verdicts),
            "out_of_scope_share": round(sum(reasons.values()) / len(verdicts), 4),
            "by_reason": reasons,
        },
        "score": "RMS of per-feature z-scores (|z| clipped at 6) against the nearest domain",
        "rule": f"{NOVELTY_QUANTILE} quantile of leave-one-domain-out in-domain held-out scores",
        "threshold": threshold,
        "in_domain_held_out_quantiles_lodo": {
            q: round(float(np.quantile(pooled, q)), 3) for q in (0.5, 0.9, 0.99, 0.999)
        },
        "false_out_of_scope_rate_in_domain_lodo": round(float((pooled > threshold).mean()), 4),
        "false_out_of_scope_rate_in_domain_all_domains_reference": round(
            float((full_scores > threshold).mean()), 4
        ),
        "held_out_domain_out_of_scope_rate": {
            domain: round(float((scores > threshold).mean()), 4)
            for domain, scores in left_out.items()
        },
        "tradeoff": [
            {
                "quantile": q,
                "threshold": round(float(np.quantile(pooled, q)), 3),
                "false_out_of_scope_rate_in_domain": round(1.0 - q, 3),
                "held_out_domain_out_of_scope_rate": {
                    domain: round(float((scores > np.quantile(pooled, q)).mean()), 4)
                    for domain, scores in left_out.items()
                },
            }
            for q in (0.9, 0.95, 0.98, 0.99, 0.995)
        ],
        "held_out_domain_roc_auc_vs_in_domain": {
            domain: round(
                float(
                    roc_auc_score(
                        np.r_[np.zeros(len(in_scores)), np.ones(len(scores))],
                        np.r_[in_scores, scores],
                    )
                ),
                3,
            )
            for (domain, scores), in_scores in zip(left_out.items(), in_domain, strict=True)
        },
        "unusual_english_fixtures": [
            {"text_start": t[:40], "novelty": round(float(full_checker.novelty(t) or 0.0), 2)}
            for t in UNUSUAL_ENGLISH_TEXTS
        ],
    }


def measure_unseen_genres(
    data: dict[str, np.ndarray],
    held_out: np.ndarray,
    rng: np.random.Generator,
    candidate: str,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Does "in scope" mean "judged better"? Per genre D: a detector and its scope reference
    trained without D, D's texts scored; accuracy and the human false-positive rate at the
    threshold serving routes each text to (thresholds from held-out texts of the other genres),
    for all of D's texts, the in-scope ones and the out-of-scope ones; and ``as_served``: what
    the API answers, "uncertain" for out-of-scope texts and for scores in the "too close to
    call" band, and the accuracy of the texts it does answer."""
    texts, labels, domains = data["text"], data["label"], data["domain"]
    result: dict[str, Any] = {
        "candidate": candidate,
        "rule": (
            f"detector ({candidate}, {params}) fitted on at most {LODO_TRAIN_TEXTS:,} "
            "train-part texts of the other genres, calibrated and its thresholds chosen on the "
            "held-out texts of the other genres and its training texts' cross-fitted scores "
            f"({THRESHOLD_FOLDS} folds); scope reference (with its word router) from the "
            "detector's training texts; every check at its measured default; each text of the "
            "genre at the threshold its scope verdict routes it to"
        ),
        "domains": {},
    }
    for domain in sorted(set(domains)):
        others = ~held_out & (domains != domain)
        pool = np.flatnonzero(others)
        fit_rows = rng.choice(pool, size=min(LODO_TRAIN_TEXTS, len(pool)), replace=False)
        validation = held_out & (domains != domain)
        detector = fit_detector(
            candidate,
            params,
            (
                [str(t) for t in texts[fit_rows]],
                labels[fit_rows],
                domains[fit_rows],
                data["group"][fit_rows],
            ),
            (list(texts[validation]), labels[validation], domains[validation]),
        )
        target = domains == domain
        target_texts = [str(t) for t in texts[target]]
        scores, truth = detector.score(target_texts), labels[target]
        verdicts = ScopeChecker(detector.reference).assess(target_texts)
        in_scope = np.fromiter((v.in_scope for v in verdicts), dtype=bool)
        routed = detector.routed(verdicts)
        entry: dict[str, Any] = {
            "threshold": round(detector.operating.threshold, 4),
            "in_scope_share": round(float(in_scope.mean()), 4),
            "all": rates(scores, truth, routed),
            "as_served": as_served(detector.served(scores, verdicts), truth),
        }
        for name, mask in (("in_scope", in_scope), ("out_of_scope", ~in_scope)):
            if len(set(truth[mask])) == 2:
                entry[name] = rates(scores[mask], truth[mask], routed[mask])
        result["domains"][domain] = entry
        logger.info("unseen genre %s: %s", domain, entry)
    return result


def as_served(answers: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """The share of texts answered ("ai" or "human", not "uncertain"), the accuracy of those
    answers, and the share of all human texts answered "ai"."""
    answered = answers != VERDICT_UNCERTAIN
    called_ai = answers == LABEL_NAMES[LABEL_AI]
    correct = called_ai[answered] == truth[answered].astype(bool)
    return {
        "answered_share": round(float(answered.mean()), 4),
        "answered_accuracy": round(float(correct.mean()), 4) if answered.any() else float("nan"),
        "fpr_human": round(float(called_ai[truth == 0].mean()), 4),
        "tpr_ai": round(float(called_ai[truth == 1].mean()), 4),
    }


def cpu_microseconds_per_text(run: Callable[[str], object], texts: list[str]) -> float:
    """Median over repeats of process CPU time per text (less disturbed by other processes on
    a shared machine than wall time)."""
    runs = []
    for _ in range(TIMING_REPEATS):
        started = time.process_time()
        for text in texts:
            run(text)
        runs.append((time.process_time() - started) / len(texts) * 1e6)
    return round(statistics.median(runs), 1)


def measure_cost(
    data: dict[str, np.ndarray], held_out: np.ndarray, detector: Detector
) -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    pool = data["text"][held_out]
    texts = [str(t) for t in rng.choice(pool, size=min(TIMING_TEXTS, len(pool)), replace=False)]
    with_reference = ScopeChecker(detector.reference)
    without = ScopeChecker(None)
    scope_us = cpu_microseconds_per_text(with_reference.assess_one, texts)
    predict_us = cpu_microseconds_per_text(lambda t: detector.score([t]), texts[:500])
    return {
        "texts": len(texts),
        "median_chars": int(statistics.median(map(len, texts))),
        "window_chars": WINDOW_CHARS,
        "timer": "process CPU time, median of 5 passes over the texts",
        "us_per_text_with_reference": scope_us,
        "us_per_text_without_reference": cpu_microseconds_per_text(without.assess_one, texts),
        "model": detector.candidate,
        "us_per_text_model_predict_proba_single": predict_us,
        "scope_cost_share_of_single_prediction": round(scope_us / predict_us, 3),
    }


def measure_off_domain() -> dict[str, Any]:
    """The short chat/Q&A/news/review lines the drift tests send as off-domain traffic."""
    texts = off_domain_texts()
    verdicts = ScopeChecker(None).assess(texts)
    reasons: dict[str, int] = {}
    for verdict in verdicts:
        if verdict.reason:
            reasons[verdict.reason] = reasons.get(verdict.reason, 0) + 1
    return {
        "texts": len(texts),
        "out_of_scope_share": round(sum(not v.in_scope for v in verdicts) / len(texts), 4),
        "reasons": reasons,
    }


def classifier_params(value: str) -> dict[str, Any]:
    """``--params``: a JSON object of the classifier's parameters, e.g. ``{"C": 9.95}``."""
    try:
        params = json.loads(value)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from error
    if not isinstance(params, dict) or not params:
        raise argparse.ArgumentTypeError('expected a JSON object such as {"C": 9.95}')
    return params


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--multidomain", type=Path, default=MULTIDOMAIN)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument(
        "--candidate",
        choices=sorted(CANDIDATES),
        default=DEFAULT_CANDIDATE,
        help=f"the detector to measure with (default: {DEFAULT_CANDIDATE}, the served champion)",
    )
    parser.add_argument(
        "--params",
        type=classifier_params,
        default=None,
        help="the classifier's parameters as a JSON object (default: the candidate's defaults)",
    )
    args = parser.parse_args()
    params = CANDIDATES[args.candidate].default_params if args.params is None else args.params
    started = time.perf_counter()
    data = load(args.multidomain)
    rng = np.random.default_rng(SEED)
    held_out = group_mask(data["group"], HELD_OUT_SHARE, rng)
    logger.info("%d texts, %d held out", len(data["text"]), held_out.sum())
    load_1m = os.getloadavg()[0]
    result: dict[str, Any] = {
        "script": "tests/data/measure_scope.py",
        "candidate": args.candidate,
        "params": params,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m_at_start": round(load_1m, 2),
            "note": "shared 2-core machine, other work running: absolute timings are upper bounds",
        },
        "data": {
            "texts": len(data["text"]),
            "held_out": int(held_out.sum()),
            "by_domain": {d: int((data["domain"] == d).sum()) for d in sorted(set(data["domain"]))},
            "split": "by group (an original and its rewrites on one side), seed 13",
        },
    }
    logger.info("language")
    result["language"] = measure_language(data)
    logger.info("novelty (leave one domain out)")
    result["novelty"] = measure_novelty(data, held_out)
    result["off_domain_texts"] = measure_off_domain()
    logger.info("length (fits the model)")
    result["length"], detector = measure_length(data, held_out, rng, args.candidate, params)
    logger.info("cost")
    result["cost"] = measure_cost(data, held_out, detector)
    logger.info("unseen genres (fits one model per genre)")
    result["unseen_genres"] = measure_unseen_genres(data, held_out, rng, args.candidate, params)
    result["elapsed_seconds"] = round(time.perf_counter() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %s", args.output)


if __name__ == "__main__":
    main()
