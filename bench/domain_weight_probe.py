"""Probe: does weighting the training rows so that every genre counts more equally help the small
genres (blogs and e-mails, encyclopedia paragraphs)? A measurement for the next candidate, not a
candidate itself.

The training split is 42 % student essays and 2 % encyclopedia paragraphs, so a plain fit gives
the essays' evidence most of the weight. Here each training row gets the weight
``share_of_its_genre ** -power`` (normalised to a mean of 1): ``power`` 0 is today's fit, 1 makes
every genre weigh the same in total, 0.5 is in between.

Same data and splits as training (``make_splits``), the champion candidate's classifier
(``word_style_lm_stack``: word TF-IDF LR + LR on the style profile and n-gram LM likelihoods,
log-odds summed) at a fixed ``C`` (``--c``, default: the tuned value of the latest full train),
the same feature blocks (``candidates.FEATURE_FACTORIES``; the LM block cross-fitted by group).
Per power:

- the test split judged at one global threshold chosen on validation for a human FPR <= 1 %:
  F1, human FPR, TPR and ROC-AUC per genre (``stack_probe.judged``);
- the unseen-genre estimate, as training computes it (``lodo.leave_one_domain_out``): each genre
  left out in turn, the LM block refitted without its labels (``lm_features.refit_profiles``),
  the weights recomputed on the kept rows; mean and worst ROC-AUC.

Results: ``bench/results/domain_weight_probe.json``.

    uv run --frozen python bench/domain_weight_probe.py     # ~4-5 minutes on 2 quiet cores
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from bench.stack_probe import FPR_TARGET, PARTS, judged, log, machine, write_results  # noqa: E402
from model_registry.candidates import CANDIDATES, FEATURE_FACTORIES, fit_block  # noqa: E402
from model_registry.domain_evaluation import (  # noqa: E402
    DEFAULT_MIN_HUMAN_FOR_THRESHOLD,
    threshold_for_fpr,
)
from model_registry.labelled_csv import load_corpus, with_defaults  # noqa: E402
from model_registry.lm_features import refit_profiles  # noqa: E402
from model_registry.lodo import leave_one_domain_out  # noqa: E402
from model_registry.settings import default_data_paths  # noqa: E402
from model_registry.splits import make_splits  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "domain_weight_probe.json"
CANDIDATE = "word_style_lm_stack"
BLOCKS = CANDIDATES[CANDIDATE].features
POWERS = (0.0, 0.5, 1.0)


def tuned_c() -> float:
    """The champion's ``C`` in the latest full train (``bench/train_scale.py --full``)."""
    document = json.loads((REPO / "bench" / "results" / "train_full.json").read_text())
    return float(document["params"]["C"])


class Parts(NamedTuple):
    """Training's splits, as the probes use them: each list is (train, validation, test)."""

    frames: list[Any]
    texts: list[list[str]]
    labels: list[np.ndarray]
    domains: list[np.ndarray]
    groups: np.ndarray


def load_parts() -> Parts:
    """The shipped corpora split as training splits them (``make_splits``)."""
    splits = make_splits(with_defaults(load_corpus(default_data_paths())))
    frames = [getattr(splits, p) for p in PARTS]
    return Parts(
        frames,
        [f["text"].tolist() for f in frames],
        [f["generated"].to_numpy().astype(int) for f in frames],
        [f["domain"].to_numpy() for f in frames],
        frames[0]["group_id"].to_numpy(),
    )


def champion_blocks(parts: Parts, started: float) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The champion candidate's feature blocks fitted on train (the LM block cross-fitted by
    group), and each block's matrices for the three parts."""
    blocks: dict[str, Any] = {}
    matrices: dict[str, list[Any]] = {}
    for name in BLOCKS:
        blocks[name] = FEATURE_FACTORIES[name]()
        first = fit_block(name, blocks[name], parts.texts[0], parts.labels[0], parts.groups)
        matrices[name] = [first, *(blocks[name].transform(t) for t in parts.texts[1:])]
        log(f"{name} block {first.shape}", started)
    return blocks, matrices


def lodo_figures(lodo: dict[str, Any] | None) -> dict[str, Any]:
    """What a probe keeps of ``leave_one_domain_out``'s block: mean, worst, and each genre's."""
    assert lodo is not None  # seven genres
    return {
        "mean_roc_auc": lodo["mean_roc_auc"],
        "worst_roc_auc": lodo["worst_roc_auc"],
        "worst_domain": lodo["worst_domain"],
        "roc_auc": {d: v["roc_auc"] for d, v in lodo["domains"].items()},
    }


