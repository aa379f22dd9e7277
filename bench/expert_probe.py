"""Probe: do per-genre expert models, chosen by the word router, judge better than one model for
every genre? A measurement for the next candidate, not a candidate itself.

Same data and splits as training (``make_splits``), same word TF-IDF block
(``candidates.FEATURE_FACTORIES["word"]``) and the same router as serving (the scope reference's
word classifier, ``model_monitoring.domain_router``, fitted on train; a text it cannot place with
confidence, an out-of-scope one, or one shorter than the scope checks' ``min_route_chars``, has no
route). Three ways of judging the test split, every text called (no "uncertain" band), thresholds
chosen on validation for a human false-positive rate <= 1%, each at the served router confidence
floor and at looser ones (``ROUTER_FLOORS``):

- ``one_model``: one word logistic regression for every genre, judged at the threshold its route
  picks (``domain_evaluation.fpr_threshold`` with the routes: a genre's own threshold where it has
  at least ``MIN_HUMAN`` human validation texts, else the global, strictest one), as served today;
- ``experts``: the same, except that a text routed to a genre with its own threshold is scored
  by that genre's expert (a word logistic regression fitted on that genre's training rows only)
  at the expert's threshold (1% of the human validation texts the router sends to that genre).
  Unplaced texts, and texts of the genres without an expert, keep ``one_model``'s score and
  global threshold, so the two differ only where the router places a text;
- ``experts_true_domain``: the experts with the true genre of every text known (an oracle, not
  a served setting): how much of the experts' gain the router loses.

A genre's own data separates its classes better than all genres pooled, where the pooled model
gives weight to words that tell genres apart rather than authors. Per domain: F1, human FPR, TPR
and ROC-AUC (of the scores each scheme serves), plus fit seconds. Results:
``bench/results/expert_probe.json``.

    uv run --frozen python bench/expert_probe.py        # ~2 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from bench.stack_probe import FPR_TARGET, PARTS, judged, log, machine, write_results  # noqa: E402
from model_monitoring.domain_router import DEFAULT_MIN_CONFIDENCE  # noqa: E402
from model_monitoring.scope import ScopeChecker, build_scope_reference  # noqa: E402
from model_registry.candidates import FEATURE_FACTORIES  # noqa: E402
from model_registry.domain_evaluation import fpr_threshold, threshold_for_fpr  # noqa: E402
from model_registry.labelled_csv import load_corpus, with_defaults  # noqa: E402
from model_registry.settings import default_data_paths  # noqa: E402
from model_registry.splits import make_splits  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "expert_probe.json"
MIN_HUMAN = 100
#: The tuned ``C`` of the pooled word model (``train_full.json``); experts use the default.
POOLED_C, EXPERT_C = 184.0, 30.0
#: The router's confidence floors compared: the served one first, then looser ones (a looser floor
#: places more texts; the served one was chosen to keep people's texts off laxer thresholds).
ROUTER_FLOORS = (DEFAULT_MIN_CONFIDENCE, 0.5, 0.0)


def routes(
    reference_texts: list[str],
    reference_domains: list[str],
    texts: dict[str, list[str]],
    floors: tuple[float, ...],
) -> dict[float, dict[str, np.ndarray]]:
    """Per router confidence floor, the serving route of each text of each part ("" when it has
    none: out of scope, or the router less sure than the floor)."""
    reference = build_scope_reference(reference_texts, reference_domains, with_router=True)
    if reference.router is None:
        raise SystemExit("the corpus has one domain: nothing to route between")
    by_floor = {}
    for floor in floors:
        reference.router.min_confidence = floor
        checker = ScopeChecker(reference)
        by_floor[floor] = {
            part: np.asarray(
                [v.domain if v.in_scope and v.domain else "" for v in checker.assess(batch)],
                object,
            )
            for part, batch in texts.items()
        }
    return by_floor


def word_lr(texts: list[str], labels: np.ndarray, c: float) -> tuple[Any, LogisticRegression]:
    block = FEATURE_FACTORIES["word"]()
    model = LogisticRegression(C=c, max_iter=3000).fit(block.fit_transform(texts), labels)
    return block, model


def judge_schemes(
    labels: dict[str, np.ndarray],
    domains: dict[str, np.ndarray],
    routed: dict[str, np.ndarray],
    scores: dict[str, np.ndarray],
    expert_scores: dict[str, dict[str, np.ndarray]],
) -> dict[str, Any]:
    """The three schemes of the module docstring, for one set of routes."""
    global_threshold, own = fpr_threshold(
        labels["validation"],
        scores["validation"],
        domains["validation"],
        FPR_TARGET,
        MIN_HUMAN,
        [r or None for r in routed["validation"]],
    )
    at_route = np.asarray([own.get(r, global_threshold) for r in routed["test"]])
    figures: dict[str, Any] = {
        "routed_share_test": {
            d: round(float(np.mean(routed["test"][domains["test"] == d] == d)), 4)
            for d in sorted(set(domains["test"]))
        },
        "global_threshold": round(global_threshold, 4),
        "one_model": {
            "own_thresholds": {d: round(t, 4) for d, t in own.items()},
            "test": judged(labels["test"], scores["test"], domains["test"], at_route),
        },
    }
    # "experts": by route; "experts_true_domain": by the true genre (an oracle).
    for scheme, domain_of in (("experts", routed), ("experts_true_domain", domains)):
        served = {p: scores[p].copy() for p in PARTS[1:]}
        thresholds: dict[str, float] = {}
        for domain in sorted(own):
            for part in PARTS[1:]:
                sent = domain_of[part] == domain
                served[part][sent] = expert_scores[domain][part][sent]
            sent_humans = (domain_of["validation"] == domain) & (labels["validation"] == 0)
            thresholds[domain] = threshold_for_fpr(served["validation"][sent_humans], FPR_TARGET)
        per_text = np.asarray([thresholds.get(d, global_threshold) for d in domain_of["test"]])
        figures[scheme] = {
            "own_thresholds": {d: round(t, 4) for d, t in thresholds.items()},
            "test": judged(labels["test"], served["test"], domains["test"], per_text),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    splits = make_splits(with_defaults(load_corpus(default_data_paths())))
    texts = {p: getattr(splits, p)["text"].tolist() for p in PARTS}
    labels = {p: getattr(splits, p)["generated"].to_numpy().astype(int) for p in PARTS}
    domains = {p: getattr(splits, p)["domain"].to_numpy().astype(str) for p in PARTS}
    routed = routes(
        texts["train"],
        domains["train"].tolist(),
        {p: texts[p] for p in PARTS[1:]},
        ROUTER_FLOORS,
    )
    log("routes", started)

    fit_started = time.perf_counter()
    block, pooled = word_lr(texts["train"], labels["train"], POOLED_C)
    pooled_fit_seconds = round(time.perf_counter() - fit_started, 1)
    scores = {p: pooled.predict_proba(block.transform(texts[p]))[:, 1] for p in PARTS[1:]}
    log("pooled model", started)
    expert_scores: dict[str, dict[str, np.ndarray]] = {}
    expert_fit_seconds: dict[str, float] = {}
    for domain in sorted(set(domains["train"])):
        rows = domains["train"] == domain
        if int((labels["validation"][domains["validation"] == domain] == 0).sum()) < MIN_HUMAN:
            continue  # never has a threshold of its own, so never an expert
        fit_started = time.perf_counter()
        expert_block, expert = word_lr(
            [t for t, keep in zip(texts["train"], rows, strict=True) if keep],
            labels["train"][rows],
            EXPERT_C,
        )
        expert_fit_seconds[domain] = round(time.perf_counter() - fit_started, 1)
        expert_scores[domain] = {
            p: expert.predict_proba(expert_block.transform(texts[p]))[:, 1] for p in PARTS[1:]
        }
        log(f"expert {domain}: {expert_fit_seconds[domain]} s", started)
    by_floor = {
        str(floor): judge_schemes(labels, domains, routed[floor], scores, expert_scores)
        for floor in ROUTER_FLOORS
    }
    for floor, figures in by_floor.items():
        log(
            f"router floor {floor}: one model F1 {figures['one_model']['test']['f1']}, "
            f"experts {figures['experts']['test']['f1']}, "
            f"experts at the true genre {figures['experts_true_domain']['test']['f1']}",
            started,
        )
    document = {
        "benchmark": "expert_probe",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "split_sizes": {p: len(texts[p]) for p in PARTS},
        "judged_at": (
            f"the threshold each text's route picks; human FPR <= {FPR_TARGET} on validation; "
            "every text called (no uncertain band)"
        ),
        "pooled_C": POOLED_C,
        "expert_C": EXPERT_C,
        "fit_seconds": {"pooled": pooled_fit_seconds, "experts": expert_fit_seconds},
        "served_router_floor": str(DEFAULT_MIN_CONFIDENCE),
        "by_router_floor": by_floor,
    }
    write_results(args.output, document, started)


if __name__ == "__main__":
    main()
