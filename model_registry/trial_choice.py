"""Which tuning trial a candidate keeps: the most regularised one whose validation F1 is within one
standard error of the best (the "one-standard-error rule" of model selection).

Trials of one candidate differ in validation F1 by less than the noise of a few thousand texts
(on the shipped corpus: 0.9656 at ``C`` 30 and 0.9658 at ``C`` 184 for the champion candidate,
about 0.003 apart being one standard error). Taking the highest then lets the last digits, which
differ between machines (floating-point sums in another order), pick the model: on one machine
``C`` 30, on another ``C`` 184, whose larger weights on rare words such as first names made a
signed letter's verdict depend on the signer's name and failed the behaviour tests. Among trials
the validation split cannot tell apart, the one with the least freedom (``CandidateSpec.
complexity``: ``C`` for the logistic models, the inverse smoothing for naive Bayes) is kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def f1_standard_error(f1: float, n_texts: int) -> float:
    """The standard error of an F1 measured on ``n_texts`` texts, as that of a proportion."""
    return math.sqrt(max(f1 * (1.0 - f1), 0.0) / max(n_texts, 1))


def choose_trial(f1s: Sequence[float], complexities: Sequence[float], n_validation: int) -> int:
    """The index of the trial to keep: among those within one standard error of the best F1,
    the lowest complexity (then the higher F1, then the earlier trial)."""
    if not f1s or len(f1s) != len(complexities):
        raise ValueError(f"{len(f1s)} F1 values for {len(complexities)} trials")
    best = max(f1s)
    floor = best - f1_standard_error(best, n_validation)
    tied = [i for i, f1 in enumerate(f1s) if f1 >= floor]
    return min(tied, key=lambda i: (complexities[i], -f1s[i], i))
