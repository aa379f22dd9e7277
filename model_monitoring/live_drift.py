"""Live text drift inside the serving process: a sliding window compared with the reference.

``LiveDriftMonitor`` keeps, for the texts scored most recently (at most ``window_size`` of them and
none older than ``window_seconds``), per-bin counts of each cheap text signal
(``model_monitoring.signals.SIGNAL_NAMES``) and of the predicted probability, on the bins of the
model's reference profile. From these it computes the Jensen-Shannon distance to the reference
for every signal (see ``drift_statistics`` for why JS and not PSI), a combined score (the mean of
the per-signal distances) and the share of predictions near the decision threshold, and publishes
them as the ``detector_drift_*`` gauges of ``docs/CONTRACTS.md``.

Cost per ``observe``: the text signals (one pass over the text at C speed; measured in
``bench/results/drift_cost.json``), O(1) window bookkeeping, and every
``recompute_interval_seconds`` an O(signals x bins) recomputation.
``max_observations_per_second`` (token bucket) bounds the total cost under heavy load by
sampling: drift is a property of the traffic's distribution, and a uniform sample of it estimates
the same distribution.

Multiprocess (several uvicorn workers with ``PROMETHEUS_MULTIPROC_DIR``): every worker keeps its
own window over the requests it served, i.e. a random subset of the same traffic. The score
gauges use ``multiprocess_mode="livemax"``: the exported value is the largest score among live
workers, the conservative choice for alerting (a drift any worker sees is reported), and dead
workers' values disappear. A worker whose window holds fewer than ``min_samples`` texts publishes
0 ("not enough evidence"), so a barely used worker neither hides nor fakes drift. The window size
gauge uses ``livesum`` (total texts in all windows).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client import REGISTRY, CollectorRegistry, Gauge

from model_monitoring.drift_statistics import js_distance
from model_monitoring.profile import PROBABILITY_SIGNAL, BinnedDistribution, ReferenceProfile
from model_monitoring.signals import SIGNAL_NAMES, text_signals

logger = logging.getLogger(__name__)

#: Every signal the live monitor scores, in gauge-label order.
DRIFT_SIGNALS: tuple[str, ...] = (*SIGNAL_NAMES, PROBABILITY_SIGNAL)


@dataclass(frozen=True)
class DriftGauges:
    """The ``detector_drift_*`` gauges of one registry."""

    score: Gauge
    combined: Gauge
    window_size: Gauge
    near_threshold_share: Gauge


_GAUGES: weakref.WeakKeyDictionary[CollectorRegistry, DriftGauges] = weakref.WeakKeyDictionary()
_GAUGES_LOCK = threading.Lock()


def drift_gauges(registry: CollectorRegistry = REGISTRY) -> DriftGauges:
    """The drift gauges registered on ``registry`` (created on first use, then shared)."""
    with _GAUGES_LOCK:
        gauges = _GAUGES.get(registry)
        if gauges is None:
            gauges = DriftGauges(
                score=Gauge(
                    "detector_drift_score",
                    "Jensen-Shannon distance (0-1) between the live window and the reference "
                    "profile, per signal; 0 until the window holds min_samples texts.",
                    ["signal"],
                    multiprocess_mode="livemax",
                    registry=registry,
                ),
                combined=Gauge(
                    "detector_drift_combined_score",
                    "Mean of the per-signal drift scores (0-1).",
                    multiprocess_mode="livemax",
                    registry=registry,
                ),
                window_size=Gauge(
                    "detector_drift_window_size",
                    "Texts in the live drift window(s).",
                    multiprocess_mode="livesum",
                    registry=registry,
                ),
                near_threshold_share=Gauge(
                    "detector_drift_near_threshold_share",
                    "Share of windowed predictions whose probability is within the margin of the "
                    "decision threshold.",
                    multiprocess_mode="livemax",
                    registry=registry,
                ),
            )
            for signal in DRIFT_SIGNALS:
                gauges.score.labels(signal=signal).set(0)
            _GAUGES[registry] = gauges
        return gauges


@dataclass(frozen=True)
class DriftSnapshot:
    """The monitor's latest computed state (what the gauges show)."""

    model_version: str | None
    window_size: int
    scores: dict[str, float]
    combined_score: float
    near_threshold_share: float
    enough_samples: bool


