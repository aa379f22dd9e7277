"""Where the model fails: per-domain and per-generator metrics, the FPR-target threshold,
calibration, and the ``evaluation/by_domain.json`` artifact (schema in docs/CONTRACTS.md).

* ``fpr_threshold``: the lowest threshold whose false-positive rate on human text is at most the
  target, overall and in every domain with at least ``min_human`` human rows (a domain with fewer
  cannot show a 1% rate), and also on the human rows the router sends to that domain; the
  strictest of these wins, and with routes it also holds the target for the human rows the
  router leaves to the global threshold. A false "AI" is the error that harms people.
* ``select_operating_thresholds``: that global threshold as the fallback, plus each such domain's
  own threshold and the rates both achieve on validation (``operating_thresholds``); with an
  ``ai_miss_target``, under each threshold the lower bound of the "too close to call" band.
  ``select_routed_thresholds`` is the same with every validation row routed by its scope verdict,
  as serving routes it: what training (and the benchmarks that fit a model as training does) call.
* ``by_domain`` / ``by_generator``: F1, ROC-AUC, FPR on human rows, TPR on AI rows at the served
  threshold, and the Brier score, per group. The served threshold may be one per text: the one
  the router picked for it (``OperatingThresholds.route``), never the true domain's. A generator
  is scored against the human rows of the domains it appears in.
  Each FPR comes with ``fpr_human_upper95``, the rate it could still be with 95 % confidence
  (few human rows cannot show a small rate: 0 of 45 still allows 6.4 %).
* ``routing_by_domain``: the share of each true domain's texts routed to that domain.
* ``lodo_summary``: the leave-one-domain-out block (mean and worst ROC-AUC are the headline
  estimate of what happens on a genre nobody trained on).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import beta
from sklearn.metrics import brier_score_loss, f1_score, roc_auc_score

from model_registry import contract
from model_registry.operating_thresholds import (
    ROUTER_WORD_CLASSIFIER,
    DomainThreshold,
    OperatingThresholds,
    RoutableVerdict,
)

#: A decision threshold: one for every text, or one per text (same order as the scores).
Thresholds = float | np.ndarray

#: Domains with fewer human rows than this get no threshold of their own.
DEFAULT_MIN_HUMAN_FOR_THRESHOLD = 100


def _nan_to_none(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 6)


#: Confidence of ``fpr_human_upper95``: the human FPR is at most that bound with this probability.
RATE_BOUND_CONFIDENCE = 0.95


def rate_upper_bound(hits: int, n: int, confidence: float = RATE_BOUND_CONFIDENCE) -> float | None:
    """The one-sided exact (Clopper-Pearson) upper confidence bound of a rate seen as ``hits`` of
    ``n``: the largest rate that still gives ``hits`` or fewer with probability ``1 - confidence``.
    ``None`` without rows. With no hits it is ``1 - (1 - confidence) ** (1 / n)``: 149 rows
    without one false "AI" are needed before a 2 % rate is shown at 95 %."""
    if n <= 0:
        return None
    if hits >= n:
        return 1.0
    return round(float(beta.ppf(confidence, hits + 1, n - hits)), 6)


def threshold_for_fpr(human_scores: np.ndarray, target: float) -> float:
    """Lowest ``t`` with ``mean(human_scores >= t) <= target`` (a text is AI when ``p >= t``)."""
    scores = np.sort(np.asarray(human_scores, dtype=float))[::-1]
    if scores.size == 0:
        return 0.0
    allowed = math.floor(target * scores.size + 1e-9)
    if allowed >= scores.size:
        return 0.0
    # Scores strictly above the (allowed+1)-th highest are the false positives we accept.
    return float(np.nextafter(scores[allowed], np.inf))


def fpr_threshold(
    y: ArrayLike,
    p: ArrayLike,
    domains: ArrayLike,
    target: float,
    min_human: int = DEFAULT_MIN_HUMAN_FOR_THRESHOLD,
    routed: Sequence[str | None] | None = None,
) -> tuple[float, dict[str, float]]:
    """The served threshold for ``target`` (see the module docstring) and each domain's own.

    With ``routed`` (the router's domain of each row, ``None`` for the global threshold) a
    domain's threshold must also hold the target for the human rows *routed* to it, whatever
    their true domain, when there are at least ``min_human`` of them: the higher of the two. A
    person whose text the router takes for another genre is judged at that genre's threshold,
    so that threshold has to protect them too. Likewise the global threshold must hold the
    target for the human rows judged at it (routed to no domain, or to one without a threshold
    of its own), when there are ``min_human`` of them: those are the texts the router cannot
    place, the ones most like a genre nobody trained on, where human text scores higher."""
    y_arr, p_arr, d_arr = np.asarray(y), np.asarray(p, dtype=float), np.asarray(domains)
    human = y_arr == contract.LABEL_HUMAN
    r_arr = None if routed is None else np.asarray([r or "" for r in routed], dtype=object)
    per_domain = {}
    for domain in sorted(set(d_arr.tolist())):
        scores = p_arr[human & (d_arr == domain)]
        if scores.size < min_human:
            continue
        threshold = threshold_for_fpr(scores, target)
        if r_arr is not None:
            sent = p_arr[human & (r_arr == domain)]
            threshold = _also_protecting(threshold, sent, target, min_human)
        per_domain[domain] = threshold
    overall = threshold_for_fpr(p_arr[human], target)
    if r_arr is not None:
        judged_globally = p_arr[human & ~np.isin(r_arr, list(per_domain))]
        overall = _also_protecting(overall, judged_globally, target, min_human)
    return max([overall, *per_domain.values()]), per_domain


def _also_protecting(
    threshold: float, human_scores: np.ndarray, target: float, min_human: int
) -> float:
    """``threshold``, raised where needed to hold ``target`` on the human texts judged at it by
    routing (``human_scores``), when there are at least ``min_human`` of them."""
    if human_scores.size < min_human:
        return threshold
    return max(threshold, threshold_for_fpr(human_scores, target))


def _rates(
    y: np.ndarray, p: np.ndarray, threshold: Thresholds
) -> tuple[float | None, float | None]:
    predicted = p >= threshold
    human, ai = y == contract.LABEL_HUMAN, y == contract.LABEL_AI
    return (
        _nan_to_none(predicted[human].mean()) if human.any() else None,
        _nan_to_none(predicted[ai].mean()) if ai.any() else None,
    )


def human_below_for_miss(ai_scores: np.ndarray, threshold: float, miss_target: float) -> float:
    """Lower bound of the "too close to call" band under ``threshold``: the highest ``b`` with
    ``mean(ai_scores < b) <= miss_target`` (at most that share of AI texts called human), never
    above the threshold. Without AI scores, the threshold (no band)."""
    scores = np.sort(np.asarray(ai_scores, dtype=float))
    allowed = math.floor(miss_target * scores.size + 1e-9)
    if scores.size == 0 or allowed >= scores.size:
        return threshold
    # Scores strictly below the (allowed+1)-th lowest are the misses we accept.
    return min(float(scores[allowed]), threshold)


@dataclasses.dataclass(frozen=True)
class CrossFittedScores:
    """Scores of the training rows from models that never saw them (``cross_fitting``), with
    their labels, domains and routes (the router's domain of each row, ``None``: global)."""

    y: np.ndarray
    p: np.ndarray
    domains: np.ndarray
    routed: Sequence[str | None]
    folds: int


def select_operating_thresholds(
    y: ArrayLike,
    p: ArrayLike,
    domains: ArrayLike,
    target: float,
    min_human: int = DEFAULT_MIN_HUMAN_FOR_THRESHOLD,
    ai_miss_target: float = 0.0,
    routed: Sequence[str | None] | None = None,
    cross_fitted: CrossFittedScores | None = None,
) -> OperatingThresholds:
    """The global fallback (``fpr_threshold``) and each domain's own threshold, with the
    validation rates each achieves (a domain's on its own rows, the global one on all rows).

    ``routed``: the router's domain of each row (``fpr_threshold``). ``ai_miss_target`` > 0
    also gives each a band (``human_below_for_miss`` on the same rows;
    the global one the lowest of all, as its threshold is the highest) and the share of those
    validation rows it leaves "uncertain".

    ``cross_fitted``: every threshold must also hold the target on these human rows, by the
    same rule (``fpr_threshold`` on them: true domain, routed, global): the higher of the two
    wins, and a domain with ``min_human`` cross-fitted human rows gets a threshold of its own
    even with fewer validation ones. The rates they give are recorded beside the validation
    ones (``cross_fitted_fpr_human``), and each band's bound is set on the validation and the
    cross-fitted AI texts together (a genre's few validation texts alone put it at their
    lowest score)."""
    y_arr, p_arr, d_arr = np.asarray(y), np.asarray(p, dtype=float), np.asarray(domains)
    global_threshold, per_domain = fpr_threshold(y, p, domains, target, min_human, routed)
    if cross_fitted is not None:
        fitted_global, fitted_domains = fpr_threshold(
            cross_fitted.y,
            cross_fitted.p,
            cross_fitted.domains,
            target,
            min_human,
            cross_fitted.routed,
        )
        global_threshold = max(global_threshold, fitted_global)
        per_domain = {
            name: max(per_domain.get(name, 0.0), fitted_domains.get(name, 0.0))
            for name in sorted(per_domain.keys() | fitted_domains.keys())
        }
    human, ai = y_arr == contract.LABEL_HUMAN, y_arr == contract.LABEL_AI

    def fitted_scores(label: int, domain: str | None) -> np.ndarray:
        """The cross-fitted scores of one class in a domain (``None``: every domain)."""
        if cross_fitted is None:
            return np.empty(0)
        rows = np.asarray(cross_fitted.y) == label
        if domain is not None:
            rows &= np.asarray(cross_fitted.domains) == domain
        scores: np.ndarray = np.asarray(cross_fitted.p, dtype=float)[rows]
        return scores

    def band(
        domain: str | None, threshold: float, *lower: float | None
    ) -> tuple[float | None, float | None]:
        """The bound of a domain (``None``: all rows; no higher than any of ``lower``), set on
        its AI validation texts and cross-fitted AI texts, and the share of its validation rows
        in the band."""
        if ai_miss_target <= 0:
            return None, None
        rows = np.ones(len(y_arr), dtype=bool) if domain is None else d_arr == domain
        ai_scores = np.r_[p_arr[rows & ai], fitted_scores(contract.LABEL_AI, domain)]
        own_bound = human_below_for_miss(ai_scores, threshold, ai_miss_target)
        below = min([own_bound, *(b for b in lower if b is not None)])
        uncertain = (p_arr[rows] >= below) & (p_arr[rows] < threshold)
        return below, _nan_to_none(uncertain.mean()) if rows.any() else None

    def cross_fitted_rates(domain: str | None, threshold: float) -> dict[str, Any]:
        """``cross_fitted_n_human`` and ``cross_fitted_fpr_human`` of a domain (``None``: all)."""
        if cross_fitted is None:
            return {}
        scores = fitted_scores(contract.LABEL_HUMAN, domain)
        return {
            "cross_fitted_n_human": int(scores.size),
            "cross_fitted_fpr_human": (
                _nan_to_none(float((scores >= threshold).mean())) if scores.size else None
            ),
        }

    own = {}
    for domain, threshold in per_domain.items():
        rows = d_arr == domain
        d_fpr, d_tpr = _rates(y_arr[rows], p_arr[rows], threshold)
        below, uncertain = band(domain, threshold)
        own[domain] = DomainThreshold(
            threshold=threshold,
            n_human=int((human & rows).sum()),
            val_fpr_human=d_fpr,
            val_tpr_ai=d_tpr,
            human_below=below,
            val_uncertain_share=uncertain,
            **cross_fitted_rates(domain, threshold),
        )
    global_below, global_uncertain = band(
        None, global_threshold, *(d.human_below for d in own.values())
    )
    fpr, tpr = _rates(y_arr, p_arr, global_threshold)
    return OperatingThresholds(
        global_threshold=DomainThreshold(
            threshold=global_threshold,
            n_human=int(human.sum()),
            val_fpr_human=fpr,
            val_tpr_ai=tpr,
            human_below=global_below,
            val_uncertain_share=global_uncertain,
            **cross_fitted_rates(None, global_threshold),
        ),
        domains=own,
        fpr_target=float(target),
        min_human=int(min_human),
        ai_miss_target=float(ai_miss_target) if ai_miss_target > 0 else None,
        cross_fitted_folds=None if cross_fitted is None else int(cross_fitted.folds),
    )


def select_routed_thresholds(
    y: ArrayLike,
    p: ArrayLike,
    domains: ArrayLike,
    verdicts: Sequence[RoutableVerdict],
    *,
    word_router: bool,
    target: float,
    min_human: int = DEFAULT_MIN_HUMAN_FOR_THRESHOLD,
    ai_miss_target: float = 0.0,
    cross_fitted: CrossFittedScores | None = None,
) -> OperatingThresholds:
    """``select_operating_thresholds`` with each row routed by its scope verdict (``None`` out of
    scope or unsure), recording ``ROUTER_WORD_CLASSIFIER`` when the scope reference that gave the
    verdicts has a word router (``word_router``); ``cross_fitted`` as there, its ``routed``
    given by ``routes_of`` of the training texts' verdicts."""
    operating = select_operating_thresholds(
        y,
        p,
        domains,
        target,
        min_human,
        ai_miss_target,
        routed=routes_of(verdicts),
        cross_fitted=cross_fitted,
    )
    if not word_router:
        return operating
    return dataclasses.replace(operating, router=ROUTER_WORD_CLASSIFIER)


def routes_of(verdicts: Sequence[RoutableVerdict]) -> list[str | None]:
    """The domain each scope verdict routes its text to (``None``: out of scope or unsure)."""
    return [v.domain if v.in_scope else None for v in verdicts]


def routing_by_domain(
    domains: ArrayLike,
    routed: Sequence[str | None],
    threshold_domains: Sequence[str | None],
) -> dict[str, dict[str, Any]]:
    """Per true domain: texts, the share the router sent to that domain (``accuracy``; ``routed``
    is the router's domain of each text, ``None`` out of scope), and the share judged at the
    global threshold (``global_share``: out of scope, or routed to a domain without its own
    threshold; ``threshold_domains`` is ``RoutedThreshold.domain`` of each text)."""
    d_arr = np.asarray(domains)
    r_arr = np.asarray([r if r is not None else "" for r in routed])
    t_arr = np.asarray([t is None for t in threshold_domains])
    out = {}
    for domain in sorted(set(d_arr.tolist())):
        rows = d_arr == domain
        out[domain] = {
            "n": int(rows.sum()),
            "accuracy": _nan_to_none(float((r_arr[rows] == domain).mean())),
            "global_share": _nan_to_none(float(t_arr[rows].mean())),
        }
    return out


def per_text_thresholds(routed: Sequence[Any]) -> np.ndarray:
    """The ``threshold`` of each ``RoutedThreshold`` as an array (for the metric functions)."""
    return np.asarray([r.threshold for r in routed], dtype=float)


def per_text_human_below(routed: Sequence[Any]) -> np.ndarray:
    """The ``human_below`` of each ``RoutedThreshold`` (its threshold where it has no band)."""
    return np.asarray(
        [r.threshold if r.human_below is None else r.human_below for r in routed], dtype=float
    )


def group_metrics(
    y: np.ndarray, p: np.ndarray, threshold: Thresholds, human_below: Thresholds | None = None
) -> dict[str, Any]:
    """Counts, F1, ROC-AUC, FPR on human rows (and its 95 % upper bound), TPR on AI rows, Brier
    score of one group: every text called AI at or above its threshold, human below.

    With ``human_below`` (the "too close to call" band's lower bounds) also what serving answers:
    ``uncertain_share``, the share of texts in their band, and ``answered_f1``, the F1 of the
    others (AI at or above the threshold, human below ``human_below``). The band never makes a
    text AI, so ``fpr_human`` (AI verdicts over all human texts) is also the served one."""
    predicted = p >= threshold
    human, ai = y == contract.LABEL_HUMAN, y == contract.LABEL_AI
    two_classes = bool(human.any() and ai.any())
    out = {
        "n_human": int(human.sum()),
        "n_ai": int(ai.sum()),
        "f1": _nan_to_none(f1_score(y, predicted.astype(int), zero_division=0)),
        "roc_auc": _nan_to_none(roc_auc_score(y, p) if two_classes else float("nan")),
        "fpr_human": _nan_to_none(predicted[human].mean() if human.any() else float("nan")),
        "fpr_human_upper95": rate_upper_bound(int(predicted[human].sum()), int(human.sum())),
        "tpr_ai": _nan_to_none(predicted[ai].mean() if ai.any() else float("nan")),
        "brier": _nan_to_none(brier_score_loss(y, p, pos_label=1) if len(y) else float("nan")),
    }
    if human_below is not None:
        answered = predicted | (p < human_below)
        out["uncertain_share"] = _nan_to_none(1.0 - answered.mean() if len(y) else float("nan"))
        out["answered_f1"] = (  # ``None`` when the band leaves nothing answered
            _nan_to_none(f1_score(y[answered], predicted[answered].astype(int), zero_division=0))
            if answered.any()
            else None
        )
    return out


def thresholds_of_rows(threshold: Thresholds, rows: np.ndarray) -> Thresholds:
    """The thresholds of the rows ``rows`` selects: one for every text, or one per text."""
    return threshold[rows] if isinstance(threshold, np.ndarray) else threshold


def by_domain(
    y: ArrayLike,
    p: ArrayLike,
    domains: ArrayLike,
    threshold: Thresholds,
    human_below: Thresholds | None = None,
) -> dict[str, dict[str, Any]]:
    """``group_metrics`` of every domain (``threshold`` and ``human_below``: one, or one per
    text)."""
    y_arr, p_arr, d_arr = np.asarray(y), np.asarray(p, dtype=float), np.asarray(domains)
    out = {}
    for domain in sorted(set(d_arr.tolist())):
        rows = d_arr == domain
        below = None if human_below is None else thresholds_of_rows(human_below, rows)
        at = thresholds_of_rows(threshold, rows)
        out[domain] = group_metrics(y_arr[rows], p_arr[rows], at, below)
    return out


def by_generator(
    y: ArrayLike,
    p: ArrayLike,
    domains: ArrayLike,
    generators: ArrayLike,
    threshold: Thresholds,
) -> dict[str, dict[str, Any]]:
    """Per AI generator: its rows against the human rows of the domains it appears in."""
    y_arr, p_arr = np.asarray(y), np.asarray(p, dtype=float)
    d_arr, g_arr = np.asarray(domains), np.asarray(generators)
    ai = y_arr == contract.LABEL_AI
    out = {}
    for generator in sorted(set(g_arr[ai].tolist())):
        own = ai & (g_arr == generator)
        rows = own | ((y_arr == contract.LABEL_HUMAN) & np.isin(d_arr, list(set(d_arr[own]))))
        metrics = group_metrics(y_arr[rows], p_arr[rows], thresholds_of_rows(threshold, rows))
        out[generator] = {k: metrics[k] for k in ("n_ai", "tpr_ai", "f1", "roc_auc")}
    return out


def lodo_summary(per_domain: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``leave_one_domain_out`` block: per-domain figures, mean and worst ROC-AUC."""
    aucs = {d: m["roc_auc"] for d, m in per_domain.items() if m.get("roc_auc") is not None}
    if not aucs:
        return {
            "domains": dict(per_domain),
            "mean_roc_auc": None,
            "worst_roc_auc": None,
            "worst_domain": None,
        }
    worst = min(aucs, key=lambda d: aucs[d])
    return {
        "domains": {d: dict(m) for d, m in sorted(per_domain.items())},
        "mean_roc_auc": round(float(np.mean(list(aucs.values()))), 6),
        "worst_roc_auc": aucs[worst],
        "worst_domain": worst,
    }


def evaluation_document(
    *,
    threshold: float,
    fpr_target: float,
    domains: dict[str, dict[str, Any]],
    generators: dict[str, dict[str, Any]],
    leave_one_domain_out: dict[str, Any] | None,
    operating_thresholds: OperatingThresholds | None = None,
    routing: dict[str, dict[str, Any]] | None = None,
    kept_wording: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``evaluation/by_domain.json`` document, exactly the contract's keys.

    ``threshold`` is the global (fallback) threshold; ``domains`` and ``generators`` are scored
    at the threshold the router picked for each text; ``operating_thresholds`` is the version's
    ``operating_thresholds`` tag as an object, ``routing`` the ``routing_by_domain`` table,
    ``kept_wording`` the ``rewrite_evaluation.by_kept_wording`` table."""
    return {
        "threshold": round(float(threshold), 6),
        "fpr_target": float(fpr_target),
        "domains": domains,
        "generators": generators,
        "leave_one_domain_out": leave_one_domain_out,
        "operating_thresholds": (
            None if operating_thresholds is None else operating_thresholds.to_dict()
        ),
        "routing": routing,
        "kept_wording": kept_wording,
    }


def worst_domain(
    domains: Mapping[str, Mapping[str, Any]], metric: str, *, highest_is_worst: bool = False
) -> tuple[str | None, float | None]:
    """The domain with the worst value of ``metric`` (lowest, or highest for error rates)."""
    values = {d: m[metric] for d, m in domains.items() if m.get(metric) is not None}
    if not values:
        return None, None
    pick = max if highest_is_worst else min
    domain = pick(values, key=lambda d: values[d])
    return domain, values[domain]


def domain_figures(
    y: ArrayLike,
    p: ArrayLike,
    domains: ArrayLike,
    table: Mapping[str, Mapping[str, Any]],
    title: str,
) -> dict[str, Any]:
    """A heatmap of the per-domain table and a reliability plot with one curve per domain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve

    metrics = ("f1", "roc_auc", "fpr_human", "tpr_ai", "brier")
    names = list(table)
    values = np.asarray(
        [[np.nan if table[d][m] is None else table[d][m] for m in metrics] for d in names],
        dtype=float,
    )
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(names) + 1.6))
    image = ax.imshow(values, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(metrics)), metrics)
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(metrics)):
            if not np.isnan(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.3f}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.04)
    ax.set_title(f"{title}: per domain")
    fig.tight_layout()
    figures = {"by_domain_heatmap.png": fig}

    y_arr, p_arr, d_arr = np.asarray(y), np.asarray(p, dtype=float), np.asarray(domains)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    for domain in names:
        rows = d_arr == domain
        if len(set(y_arr[rows].tolist())) < 2:
            continue
        frac, mean = calibration_curve(y_arr[rows], p_arr[rows], n_bins=10, strategy="quantile")
        brier = table[domain]["brier"]
        ax.plot(mean, frac, marker=".", label=f"{domain} (Brier {brier:.3f})")
    ax.set_xlabel("mean predicted P(AI)")
    ax.set_ylabel("share of AI texts")
    ax.legend(fontsize=7)
    ax.set_title(f"{title}: reliability per domain")
    fig.tight_layout()
    figures["reliability_by_domain.png"] = fig
    return figures
