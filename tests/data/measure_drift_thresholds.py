"""Measure what the live drift scores look like, to choose the drift alert thresholds.

Run: ``uv run --frozen python -m tests.data.measure_drift_thresholds`` (about a minute on one
core); writes ``tests/data/drift_threshold_measurement.json``, which the threshold comments in
``model_monitoring/prometheus/rules/recording.yml`` quote.

Two reference profiles are measured, built exactly as the registered models build them:

- ``test``: the small champion of the integration tests (600 training essays, a 200-essay
  reference: ``tests.support.model_fixtures.register_small_model``); the noisiest reference there
  is;
- ``training``: a reference of 1,700 held-out essays, the size of the 15 % validation split a real
  training run on the shipped corpus profiles.

For each, the per-signal Jensen-Shannon distance (``model_monitoring.drift_statistics``) is
computed for many random windows of held-out in-domain essays (never seen by the model), at the
smallest window the monitor scores (``min_samples`` = 200) and at the full window (500): that is
the in-domain noise the thresholds must stay above. Then windows mixing a share ``f`` of the
off-domain texts (``tests/data/off_domain_texts.jsonl``) into in-domain essays: the share at which
the scores cross a threshold tells how many off-domain requests a full window needs before the
alert condition holds (``f x 500``; at 10 requests/s, ``f x 50`` seconds).

Last, the domain classifier (``model_monitoring.domain_classifier``) on in-domain vs in-domain
samples (its AUC under no drift) and in-domain vs off-domain samples, at 50 texts per side (the
smallest sample ``drift_check`` accepts) and 200: what the ``DomainClassifierDrift`` threshold
must stay above and below.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from model_monitoring.drift_statistics import js_distance
from model_monitoring.live_drift import DRIFT_SIGNALS
from model_monitoring.profile import PROBABILITY_SIGNAL, ReferenceProfile, build_reference_profile
from model_monitoring.signals import text_signals
from tests.data.off_domain import off_domain_texts
from tests.support.model_fixtures import corpus, sample, small_pipeline

OUTPUT = Path(__file__).with_name("drift_threshold_measurement.json")
WINDOW = 500
MIN_SAMPLES = 200
NULL_TRIALS = 2000
MIX_TRIALS = 200
SHARES = [round(x, 2) for x in np.arange(0.0, 1.0001, 0.05)]
DOMAIN_SEEDS = 10
CANDIDATE_THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4)
TEXT_SIGNALS = tuple(s for s in DRIFT_SIGNALS if s != PROBABILITY_SIGNAL)

logger = logging.getLogger(__name__)


def bin_matrix(
    profile: ReferenceProfile, texts: list[str], probabilities: np.ndarray
) -> np.ndarray:
    """Bin index of every text for every signal (rows: texts; columns: DRIFT_SIGNALS)."""
    rows = []
    for text, probability in zip(texts, probabilities, strict=True):
        values = text_signals(text, profile.vocabulary).as_dict()
        values[PROBABILITY_SIGNAL] = float(probability)
        rows.append([profile.distributions[s].bin_index(values[s]) for s in DRIFT_SIGNALS])
    return np.asarray(rows, dtype=np.int64)


def window_scores(profile: ReferenceProfile, bins: np.ndarray) -> dict[str, float]:
    """Per-signal JS distance of the window whose bin indices are ``bins``."""
    scores = {}
    for column, signal in enumerate(DRIFT_SIGNALS):
        reference = profile.distributions[signal].proportions
        counts = np.bincount(bins[:, column], minlength=len(reference))
        scores[signal] = js_distance(reference, counts.tolist())
    return scores


def quantiles(values: list[float]) -> dict[str, float]:
    array = np.asarray(values)
    return {
        "mean": round(float(array.mean()), 4),
        "p99": round(float(np.quantile(array, 0.99)), 4),
        "p999": round(float(np.quantile(array, 0.999)), 4),
        "max": round(float(array.max()), 4),
    }


def measure(
    profile: ReferenceProfile, in_domain: np.ndarray, off_domain: np.ndarray, seed: int
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    null: dict[str, Any] = {}
    for size in (MIN_SAMPLES, WINDOW):
        per_signal: dict[str, list[float]] = {s: [] for s in DRIFT_SIGNALS}
        text_max: list[float] = []
        for _ in range(NULL_TRIALS):
            window = in_domain[rng.choice(len(in_domain), size, replace=False)]
            scores = window_scores(profile, window)
            for signal, score in scores.items():
                per_signal[signal].append(score)
            text_max.append(max(scores[s] for s in TEXT_SIGNALS))
        null[f"window_{size}"] = {
            **{s: quantiles(v) for s, v in per_signal.items()},
            "max_of_text_signals": quantiles(text_max),
        }
    mixtures = []
    for share in SHARES:
        n_off = round(share * WINDOW)
        text_max = []
        probability = []
        for _ in range(MIX_TRIALS):
            window = np.concatenate(
                [
                    in_domain[rng.choice(len(in_domain), WINDOW - n_off, replace=False)],
                    off_domain[rng.choice(len(off_domain), n_off, replace=True)],
                ]
            )
            scores = window_scores(profile, window)
            text_max.append(max(scores[s] for s in TEXT_SIGNALS))
            probability.append(scores[PROBABILITY_SIGNAL])
        mixtures.append(
            {
                "off_domain_share": share,
                "max_text_signal_median": round(float(np.median(text_max)), 4),
                "max_text_signal_p5": round(float(np.quantile(text_max, 0.05)), 4),
                "probability_median": round(float(np.median(probability)), 4),
            }
        )
    crossing = {}
    for threshold in CANDIDATE_THRESHOLDS:
        shares = [m["off_domain_share"] for m in mixtures if m["max_text_signal_p5"] > threshold]
        share = min(shares) if shares else None
        crossing[str(threshold)] = {
            "off_domain_share": share,
            "seconds_at_10_rps": None if share is None else round(share * WINDOW / 10, 1),
        }
    return {"null": null, "mixtures": mixtures, "text_threshold_crossing": crossing}


def measure_domain_classifier(pool: list[str], off: list[str]) -> dict[str, Any]:
    from model_monitoring.domain_classifier import run_domain_drift

    results: dict[str, Any] = {}
    for per_side in (50, 200):
        same, different = [], []
        for seed in range(DOMAIN_SEEDS):
            rng = np.random.default_rng(seed)
            picked = rng.choice(len(pool), 2 * per_side, replace=False)
            reference = [pool[i] for i in picked[:per_side]]
            recent = [pool[i] for i in picked[per_side:]]
            off_sample = [off[i] for i in rng.choice(len(off), per_side, replace=False)]
            same.append(run_domain_drift(reference, recent, seed=seed).auc)
            different.append(run_domain_drift(reference, off_sample, seed=seed).auc)
        results[f"per_side_{per_side}"] = {
            "in_domain_auc_max": round(max(same), 4),
            "in_domain_auc_mean": round(float(np.mean(same)), 4),
            "off_domain_auc_min": round(min(different), 4),
        }
    return results


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data = sample(800, seed=0)  # what register_small_model(seed=0, n_train=600) uses
    train, reference = data.iloc[:600], data.iloc[600:]
    pipeline = small_pipeline(train["text"].tolist(), train["generated"].tolist())
    held_out = corpus()[~corpus()["text"].isin(set(data["text"]))].sample(frac=1.0, random_state=1)
    big_reference, pool = held_out.iloc[:1700], held_out.iloc[1700:]
    off = list(off_domain_texts())
    pool_texts = pool["text"].tolist()
    pool_probabilities = pipeline.predict_proba(pool_texts)[:, 1]
    off_probabilities = pipeline.predict_proba(off)[:, 1]
    results: dict[str, Any] = {
        "window": WINDOW,
        "min_samples": MIN_SAMPLES,
        "in_domain_pool": len(pool_texts),
        "off_domain_texts": len(off),
    }
    for name, ref in (("test", reference), ("training", big_reference)):
        texts = ref["text"].tolist()
        profile = build_reference_profile(
            train["text"].tolist(), texts, pipeline.predict_proba(texts)[:, 1].tolist()
        )
        logger.info("measuring the %s profile (%d reference texts)", name, len(texts))
        results[name] = {
            "reference_texts": len(texts),
            **measure(
                profile,
                bin_matrix(profile, pool_texts, pool_probabilities),
                bin_matrix(profile, off, off_probabilities),
                seed=0,
            ),
        }
    logger.info("measuring the domain classifier")
    results["domain_classifier"] = measure_domain_classifier(pool_texts, off)
    OUTPUT.write_text(json.dumps(results, indent=1) + "\n")
    logger.info("wrote %s", OUTPUT)


if __name__ == "__main__":
    main()