def test_and_lodo(
    name: str,
    fit: Callable[[Any, np.ndarray], Any],
    inputs: list[Any],
    parts: Parts,
    refit_parts: Callable[[np.ndarray], list[Any]],
    started: float,
) -> dict[str, Any]:
    """One model fitted on train and judged on test at one global threshold (human FPR <=
    ``FPR_TARGET`` on validation), then the unseen-genre estimate as training computes it."""
    labels, domains = parts.labels, parts.domains
    fit_started = time.perf_counter()
    model = fit(inputs[0], labels[0])
    fit_seconds = time.perf_counter() - fit_started
    validation, test = (model.decision_function(inputs[i]) for i in (1, 2))
    threshold = threshold_for_fpr(validation[labels[1] == 0], FPR_TARGET)
    figures = judged(labels[2], test, domains[2], threshold)
    log(f"{name}: test F1 {figures['f1']}, FPR {figures['fpr_human']}", started)
    lodo = lodo_figures(
        leave_one_domain_out(
            fit,
            list(zip(inputs, labels, domains, strict=True)),
            fpr_target=FPR_TARGET,
            min_human=DEFAULT_MIN_HUMAN_FOR_THRESHOLD,
            refit_parts=refit_parts,
        )
    )
    log(f"{name}: LODO mean {lodo['mean_roc_auc']}, worst {lodo['worst_roc_auc']}", started)
    return {"fit_seconds": round(fit_seconds, 1), "test": figures, "leave_one_domain_out": lodo}


def genre_weights(domains: np.ndarray, power: float) -> np.ndarray:
    """``share ** -power`` per row, mean 1: power 0 weighs every row alike, 1 every genre."""
    names, counts = np.unique(domains, return_counts=True)
    share = dict(zip(names.tolist(), (counts / counts.sum()).tolist(), strict=True))
    weights = np.asarray([share[d] ** -power for d in domains.tolist()])
    normalised: np.ndarray = weights / weights.mean()
    return normalised


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c", type=float, default=None, help="the word LR's C (default: tuned)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    c = tuned_c() if args.c is None else args.c
    started = time.perf_counter()
    loaded = load_parts()
    parts, texts, labels, domains, groups = loaded
    blocks, matrices = champion_blocks(loaded, started)
    stacked = [sp.hstack([matrices[n][i] for n in BLOCKS], format="csr") for i in range(3)]
    lm_block = blocks["lm"]
    encoded = [lm_block.encode(t) for t in texts]

    kept_rows = np.ones(len(labels[0]), dtype=bool)

    def refit_parts(keep_train: np.ndarray) -> list[sp.csr_matrix]:
        """The LM block refitted on the kept rows (no label of the left-out genre reaches it)."""
        kept_rows[:] = keep_train
        lm = refit_profiles(lm_block, encoded, labels[0], keep_train, groups)
        refitted = {**matrices, "lm": lm}
        return [sp.hstack([refitted[n][i] for n in BLOCKS], format="csr") for i in range(3)]

    results: dict[str, Any] = {}
    for power in POWERS:

        def fit(x: Any, y: np.ndarray, power: float = power) -> Any:
            weights = genre_weights(domains[0][kept_rows], power)
            model = CANDIDATES[CANDIDATE].make_classifier({"C": c}, 0)
            return model.fit(x, y, sample_weight=weights)

        kept_rows[:] = True
        results[str(power)] = test_and_lodo(
            f"power {power}", fit, stacked, loaded, refit_parts, started
        )
    document = {
        "benchmark": "domain_weight_probe",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "candidate": CANDIDATE,
        "params": {"C": c},
        "split_sizes": {p: len(part) for p, part in zip(PARTS, parts, strict=True)},
        "train_genre_shares": {
            str(d): round(float(n) / len(domains[0]), 4)
            for d, n in zip(*np.unique(domains[0], return_counts=True), strict=True)
        },
        "weights": "share_of_genre ** -power, normalised to mean 1",
        "judged_at": f"one global threshold per power: human FPR <= {FPR_TARGET} on validation",
        "powers": results,
    }
    write_results(args.output, document, started)


if __name__ == "__main__":
    main()