@dataclass
class _Window:
    """Per-bin counts of the observations currently in the window."""

    distributions: dict[str, BinnedDistribution]
    vocabulary: frozenset[str]
    counts: dict[str, list[int]] = field(default_factory=dict)
    entries: deque[tuple[float, tuple[int, ...], bool]] = field(default_factory=deque)
    near_threshold: int = 0

    def __post_init__(self) -> None:
        self.counts = {name: [0] * len(d.proportions) for name, d in self.distributions.items()}


class LiveDriftMonitor:
    """Sliding-window drift of live traffic against a model's reference profile.

    Thread-safe; ``observe`` never raises (errors are logged, rate-limited, and counted in
    ``errors``). Call ``set_reference`` on every model swap: it resets the window.
    """

    def __init__(
        self,
        window_size: int,
        window_seconds: float,
        *,
        min_samples: int = 200,
        recompute_interval_seconds: float = 0.5,
        near_threshold_margin: float = 0.1,
        max_observations_per_second: float | None = None,
        registry: CollectorRegistry = REGISTRY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window_size < 1:
            raise ValueError("window_size must be at least 1")
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        if max_observations_per_second is not None and max_observations_per_second <= 0:
            raise ValueError("max_observations_per_second must be positive (or None)")
        self.window_size = window_size
        self.window_seconds = float(window_seconds)
        self.min_samples = max(1, min(min_samples, window_size))
        self.recompute_interval_seconds = recompute_interval_seconds
        self.near_threshold_margin = near_threshold_margin
        self.max_observations_per_second = max_observations_per_second
        self.errors = 0
        self.sampled_out = 0
        self._gauges = drift_gauges(registry)
        self._clock = clock
        self._lock = threading.Lock()
        self._profile: ReferenceProfile | None = None
        self._threshold = 0.5
        self._model_version: str | None = None
        self._window: _Window | None = None
        self._near: deque[tuple[float, bool]] = deque()
        self._near_count = 0
        self._last_compute = -math.inf
        self._tokens = max_observations_per_second or 0.0
        self._last_refill = clock()
        self._snapshot = DriftSnapshot(None, 0, dict.fromkeys(DRIFT_SIGNALS, 0.0), 0.0, 0.0, False)

    # --- model swaps ----------------------------------------------------------------------

    def set_reference(
        self, profile: ReferenceProfile | None, threshold: float, model_version: str
    ) -> None:
        """Compare against ``profile`` from now on; empties the window (new model, new window).

        With ``profile=None`` (a model logged without a profile) only the near-threshold share is
        tracked and the drift scores stay 0.
        """
        distributions: dict[str, BinnedDistribution] = {}
        if profile is not None:
            missing = [s for s in DRIFT_SIGNALS if s not in profile.distributions]
            if missing:
                logger.warning(
                    "reference profile of model version %s lacks signals %s; not scored",
                    model_version,
                    ", ".join(missing),
                )
            distributions = {
                s: profile.distributions[s] for s in DRIFT_SIGNALS if s in profile.distributions
            }
        else:
            logger.warning("model version %s has no reference profile", model_version)
        with self._lock:
            self._profile = profile
            self._threshold = float(threshold)
            self._model_version = model_version
            self._window = (
                _Window(distributions, profile.vocabulary)
                if profile is not None and distributions
                else None
            )
            self._near.clear()
            self._near_count = 0
            self._publish_locked(self._clock())
            self._last_compute = -math.inf  # the first observation publishes at once
        logger.info(
            "drift window reset for model version %s (window %d texts / %.0f s)",
            model_version,
            self.window_size,
            self.window_seconds,
        )

    # --- per request ----------------------------------------------------------------------

    def observe(self, text: str, probability: float, threshold: float | None = None) -> None:
        """Add one scored text to the window. O(len(text)) signals + O(1) window work.

        ``threshold`` is the one the text was judged at (serving routes each text to its nearest
        training domain's threshold); without it, the model's global threshold. "Near the
        threshold" is measured against it, so a text judged at its domain's threshold is not
        counted as borderline by another domain's."""
        try:
            self._observe(text, probability, threshold)
        except Exception:
            self.errors += 1
            if self.errors == 1 or self.errors % 1000 == 0:
                logger.exception("drift observation failed (%d failures so far)", self.errors)

    def observe_many(self, texts: Iterable[str], probabilities: Iterable[float]) -> None:
        """``observe`` for every (text, probability) pair of a batch."""
        for text, probability in zip(texts, probabilities, strict=False):
            self.observe(text, probability)

    def _observe(self, text: str, probability: float, threshold: float | None) -> None:
        now = self._clock()
        if self.max_observations_per_second is not None and not self._take_token(now):
            self.sampled_out += 1
            return
        probability = float(probability)
        window = self._window  # read once: a concurrent swap replaces the object, never mutates
        bins: tuple[int, ...] = ()
        if window is not None:
            values = text_signals(text, window.vocabulary).as_dict()
            values[PROBABILITY_SIGNAL] = probability
            bins = tuple(d.bin_index(values[s]) for s, d in window.distributions.items())
        judged_at = self._threshold if threshold is None else float(threshold)
        near = abs(probability - judged_at) <= self.near_threshold_margin
        with self._lock:
            if window is self._window and window is not None:
                window.entries.append((now, bins, near))
                window.near_threshold += near
                for signal_counts, index in zip(window.counts.values(), bins, strict=True):
                    signal_counts[index] += 1
            elif window is None and self._window is None:
                self._near.append((now, near))
                self._near_count += near
            self._evict_locked(now)
            if now - self._last_compute >= self.recompute_interval_seconds:
                self._publish_locked(now)

    def _take_token(self, now: float) -> bool:
        rate = self.max_observations_per_second or 0.0
        with self._lock:
            self._tokens = min(rate, self._tokens + (now - self._last_refill) * rate)
            self._last_refill = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    # --- window maintenance and publication -----------------------------------------------

    def refresh(self) -> DriftSnapshot:
        """Drop expired entries, recompute and publish now (e.g. before a scrape); the snapshot."""
        with self._lock:
            now = self._clock()
            self._evict_locked(now)
            self._publish_locked(now)
            return self._snapshot

    def snapshot(self) -> DriftSnapshot:
        """The state computed last (at most ``recompute_interval_seconds`` old under traffic)."""
        return self._snapshot

    def _evict_locked(self, now: float) -> None:
        oldest_allowed = now - self.window_seconds
        window = self._window
        if window is not None:
            entries = window.entries
            while entries and (len(entries) > self.window_size or entries[0][0] < oldest_allowed):
                _, bins, was_near = entries.popleft()
                window.near_threshold -= was_near
                for signal_counts, index in zip(window.counts.values(), bins, strict=True):
                    signal_counts[index] -= 1
        near = self._near
        while near and (len(near) > self.window_size or near[0][0] < oldest_allowed):
            self._near_count -= near.popleft()[1]

    def _publish_locked(self, now: float) -> None:
        self._last_compute = now
        window = self._window
        scores = dict.fromkeys(DRIFT_SIGNALS, 0.0)
        if window is not None:
            size = len(window.entries)
            near_count = window.near_threshold
        else:
            size = len(self._near)
            near_count = self._near_count
        enough = window is not None and size >= self.min_samples
        if enough and window is not None:
            for signal, distribution in window.distributions.items():
                scores[signal] = js_distance(distribution.proportions, window.counts[signal])
            scored = [scores[s] for s in window.distributions]
            combined = sum(scored) / len(scored)
        else:
            combined = 0.0
        near_share = near_count / size if size else 0.0
        self._snapshot = DriftSnapshot(
            model_version=self._model_version,
            window_size=size,
            scores=scores,
            combined_score=combined,
            near_threshold_share=near_share,
            enough_samples=enough,
        )
        gauges = self._gauges
        for signal, value in scores.items():
            gauges.score.labels(signal=signal).set(value)
        gauges.combined.set(combined)
        gauges.window_size.set(size)
        gauges.near_threshold_share.set(near_share)
