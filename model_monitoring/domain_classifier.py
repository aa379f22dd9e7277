"""Deep, periodic drift check: can a classifier tell recent texts from the reference texts?

If recent traffic looks like the reference, no classifier can separate the two sets and its
cross-validated ROC-AUC stays near 0.5; the further the traffic drifts, the closer the AUC gets
to 1. ``run_domain_drift`` trains a word TF-IDF + logistic regression on "reference" (0) vs
"recent" (1), scores every text out of fold (stratified K-fold), and reports the AUC, the verdict
and the words that separate the sets most. The orchestration flow ``drift_check`` schedules it,
exports the AUC as ``detector_drift_domain_auc`` and saves the report in MLflow.

Threshold calibrated against chance: with n1 and n2 texts and no difference at all, the AUC of
independent scores is a Mann-Whitney statistic with mean 0.5 and standard deviation
``sqrt((n1 + n2 + 1) / (12 n1 n2))``. The verdict threshold is ``0.5 + z * sd`` (one-sided,
``alpha`` = 0.01 by default, z = 2.33), never lower than ``min_auc`` (0.6 by default) so that
huge samples do not flag differences too small to matter. With 50 texts per side the threshold
is ~0.63, with 200 or more per side 0.6. Out-of-fold scores are slightly dependent, so
``n_permutations`` > 0 additionally runs the whole cross-validation on shuffled labels and reports
the permutation p-value (cost: ``n_permutations`` more cross-validations) as a second opinion; the
verdict itself uses the analytic threshold, since a p-value below ``alpha`` needs at least
``1 / alpha - 1`` permutations, too many to run on every schedule tick.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

REPORT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class SeparatingTerm:
    """A word or bigram and its logistic-regression weight (positive = typical of recent)."""

    term: str
    weight: float


@dataclass(frozen=True)
class DomainDriftReport:
    """Result of one domain-classifier drift check; serialisable to JSON and markdown."""

    auc: float
    threshold: float
    drifted: bool
    n_reference: int
    n_recent: int
    n_splits: int
    seed: int
    alpha: float
    chance_sd: float
    p_value: float | None = None
    n_permutations: int = 0
    recent_terms: list[SeparatingTerm] = field(default_factory=list)
    reference_terms: list[SeparatingTerm] = field(default_factory=list)
    format_version: int = REPORT_FORMAT_VERSION

    @property
    def verdict(self) -> str:
        return "drift" if self.drifted else "no drift"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DomainDriftReport:
        fields = {k: v for k, v in data.items() if k != "verdict"}
        fields["recent_terms"] = [SeparatingTerm(**t) for t in data.get("recent_terms", [])]
        fields["reference_terms"] = [SeparatingTerm(**t) for t in data.get("reference_terms", [])]
        return cls(**fields)

    @classmethod
    def from_json(cls, text: str) -> DomainDriftReport:
        return cls.from_dict(json.loads(text))

    def to_markdown(self) -> str:
        p_value = "not computed" if self.p_value is None else f"{self.p_value:.4f}"
        lines = [
            "# Domain-classifier drift report",
            "",
            f"**Verdict: {self.verdict}** (ROC-AUC {self.auc:.3f}, threshold {self.threshold:.3f})",
            "",
            "| quantity | value |",
            "| --- | --- |",
            f"| reference texts | {self.n_reference} |",
            f"| recent texts | {self.n_recent} |",
            f"| cross-validation folds | {self.n_splits} |",
            f"| chance AUC standard deviation | {self.chance_sd:.4f} |",
            f"| alpha | {self.alpha} |",
            f"| permutation p-value ({self.n_permutations} permutations) | {p_value} |",
            f"| seed | {self.seed} |",
            "",
            "## Terms typical of recent texts",
            "",
            *_term_table(self.recent_terms),
            "",
            "## Terms typical of reference texts",
            "",
            *_term_table(self.reference_terms),
            "",
        ]
        return "\n".join(lines)


def _term_table(terms: Sequence[SeparatingTerm]) -> list[str]:
    if not terms:
        return ["(none)"]
    return ["| term | weight |", "| --- | --- |"] + [
        f"| {t.term} | {t.weight:+.3f} |" for t in terms
    ]


def chance_auc_sd(n_reference: int, n_recent: int) -> float:
    """Standard deviation of the AUC of uninformative scores (Mann-Whitney null)."""
    return math.sqrt((n_reference + n_recent + 1) / (12.0 * n_reference * n_recent))


def auc_threshold(n_reference: int, n_recent: int, *, alpha: float, min_auc: float) -> float:
    """AUC above which a difference is unlikely to be chance (one-sided ``alpha``)."""
    z = NormalDist().inv_cdf(1.0 - alpha)
    return max(min_auc, 0.5 + z * chance_auc_sd(n_reference, n_recent))


def _subsample(texts: Sequence[str], limit: int, rng: random.Random) -> list[str]:
    items = [t for t in texts if isinstance(t, str) and t.strip()]
    return rng.sample(items, limit) if len(items) > limit else list(items)


def run_domain_drift(
    reference_texts: Sequence[str],
    recent_texts: Sequence[str],
    *,
    seed: int,
    n_splits: int = 5,
    alpha: float = 0.01,
    min_auc: float = 0.6,
    n_permutations: int = 0,
    max_texts_per_side: int = 2_000,
    top_terms: int = 15,
) -> DomainDriftReport:
    """Cross-validated domain classifier of ``recent_texts`` vs ``reference_texts``.

    Empty or non-string texts are ignored; each side is subsampled to ``max_texts_per_side``.
    Raises ``ValueError`` when either side has fewer than ``n_splits`` usable texts (min 2).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    rng = random.Random(seed)
    reference = _subsample(reference_texts, max_texts_per_side, rng)
    recent = _subsample(recent_texts, max_texts_per_side, rng)
    needed = max(2, n_splits)
    if len(reference) < needed or len(recent) < needed:
        raise ValueError(
            f"need at least {needed} non-empty texts per side, got {len(reference)} reference "
            f"and {len(recent)} recent"
        )
    texts = reference + recent
    labels = np.array([0] * len(reference) + [1] * len(recent))

    # The TF-IDF is fitted once on both sets: it never sees the labels, so this leaks nothing
    # about which side a text is on, and it makes each fold (and each permutation) a cheap
    # logistic-regression fit on a sparse matrix.
    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=50_000
    )
    try:
        features = vectorizer.fit_transform(texts)
    except ValueError as exc:  # e.g. "empty vocabulary" when texts share no word twice
        raise ValueError(f"domain classifier could not be trained: {exc}") from exc
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)

    def cv_auc(y: np.ndarray) -> float:
        model = LogisticRegression(C=1.0, solver="liblinear")
        scores = cross_val_predict(model, features, y, cv=folds, method="decision_function")
        return float(roc_auc_score(y, scores))

    auc = cv_auc(labels)

    p_value: float | None = None
    if n_permutations > 0:
        shuffler = np.random.default_rng(seed)
        null = [cv_auc(shuffler.permutation(labels)) for _ in range(n_permutations)]
        p_value = (1 + sum(a >= auc for a in null)) / (1 + n_permutations)

    threshold = auc_threshold(len(reference), len(recent), alpha=alpha, min_auc=min_auc)
    drifted = auc > threshold

    vocabulary = vectorizer.get_feature_names_out()
    weights = LogisticRegression(C=1.0, solver="liblinear").fit(features, labels).coef_[0]
    order = np.argsort(weights)
    recent_terms = [
        SeparatingTerm(str(vocabulary[i]), float(weights[i]))
        for i in order[::-1][:top_terms]
        if weights[i] > 0
    ]
    reference_terms = [
        SeparatingTerm(str(vocabulary[i]), float(weights[i]))
        for i in order[:top_terms]
        if weights[i] < 0
    ]
    report = DomainDriftReport(
        auc=auc,
        threshold=threshold,
        drifted=drifted,
        n_reference=len(reference),
        n_recent=len(recent),
        n_splits=n_splits,
        seed=seed,
        alpha=alpha,
        chance_sd=chance_auc_sd(len(reference), len(recent)),
        p_value=p_value,
        n_permutations=n_permutations,
        recent_terms=recent_terms,
        reference_terms=reference_terms,
    )
    logger.info(
        "domain drift: AUC %.3f vs threshold %.3f on %d reference / %d recent texts -> %s",
        auc,
        threshold,
        len(reference),
        len(recent),
        report.verdict,
    )
    return report
