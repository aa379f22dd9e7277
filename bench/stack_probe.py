"""Probe: does a non-linear stack over the existing feature blocks rank better than the linear
candidates? A measurement for the next candidate, not a candidate itself.

Same data and splits as training (the shipped essays + multi-domain corpus, ``make_splits``:
grouped by ``group_id``, stratified by domain and label), same feature blocks
(``candidates.FEATURE_FACTORIES``: word and char TF-IDF, style profile, n-gram LM likelihoods,
the LM block cross-fitted on train as in training). Models compared, each judged on the test split
at one global threshold chosen on validation for a human false-positive rate <= 1 %:

- ``word_lr``: the word TF-IDF logistic regression (``word_tfidf_lr`` at a fixed ``C``);
- ``linear_stack``: a logistic regression on out-of-fold word (and char) LR log-odds + style + LM;
- ``boosted_stack``: a histogram gradient-boosting classifier on the same inputs (it can weigh
  the LM and style evidence differently for different kinds of text, which a sum of log-odds
  cannot).

Out-of-fold log-odds come from 5 folds grouped by ``group_id`` (an original and its rewrites never
score each other). Per domain: F1, human FPR, TPR and ROC-AUC; and the costs that decide whether
such a stack can become a candidate (fit seconds; milliseconds to score one row of already
extracted features, one thread: the classifier alone, feature extraction excluded). Results:
``bench/results/stack_probe.json``.

    uv run --frozen python bench/stack_probe.py         # ~3 minutes on 2 quiet cores, ~8 under load
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import f1_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import GroupKFold  # noqa: E402

from model_registry.candidates import FEATURE_FACTORIES, fit_block  # noqa: E402
from model_registry.domain_evaluation import threshold_for_fpr  # noqa: E402
from model_registry.labelled_csv import load_corpus, with_defaults  # noqa: E402
from model_registry.settings import default_data_paths  # noqa: E402
from model_registry.splits import make_splits  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "stack_probe.json"
PARTS = ("train", "validation", "test")
FPR_TARGET = 0.01
WORD_C, CHAR_C = 184.0, 30.0
FOLDS = 5

Blocks = dict[str, list[Any]]


def log(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:6.0f}s] {message}", flush=True)


def machine() -> dict[str, Any]:
    """What a probe's result says of the machine it ran on (the load at the end included)."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
    }


def write_results(output: Path, document: dict[str, Any], started: float) -> None:
    """A probe's results as JSON at ``output``, with the seconds the probe took."""
    document["elapsed_seconds"] = round(time.perf_counter() - started, 1)
    output.write_text(json.dumps(document, indent=2) + "\n")
    log(f"wrote {output}", started)


def feature_blocks(splits: Any, started: float) -> Blocks:
    """Every block fitted on train and applied to the three parts (dense for the small ones)."""
    texts = {part: getattr(splits, part)["text"].tolist() for part in PARTS}
    y_train = splits.train["generated"].to_numpy().astype(int)
    blocks: Blocks = {}
    for name in ("word", "char", "style", "lm"):
        block = FEATURE_FACTORIES[name]()
        first = fit_block(name, block, texts["train"], y_train, splits.train["group_id"])
        rest = [block.transform(texts[part]) for part in PARTS[1:]]
        matrices = [first, *rest]
        blocks[name] = [m.toarray() for m in matrices] if name in ("style", "lm") else matrices
        log(f"{name} block {first.shape}", started)
    return blocks


def out_of_fold_logits(
    make: Callable[[], LogisticRegression], matrices: list[Any], y: np.ndarray, groups: np.ndarray
) -> list[np.ndarray]:
    """Train log-odds from models that did not see the row's group; validation/test log-odds
    from one model fitted on all of train."""
    train_logits = np.zeros(matrices[0].shape[0])
    for fit_rows, held_rows in GroupKFold(FOLDS).split(matrices[0], y, groups):
        model = make().fit(matrices[0][fit_rows], y[fit_rows])
        train_logits[held_rows] = model.decision_function(matrices[0][held_rows])
    full = make().fit(matrices[0], y)
    return [train_logits, *(full.decision_function(m) for m in matrices[1:])]


