"""Feedback bookkeeping: recent predictions by id and accuracy over the last N feedback items.

Predictions reach the database asynchronously, so the ids this process handed out recently are
also kept in a bounded in-memory map: feedback sent right after a prediction is matched without
waiting for the writer. Older ids (or ids another worker produced) are looked up in the database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PredictedLabel:
    label: str
    model_version: str


class RecentPredictions:
    """A bounded id -> predicted label map (oldest evicted first); thread-safe."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, PredictedLabel] = OrderedDict()
        self._with_feedback: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, prediction_id: str, predicted: PredictedLabel) -> None:
        with self._lock:
            self._items[prediction_id] = predicted
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def get(self, prediction_id: str) -> PredictedLabel | None:
        with self._lock:
            return self._items.get(prediction_id)

    def claim_feedback(self, prediction_id: str) -> bool:
        """Mark ``prediction_id`` as having feedback; False if it already was (atomic)."""
        with self._lock:
            if prediction_id in self._with_feedback:
                return False
            self._with_feedback[prediction_id] = None
            while len(self._with_feedback) > self.capacity:
                self._with_feedback.popitem(last=False)
            return True

    def release_feedback(self, prediction_id: str) -> None:
        with self._lock:
            self._with_feedback.pop(prediction_id, None)


class AccuracyWindow:
    """Whether each of the last ``size`` feedback items agreed with the prediction."""

    def __init__(self, size: int) -> None:
        self._outcomes: deque[bool] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, correct: bool) -> tuple[float, int]:
        """Record one outcome; return (accuracy, window length)."""
        with self._lock:
            self._outcomes.append(correct)
            return sum(self._outcomes) / len(self._outcomes), len(self._outcomes)
