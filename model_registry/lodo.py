"""Leave-one-domain-out: the project's estimate of how a candidate does on an unseen genre.

For each domain: the candidate's classifier, with its tuned parameters (no re-tuning), is refitted
on the training rows of every *other* domain; its threshold is chosen for the FPR target on the
validation rows of the other domains; it then scores every row of the left-out domain (train,
validation and test rows: the model never saw a label of that domain). ROC-AUC, F1 and the FPR on
human text are reported per left-out domain; the mean and the worst ROC-AUC are the headline
figures (``domain_evaluation.lodo_summary``).

Cost: one classifier fit per domain on matrices already built. The feature extractors are the ones
fitted on the whole training split: they saw the left-out domain's texts (vocabulary, IDF, the
style profile's word ranks and scaling) but never its labels. That unsupervised part is shared,
which keeps the estimate to seconds per domain; a fully refitted run (extractors too) of the word
candidate differed by at most 0.023 ROC-AUC per domain (bench/results/train_lodo.json).
Supervised feature blocks (the language-model likelihood block, ``lm_features``, fitted on the
labels) are the exception: ``refit_parts(keep_train)`` returns the three matrices with those
blocks refitted on the kept training rows only, so no label of the left-out domain reaches them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import f1_score, roc_auc_score

from model_registry import contract
from model_registry.domain_evaluation import fpr_threshold, lodo_summary

log = logging.getLogger(__name__)


def leave_one_domain_out(
    fit: Callable[[Any, np.ndarray], Any],
    parts: Sequence[tuple[Any, np.ndarray, np.ndarray]],
    *,
    fpr_target: float,
    min_human: int,
    refit_parts: Callable[[np.ndarray], Sequence[Any]] | None = None,
) -> dict[str, Any] | None:
    """``parts`` = (X, y, domains) of train, validation, test; ``fit(X, y)`` -> fitted classifier;
    ``refit_parts(keep_train)``, when given: the (train, validation, test) matrices to use when
    only the training rows ``keep_train`` may be learned from.

    Returns the contract's ``leave_one_domain_out`` block, or None with fewer than two domains.
    """
    (_, y_train, d_train), (_, y_val, d_val) = parts[0], parts[1]
    domains = sorted(set().union(*(set(np.asarray(d).tolist()) for _, _, d in parts)))
    if len(domains) < 2:
        return None
    per_domain = {}
    for domain in domains:
        keep_train, keep_val = d_train != domain, d_val != domain
        if len(set(y_train[keep_train].tolist())) < 2 or not keep_val.any():
            continue
        fold_parts = list(parts)
        if refit_parts is not None:
            refitted = refit_parts(keep_train)
            fold_parts = [(x, y, d) for x, (_, y, d) in zip(refitted, parts, strict=True)]
        fold_train, fold_val = fold_parts[0][0], fold_parts[1][0]
        classifier = fit(fold_train[keep_train], y_train[keep_train])
        p_val = classifier.predict_proba(fold_val[keep_val])[:, 1]
        threshold, _ = fpr_threshold(y_val[keep_val], p_val, d_val[keep_val], fpr_target, min_human)
        held_x = sp.vstack([x[d == domain] for x, _, d in fold_parts], format="csr")
        held_y = np.concatenate([y[d == domain] for _, y, d in parts])
        p = classifier.predict_proba(held_x)[:, 1]
        predicted = p >= threshold
        human = held_y == contract.LABEL_HUMAN
        two = len(set(held_y.tolist())) == 2
        per_domain[domain] = {
            "roc_auc": round(float(roc_auc_score(held_y, p)), 6) if two else None,
            "f1": round(float(f1_score(held_y, predicted.astype(int), zero_division=0)), 6),
            "fpr_human": round(float(predicted[human].mean()), 6) if human.any() else None,
        }
        log.info("leave out %s: %s", domain, per_domain[domain])
    return lodo_summary(per_domain)
