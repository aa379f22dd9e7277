"""Which AI rewrites the model catches, by how much of a person's wording they keep.

Part of the corpus's AI texts are rewrites of a human text that sits in the same group
(``group_id``; splits keep a group whole, so the original is in the same split). A rewrite that
keeps most of the person's sentences is, word for word, mostly that person's writing: a detector
of *how* text is written scores it like the original. ``kept_wording`` measures, per AI text
with a human text in its group, the share of its distinct word pairs (adjacent words, case
folded) that also occur in that group's human text; ``by_kept_wording`` reports, per band of
that share, how many of those AI texts the version calls AI at its served thresholds, leaves
"uncertain", or calls human. It shows where in-genre misses come from (on the shipped corpus
encyclopedia and news rewrites keep the most wording) and what a user may expect of a text a
person wrote and an AI edited.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from model_registry import contract
from model_registry.domain_evaluation import Thresholds, group_metrics, thresholds_of_rows

_WORD = re.compile(r"\w+")
#: Left-closed bands of the kept share (the last one open-ended, so it holds 1.0), named for the
#: table.
BANDS: tuple[tuple[str, float, float], ...] = (
    ("under_10pct", 0.0, 0.1),
    ("10_to_30pct", 0.1, 0.3),
    ("30_to_50pct", 0.3, 0.5),
    ("50pct_or_more", 0.5, math.inf),
)
#: AI texts whose group holds no human text (generated from a prompt, not a person's text).
NO_ORIGINAL = "no_original"


def word_pairs(text: str) -> set[tuple[str, str]]:
    """The distinct adjacent word pairs of ``text``, case folded."""
    words = _WORD.findall(text.casefold())
    return set(pairwise(words))


def kept_wording(texts: Sequence[str], labels: Any, groups: Any) -> np.ndarray:
    """Per text: for an AI text whose group has human texts, the share of its distinct word pairs
    found in them (0 when it has no pair); NaN for human texts and AI texts without one."""
    y, g = np.asarray(labels), np.asarray(groups)
    human_pairs: dict[Any, set[tuple[str, str]]] = defaultdict(set)
    for row in np.flatnonzero(y == contract.LABEL_HUMAN):
        human_pairs[g[row]] |= word_pairs(texts[int(row)])
    kept = np.full(len(y), np.nan)
    for row in np.flatnonzero(y == contract.LABEL_AI):
        original = human_pairs.get(g[row])
        if original is None:
            continue
        pairs = word_pairs(texts[int(row)])
        kept[row] = len(pairs & original) / len(pairs) if pairs else 0.0
    return kept


def by_kept_wording(
    y: Any, p: Any, threshold: Thresholds, human_below: Thresholds | None, kept: np.ndarray
) -> dict[str, dict[str, Any]]:
    """Per band of ``kept`` (and ``NO_ORIGINAL``): the AI texts' count (``n_ai``), the share
    called AI (``tpr_ai``, each at its own threshold) and, with the band's lower bounds
    ``human_below``, the share left "uncertain"; bands without a text are left out."""
    y_arr, p_arr = np.asarray(y), np.asarray(p, dtype=float)
    ai = y_arr == contract.LABEL_AI
    masks = {name: ai & (kept >= low) & (kept < high) for name, low, high in BANDS}
    masks[NO_ORIGINAL] = ai & np.isnan(kept)
    out: dict[str, dict[str, Any]] = {}
    for name, rows in masks.items():
        if not rows.any():
            continue
        below = None if human_below is None else thresholds_of_rows(human_below, rows)
        at = thresholds_of_rows(threshold, rows)
        metrics = group_metrics(y_arr[rows], p_arr[rows], at, below)
        out[name] = {
            key: metrics[key] for key in ("n_ai", "tpr_ai", "uncertain_share") if key in metrics
        }
    return out