def judged(
    y: np.ndarray, scores: np.ndarray, domains: np.ndarray, threshold: float | np.ndarray
) -> dict[str, Any]:
    """F1, human FPR, TPR and ROC-AUC overall and per domain; ``threshold`` one for every text
    or one per text."""
    predicted = (scores >= threshold).astype(int)
    per_domain = {}
    for domain in sorted(set(domains)):
        rows = domains == domain
        truth, guess = y[rows], predicted[rows]
        per_domain[domain] = {
            "n": int(rows.sum()),
            "f1": round(float(f1_score(truth, guess)), 4),
            "fpr_human": round(float(guess[truth == 0].mean()), 4),
            "tpr_ai": round(float(guess[truth == 1].mean()), 4),
            "roc_auc": round(float(roc_auc_score(truth, scores[rows])), 4),
        }
    return {
        "f1": round(float(f1_score(y, predicted)), 4),
        "fpr_human": round(float(predicted[y == 0].mean()), 4),
        "domains": per_domain,
    }


def evaluate(
    name: str,
    model: Any,
    inputs: list[np.ndarray],
    labels: list[np.ndarray],
    domains: np.ndarray,
    started: float,
) -> dict[str, Any]:
    fit_started = time.perf_counter()
    model.fit(inputs[0], labels[0])
    fit_seconds = time.perf_counter() - fit_started
    score = getattr(model, "decision_function", None) or (lambda x: model.predict_proba(x)[:, 1])
    validation, test = score(inputs[1]), score(inputs[2])
    threshold = threshold_for_fpr(validation[labels[1] == 0], FPR_TARGET)
    single_started = time.perf_counter()
    for row in range(200):
        score(inputs[2][row : row + 1])
    single_row_ms = (time.perf_counter() - single_started) / 200 * 1e3
    figures = judged(labels[2], test, domains, threshold)
    log(f"{name}: test F1 {figures['f1']}, FPR {figures['fpr_human']}", started)
    return {
        "fit_seconds": round(fit_seconds, 1),
        "classifier_single_row_ms": round(single_row_ms, 3),
        "test": figures,
    }


def boosted() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=400, learning_rate=0.05, max_leaf_nodes=31, l2_regularization=1.0, random_state=0
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    splits = make_splits(with_defaults(load_corpus(default_data_paths())))
    labels = [getattr(splits, p)["generated"].to_numpy().astype(int) for p in PARTS]
    groups = splits.train["group_id"].to_numpy()
    domains = splits.test["domain"].to_numpy()
    blocks = feature_blocks(splits, started)
    word = out_of_fold_logits(
        lambda: LogisticRegression(C=WORD_C, max_iter=3000), blocks["word"], labels[0], groups
    )
    char = out_of_fold_logits(
        lambda: LogisticRegression(C=CHAR_C, max_iter=3000), blocks["char"], labels[0], groups
    )
    log("out-of-fold log-odds", started)

    def stacked(*names: str) -> list[np.ndarray]:
        columns = {"word": word, "char": char, "style": blocks["style"], "lm": blocks["lm"]}
        return [
            np.column_stack([np.asarray(columns[n][i]).reshape(len(labels[i]), -1) for n in names])
            for i in range(3)
        ]

    models: dict[str, dict[str, Any]] = {
        "word_lr": evaluate(
            "word_lr",
            LogisticRegression(C=WORD_C, max_iter=3000),
            blocks["word"],
            labels,
            domains,
            started,
        ),
    }
    for inputs in (("word", "style", "lm"), ("word", "char", "style", "lm")):
        suffix = "+".join(inputs)
        models[f"linear_stack[{suffix}]"] = evaluate(
            f"linear_stack[{suffix}]",
            LogisticRegression(C=1.0, max_iter=3000),
            stacked(*inputs),
            labels,
            domains,
            started,
        )
        models[f"boosted_stack[{suffix}]"] = evaluate(
            f"boosted_stack[{suffix}]", boosted(), stacked(*inputs), labels, domains, started
        )
    document = {
        "benchmark": "stack_probe",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "split_sizes": {p: len(getattr(splits, p)) for p in PARTS},
        "judged_at": f"one global threshold per model: human FPR <= {FPR_TARGET} on validation",
        "out_of_fold": f"{FOLDS} folds grouped by group_id",
        "models": models,
    }
    write_results(args.output, document, started)


if __name__ == "__main__":
    main()
