"""Metrics at a decision threshold, probability calibration, and the plots logged with every
candidate (per-domain evaluation: ``domain_evaluation``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

METRIC_NAMES = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc")
#: Also returned by ``classification_metrics``: FPR on human rows, TPR on AI rows.
RATE_NAMES = ("fpr_human", "tpr_ai")


def tune_threshold(y_true: ArrayLike, probabilities: ArrayLike) -> float:
    """The probability threshold that maximises F1 (ties: the one closest to 0.5)."""
    precision, recall, thresholds = precision_recall_curve(y_true, probabilities)
    precision, recall = precision[:-1], recall[:-1]
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = np.flatnonzero(np.isclose(f1, f1.max()))
    return float(thresholds[best[np.argmin(np.abs(thresholds[best] - 0.5))]])


def classification_metrics(
    y_true: ArrayLike, probabilities: ArrayLike, threshold: float | np.ndarray
) -> dict[str, float]:
    """accuracy / precision / recall / F1 at ``threshold`` (one, or one per text), ROC-AUC and
    PR-AUC (threshold-free)."""
    y = np.asarray(y_true)
    p = np.asarray(probabilities, dtype=float)
    predicted = (p >= threshold).astype(int)
    two_classes = len(np.unique(y)) == 2
    human, ai = y == 0, y == 1
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, p)) if two_classes else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if two_classes else float("nan"),
        "fpr_human": float(predicted[human].mean()) if human.any() else float("nan"),
        "tpr_ai": float(predicted[ai].mean()) if ai.any() else float("nan"),
    }


def calibrate_linear(classifier: Any, x_val: Any, y_val: ArrayLike) -> tuple[float, float]:
    """Platt scaling on validation, folded into a linear classifier's weights (in place).

    ``P(AI) = sigmoid(a * (x . w + b0) + b)`` is again a logistic model, with weights ``a * w`` and
    intercept ``a * b0 + b``: the calibrated pipeline is the same kind of model (the compiled
    scorer and the explanations stay exact). Returns ``(a, b)``; ``(1, 0)`` when the classifier
    has no linear weights (naive Bayes keeps its own probabilities) or the fit is degenerate.
    """
    from sklearn.linear_model import LogisticRegression

    if not hasattr(classifier, "coef_") or len(np.unique(np.asarray(y_val))) < 2:
        return 1.0, 0.0
    z = np.asarray(classifier.decision_function(x_val), dtype=float).reshape(-1, 1)
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(z, np.asarray(y_val))
    a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    if not a > 0:
        return 1.0, 0.0
    classifier.coef_ = np.asarray(classifier.coef_) * a
    classifier.intercept_ = np.asarray(classifier.intercept_) * a + b
    return a, b


def evaluation_figures(
    y_true: ArrayLike,
    probabilities: ArrayLike,
    threshold: float | np.ndarray,
    title: str,
) -> dict[str, Any]:
    """Confusion matrix (at ``threshold``: one, or one per text), ROC, precision-recall and
    calibration plots (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import CalibrationDisplay
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    y = np.asarray(y_true)
    p = np.asarray(probabilities, dtype=float)
    figures: dict[str, Any] = {}

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_predictions(
        y, (p >= threshold).astype(int), display_labels=["human", "ai"], ax=ax, colorbar=False
    )
    at = "routed thresholds" if isinstance(threshold, np.ndarray) else f"t={threshold:.3f}"
    ax.set_title(f"{title}: confusion at {at}")
    figures["confusion_matrix.png"] = fig

    fig, ax = plt.subplots(figsize=(4.5, 4))
    RocCurveDisplay.from_predictions(y, p, ax=ax)
    ax.set_title(f"{title}: ROC")
    figures["roc_curve.png"] = fig

    fig, ax = plt.subplots(figsize=(4.5, 4))
    PrecisionRecallDisplay.from_predictions(y, p, ax=ax)
    ax.set_title(f"{title}: precision-recall")
    figures["pr_curve.png"] = fig

    fig, ax = plt.subplots(figsize=(4.5, 4))
    CalibrationDisplay.from_predictions(y, p, n_bins=10, ax=ax)
    ax.set_title(f"{title}: calibration")
    figures["calibration.png"] = fig
    return figures


def close_figures(figures: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    for fig in figures.values():
        plt.close(fig)
