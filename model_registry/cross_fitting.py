"""Cross-fitted scores of the training rows: more human texts to choose thresholds on.

A threshold for a 1 % false-positive rate is an upper quantile of human scores, and an upper
quantile needs rows. The validation split holds 21 to 881 human texts per genre (47 encyclopedia
paragraphs): too few to choose a threshold in the small genres, and in every genre the few
highest human scores decide it. The training split holds about five times as many, but the
model has seen them: their scores are optimistic.

Cross-fitting scores every training row with a model that never saw it. The training split is
cut into ``folds`` parts by group (an original and its rewrites in one part), stratified by
domain and label. For each part, the candidate's classifier (its tuned parameters, no re-tuning)
is fitted on the other parts, with the supervised feature blocks refitted on them too
(``refit_parts``, as leave-one-domain-out does), Platt-calibrated on the validation split as the
final model is (``evaluation.calibrate_linear``), and scores the part. Those scores are on the
final model's scale, from models trained on 1 - 1/``folds`` of its rows.

The unsupervised extractors (TF-IDF vocabulary and IDF, the style profile's scaling) were fitted
on the whole training split: they saw each part's texts, never its labels (as in
``lodo``). Cost: ``folds`` classifier fits per candidate on matrices already built.

``domain_evaluation.select_operating_thresholds`` (argument ``cross_fitted``) makes every
threshold also hold the false-positive target on these human scores, so a genre with fewer than
``min_human`` validation humans still gets a threshold of its own when its cross-fitted ones are
enough. Measured in ``bench/results/train_full.json``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from model_registry.evaluation import calibrate_linear

log = logging.getLogger(__name__)

#: Folds of the training split (``REGISTRY_THRESHOLD_FOLDS``; below 2 turns cross-fitting off).
DEFAULT_FOLDS = 5


def fold_strata(domains: Iterable[Any], labels: Iterable[Any]) -> list[str]:
    """The stratum of each training row for ``fold_indices``: its domain and label together, so
    every fold holds each genre's humans and AI texts in proportion."""
    return [f"{domain}|{label}" for domain, label in zip(domains, labels, strict=True)]


def fold_indices(
    strata: Sequence[str], groups: Sequence[Any], folds: int, seed: int
) -> list[np.ndarray] | None:
    """The held-out rows of each fold (each row in exactly one; a group never in two), stratified
    by ``strata``; ``None`` when there are fewer groups than folds."""
    if len(set(groups)) < folds:
        return None
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    rows = np.arange(len(strata))
    return [held for _, held in splitter.split(rows, np.asarray(strata), np.asarray(groups))]


def cross_fitted_scores(
    fit: Callable[[Any, np.ndarray], Any],
    x_train: Any,
    y_train: np.ndarray,
    x_val: Any,
    y_val: np.ndarray,
    *,
    strata: Sequence[str],
    groups: Sequence[Any],
    folds: int = DEFAULT_FOLDS,
    seed: int,
    refit_parts: Callable[[np.ndarray], Sequence[Any]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> np.ndarray | None:
    """P(AI) of every training row from a model fitted without its fold (module docstring).

    ``fit(X, y)`` -> fitted classifier; ``refit_parts(keep_train)``, when given: the (train,
    validation, ...) matrices to use when only the training rows ``keep_train`` may be learned
    from. ``None`` (cross-fitting skipped, logged) with ``folds`` < 2, fewer groups than folds,
    or a fold whose other parts hold one class only."""
    if folds < 2:
        return None
    held_parts = fold_indices(strata, groups, folds, seed)
    if held_parts is None:
        log.info("cross-fitting skipped: fewer than %d groups", folds)
        return None
    scores = np.full(len(y_train), np.nan)
    for number, held in enumerate(held_parts, start=1):
        keep = np.ones(len(y_train), dtype=bool)
        keep[held] = False
        if len(set(y_train[keep].tolist())) < 2:
            log.info("cross-fitting skipped: fold %d leaves one class to fit on", number)
            return None
        fold_train, fold_val = (x_train, x_val)
        if refit_parts is not None:
            fold_train, fold_val = refit_parts(keep)[:2]
        classifier = fit(fold_train[keep], y_train[keep])
        calibrate_linear(classifier, fold_val, y_val)
        scores[held] = classifier.predict_proba(fold_train[held])[:, 1]
        if progress is not None:
            progress(f"fold {number}/{folds}")
    return scores
