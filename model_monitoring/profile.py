"""The reference profile saved with every model version: what the model saw at training time.

Training builds it (vocabulary from the training texts; signal and probability distributions from
the validation texts, which the vocabulary has not seen, so the OOV rate is not biased low) and
logs it as the JSON artifact ``monitoring/reference_profile.json`` of the run that logged the
model. Serving loads it with the model and compares live traffic against its bins.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model_monitoring.signals import SIGNAL_NAMES, text_signals, words

PROFILE_FORMAT_VERSION = 1
PROBABILITY_SIGNAL = "probability"


@dataclass(frozen=True)
class BinnedDistribution:
    """A histogram over fixed bin edges; the outer edges are -inf/+inf for open-ended signals.

    ``proportions[i]`` is the reference share of values in ``[edges[i], edges[i + 1])``.
    """

    edges: tuple[float, ...]
    proportions: tuple[float, ...]

    def bin_index(self, value: float) -> int:
        """Index of the bin ``value`` falls in (O(log bins))."""
        index = bisect_right(self.edges, value) - 1
        return min(max(index, 0), len(self.proportions) - 1)

    def to_dict(self) -> dict[str, list[float | str]]:
        return {"edges": [_encode(e) for e in self.edges], "proportions": list(self.proportions)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BinnedDistribution:
        return cls(
            edges=tuple(_decode(e) for e in data["edges"]),
            proportions=tuple(float(p) for p in data["proportions"]),
        )

    @classmethod
    def from_values(cls, values: Sequence[float], edges: Sequence[float]) -> BinnedDistribution:
        counts = np.zeros(len(edges) - 1)
        dist = cls(edges=tuple(edges), proportions=tuple([0.0] * (len(edges) - 1)))
        for value in values:
            counts[dist.bin_index(value)] += 1
        total = max(counts.sum(), 1.0)
        return cls(
            edges=tuple(float(e) for e in edges),
            proportions=tuple(float(c / total) for c in counts),
        )


def quantile_edges(values: Sequence[float], bins: int) -> list[float]:
    """Open-ended bin edges at the quantiles of ``values`` (duplicates merged)."""
    inner = np.unique(
        np.quantile(np.asarray(values, dtype=float), np.linspace(0, 1, bins + 1)[1:-1])
    )
    return [float("-inf"), *[float(x) for x in inner], float("inf")]


def probability_edges(bins: int) -> list[float]:
    """Fixed equal-width edges over [0, 1] (probabilities are bounded)."""
    return [float(x) for x in np.linspace(0.0, 1.0, bins + 1)[:-1]] + [float("inf")]


@dataclass(frozen=True)
class ReferenceProfile:
    """Vocabulary plus one binned distribution per signal and for the predicted probability."""

    vocabulary: frozenset[str]
    distributions: dict[str, BinnedDistribution]
    n_reference_texts: int
    threshold: float | None = None
    summary: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": PROFILE_FORMAT_VERSION,
            "n_reference_texts": self.n_reference_texts,
            "threshold": self.threshold,
            "summary": self.summary,
            "distributions": {k: v.to_dict() for k, v in self.distributions.items()},
            "vocabulary": sorted(self.vocabulary),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceProfile:
        if data.get("format_version") != PROFILE_FORMAT_VERSION:
            raise ValueError(f"unsupported reference profile format {data.get('format_version')!r}")
        return cls(
            vocabulary=frozenset(data["vocabulary"]),
            distributions={
                k: BinnedDistribution.from_dict(v) for k, v in data["distributions"].items()
            },
            n_reference_texts=int(data["n_reference_texts"]),
            threshold=data.get("threshold"),
            summary={k: float(v) for k, v in data.get("summary", {}).items()},
        )

    @classmethod
    def from_json(cls, text: str) -> ReferenceProfile:
        return cls.from_dict(json.loads(text))


def build_vocabulary(
    texts: Iterable[str], max_size: int = 50_000, min_count: int = 2
) -> frozenset[str]:
    """The most frequent words of the training texts (those seen at least ``min_count`` times)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(words(text))
    return frozenset(w for w, c in counts.most_common(max_size) if c >= min_count)


def build_reference_profile(
    train_texts: Sequence[str],
    reference_texts: Sequence[str],
    reference_probabilities: Sequence[float],
    *,
    threshold: float | None = None,
    bins: int = 10,
    vocabulary_size: int = 50_000,
) -> ReferenceProfile:
    """Build the profile: vocabulary from ``train_texts``, distributions from the held-out
    ``reference_texts`` and the model's probabilities for them."""
    if len(reference_texts) != len(reference_probabilities):
        raise ValueError("reference_texts and reference_probabilities differ in length")
    if not reference_texts:
        raise ValueError("a reference profile needs at least one reference text")
    vocabulary = build_vocabulary(train_texts, max_size=vocabulary_size)
    per_signal: dict[str, list[float]] = {name: [] for name in SIGNAL_NAMES}
    for text in reference_texts:
        for name, value in text_signals(text, vocabulary).as_dict().items():
            per_signal[name].append(value)
    distributions = {
        name: BinnedDistribution.from_values(values, quantile_edges(values, bins))
        for name, values in per_signal.items()
    }
    probs = [float(p) for p in reference_probabilities]
    distributions[PROBABILITY_SIGNAL] = BinnedDistribution.from_values(
        probs, probability_edges(bins)
    )
    summary = {f"{name}_mean": float(np.mean(values)) for name, values in per_signal.items()}
    summary["probability_mean"] = float(np.mean(probs))
    return ReferenceProfile(
        vocabulary=vocabulary,
        distributions=distributions,
        n_reference_texts=len(reference_texts),
        threshold=threshold,
        summary=summary,
    )


def _encode(value: float) -> float | str:
    return value if np.isfinite(value) else ("inf" if value > 0 else "-inf")


def _decode(value: float | str) -> float:
    return float(value)
