"""Unit tests of the live drift window: scores, eviction, resets, robustness, gauges."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from model_monitoring.live_drift import DRIFT_SIGNALS, LiveDriftMonitor
from model_monitoring.profile import ReferenceProfile, build_reference_profile
from tests.support.model_fixtures import sample


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def corpus_split() -> tuple[ReferenceProfile, list[str], list[float]]:
    """A profile from 300 training + 200 reference essays, and 300 held-out essays."""
    data = sample(800, seed=3)["text"].tolist()
    rng = random.Random(0)
    reference_probabilities = [rng.betavariate(0.5, 0.5) for _ in range(200)]
    profile = build_reference_profile(data[:300], data[300:500], reference_probabilities)
    held_out = data[500:]
    held_out_probabilities = [rng.betavariate(0.5, 0.5) for _ in held_out]
    return profile, held_out, held_out_probabilities


def off_domain_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    openers = ["hey", "lol", "ok so", "Q:", "BREAKING:", "omg", "brb", "A:"]
    bodies = ["where r u?? 2nite @ 8pm", "price $4.99 (50% off!!)", "gr8 game 3-1 :)", "idk 🤷"]
    return [f"{rng.choice(openers)} {rng.choice(bodies)} #{rng.randint(1, 99)}" for _ in range(n)]


def new_monitor(**kwargs: Any) -> tuple[LiveDriftMonitor, FakeClock, CollectorRegistry]:
    clock = FakeClock()
    registry = CollectorRegistry()
    options: dict[str, Any] = {"min_samples": 50, "recompute_interval_seconds": 0.0, **kwargs}
    monitor = LiveDriftMonitor(200, 600.0, registry=registry, clock=clock, **options)
    return monitor, clock, registry


def test_in_domain_window_scores_low_and_shifted_window_scores_high(corpus_split) -> None:
    profile, held_out, probabilities = corpus_split
    monitor, clock, _ = new_monitor()
    monitor.set_reference(profile, 0.5, "1")
    for text, probability in zip(held_out[:200], probabilities, strict=False):
        clock.now += 0.1
        monitor.observe(text, probability)
    in_domain = monitor.refresh()
    assert in_domain.enough_samples and in_domain.window_size == 200
    assert max(in_domain.scores.values()) < 0.25, in_domain.scores

    for text in off_domain_texts(200):
        clock.now += 0.1
        monitor.observe(text, 0.97)
    shifted = monitor.refresh()
    assert shifted.window_size == 200
    for signal in DRIFT_SIGNALS:
        assert shifted.scores[signal] > 0.5, (signal, shifted.scores)
    assert shifted.combined_score > in_domain.combined_score + 0.3


def test_score_is_zero_until_min_samples(corpus_split) -> None:
    profile, _, _ = corpus_split
    monitor, _, _ = new_monitor(min_samples=50)
    monitor.set_reference(profile, 0.5, "1")
    for text in off_domain_texts(49):
        monitor.observe(text, 0.9)
    snap = monitor.refresh()
    assert snap.window_size == 49 and not snap.enough_samples
    assert snap.combined_score == 0.0
    monitor.observe("one more", 0.9)
    assert monitor.refresh().combined_score > 0.5


def test_window_is_bounded_by_count_and_time(corpus_split) -> None:
    profile, _, _ = corpus_split
    monitor, clock, _ = new_monitor()
    monitor.set_reference(profile, 0.5, "1")
    for text in off_domain_texts(500):
        monitor.observe(text, 0.5)
    assert monitor.refresh().window_size == 200
    clock.now += 300
    monitor.observe("fresh", 0.5)
    assert monitor.refresh().window_size == 201 - 1  # still capped at 200
    clock.now += 301  # the 199 older entries expire, the fresh one stays
    snap = monitor.refresh()
    assert snap.window_size == 1
    window = monitor._window
    assert window is not None
    assert sum(window.counts["length_chars"]) == 1


def test_set_reference_resets_window(corpus_split) -> None:
    profile, _, _ = corpus_split
    monitor, _, registry = new_monitor()
    monitor.set_reference(profile, 0.5, "1")
    for text in off_domain_texts(100):
        monitor.observe(text, 0.51)
    assert monitor.refresh().window_size == 100
    monitor.set_reference(profile, 0.3, "2")
    snap = monitor.snapshot()
    assert snap.window_size == 0 and snap.model_version == "2" and snap.combined_score == 0.0
    assert registry.get_sample_value("detector_drift_window_size") == 0


def test_near_threshold_share(corpus_split) -> None:
    profile, _, _ = corpus_split
    monitor, _, registry = new_monitor(near_threshold_margin=0.1)
    monitor.set_reference(profile, 0.7, "1")
    for i in range(100):
        monitor.observe("some text", 0.65 if i % 4 == 0 else 0.1)
    assert monitor.refresh().near_threshold_share == pytest.approx(0.25)
    assert registry.get_sample_value("detector_drift_near_threshold_share") == pytest.approx(0.25)


def test_near_threshold_is_measured_at_the_threshold_each_text_was_judged_at(
    corpus_split,
) -> None:
    """Serving routes texts to per-domain thresholds: a text judged at 0.3 whose probability is
    0.35 is borderline, even though the global threshold (0.9) is far from it; one judged at the
    global threshold is measured against that."""
    profile, _, _ = corpus_split
    monitor, _, _ = new_monitor(near_threshold_margin=0.1)
    monitor.set_reference(profile, 0.9, "1")
    for i in range(100):
        if i % 2 == 0:
            monitor.observe("some text", 0.35, 0.3)  # near its own domain's threshold
        else:
            monitor.observe("some text", 0.35, None)  # global threshold 0.9: far
    assert monitor.refresh().near_threshold_share == pytest.approx(0.5)


def test_without_profile_only_near_threshold_share_is_tracked() -> None:
    monitor, _, _ = new_monitor()
    monitor.set_reference(None, 0.5, "7")
    for _ in range(60):
        monitor.observe("text", 0.5)
    snap = monitor.refresh()
    assert snap.window_size == 60 and snap.near_threshold_share == 1.0
    assert snap.combined_score == 0.0 and not snap.enough_samples


def test_observe_never_raises(corpus_split) -> None:
    profile, _, _ = corpus_split
    monitor, _, _ = new_monitor()
    monitor.observe("before any reference", 0.4)
    monitor.set_reference(profile, 0.5, "1")
    wrong: Any = None  # what a caller breaking the annotations could pass
    monitor.observe(wrong, 0.5)
    wrong = "not a number"
    monitor.observe("text", wrong)
    monitor.observe("text", math.nan)
    monitor.observe("", 0.5)
    assert monitor.errors == 2
    assert monitor.refresh().window_size == 2


def test_gauges_match_snapshot(corpus_split) -> None:
    profile, held_out, probabilities = corpus_split
    monitor, _, registry = new_monitor()
    monitor.set_reference(profile, 0.5, "1")
    monitor.observe_many(held_out[:80], probabilities[:80])
    snap = monitor.refresh()
    for signal in DRIFT_SIGNALS:
        value = registry.get_sample_value("detector_drift_score", {"signal": signal})
        assert value == pytest.approx(snap.scores[signal])
    assert registry.get_sample_value("detector_drift_combined_score") == pytest.approx(
        snap.combined_score
    )
    assert registry.get_sample_value("detector_drift_window_size") == 80


def test_recomputation_is_throttled(corpus_split) -> None:
    profile, _, _ = corpus_split
    monitor, clock, registry = new_monitor(recompute_interval_seconds=0.5, min_samples=1)
    monitor.set_reference(profile, 0.5, "1")
    monitor.observe("first", 0.5)  # first observation after a reset publishes at once
    for text in off_domain_texts(10):
        clock.now += 0.01
        monitor.observe(text, 0.5)
    assert registry.get_sample_value("detector_drift_window_size") == 1
    clock.now += 0.5
    monitor.observe("late", 0.5)
    assert registry.get_sample_value("detector_drift_window_size") == 12


def test_rate_limit_samples_observations(corpus_split) -> None:
    profile, _, _ = corpus_split
    monitor, clock, _ = new_monitor(max_observations_per_second=10)
    monitor.set_reference(profile, 0.5, "1")
    for _ in range(100):  # 100 requests in 1 s at a cap of 10/s (bucket starts full)
        clock.now += 0.01
        monitor.observe("text", 0.5)
    assert 10 <= monitor.refresh().window_size <= 21
    assert monitor.sampled_out == 100 - monitor.snapshot().window_size


def test_two_monitors_share_the_registry_gauges(corpus_split) -> None:
    registry = CollectorRegistry()
    first = LiveDriftMonitor(10, 60, registry=registry)
    second = LiveDriftMonitor(10, 60, registry=registry)
    assert first._gauges is second._gauges


def test_invalid_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="window_size"):
        LiveDriftMonitor(0, 60, registry=CollectorRegistry())
    with pytest.raises(ValueError, match="window_seconds"):
        LiveDriftMonitor(10, 0, registry=CollectorRegistry())
