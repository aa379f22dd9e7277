"""Drift statistics between a reference histogram and a live histogram over the same bins.

The live monitor uses the Jensen-Shannon distance (base 2), not PSI, because:

- it is bounded in [0, 1], so one alert threshold reads the same for every signal and the
  combined score is a plain mean of comparable numbers;
- it is symmetric and finite even when a bin is empty on one side (the mixture ``m`` is positive
  wherever either side is), whereas PSI divides by and takes the log of each share and explodes on
  empty bins, so its value depends mostly on the smoothing constant chosen;
- its square root is a metric, so "twice as far" means something on a dashboard.

A small additive smoothing (``SMOOTHING`` per bin, then renormalised) is still applied to both
sides so that a reference bin that happened to be empty in the (finite) reference sample does not
make the live side look infinitely surprising; it changes in-domain scores by well under 0.01.
PSI is provided too for reports and comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

SMOOTHING = 1e-4


def _normalised(weights: Sequence[float], smoothing: float) -> list[float]:
    total = float(sum(weights))
    if total <= 0:
        return [1.0 / len(weights)] * len(weights)
    shares = [w / total + smoothing for w in weights]
    norm = sum(shares)
    return [s / norm for s in shares]


def js_distance(
    reference: Sequence[float], observed: Sequence[float], smoothing: float = SMOOTHING
) -> float:
    """Jensen-Shannon distance (log base 2, in [0, 1]) between two histograms over equal bins.

    Both arguments may be counts or proportions; each is normalised. O(bins).
    """
    if len(reference) != len(observed):
        raise ValueError(f"bin counts differ: {len(reference)} vs {len(observed)}")
    if not reference:
        raise ValueError("histograms need at least one bin")
    p = _normalised(reference, smoothing)
    q = _normalised(observed, smoothing)
    divergence = 0.0
    for pi, qi in zip(p, q, strict=True):
        mi = 0.5 * (pi + qi)
        divergence += 0.5 * (pi * math.log2(pi / mi) + qi * math.log2(qi / mi))
    return math.sqrt(min(max(divergence, 0.0), 1.0))


def population_stability_index(
    reference: Sequence[float], observed: Sequence[float], smoothing: float = 1e-3
) -> float:
    """PSI = sum((q - p) * ln(q / p)) with additive smoothing for empty bins. O(bins)."""
    if len(reference) != len(observed):
        raise ValueError(f"bin counts differ: {len(reference)} vs {len(observed)}")
    p = _normalised(reference, smoothing)
    q = _normalised(observed, smoothing)
    return float(sum((qi - pi) * math.log(qi / pi) for pi, qi in zip(p, q, strict=True)))
