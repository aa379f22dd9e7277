"""Micro-batching: concurrent requests share model calls, answers stay in order and per job."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, cast

import numpy as np
import pytest

from model_serving.batching import MicroBatcher
from model_serving.errors import ModelUnavailable, PredictionFailed
from model_serving.model_version import LoadedModel


class RecordingModel:
    """Stands in for LoadedModel: P(AI) = len(text) / 1000, records every batch size."""

    version = "7"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.batches: list[int] = []
        self.threads: set[str] = set()

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self.batches.append(len(texts))
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)  # a slow model, so that requests pile up
        return np.array([len(t) / 1000 for t in texts])


def as_model(fake: object) -> LoadedModel:
    """A test double standing in for a loaded model (it has the methods the batcher calls)."""
    return cast(LoadedModel, fake)


async def _run(batcher: MicroBatcher, jobs: list[list[str]]) -> list[Any]:
    batcher.start()
    try:
        return await asyncio.gather(*(batcher.predict(job) for job in jobs))
    finally:
        batcher.stop()


def test_concurrent_requests_are_batched_and_answered_in_order() -> None:
    model = RecordingModel(delay=0.01)
    batcher = MicroBatcher(lambda: as_model(model), lambda: "", max_wait=0.005, max_size=8)
    jobs = [["x" * n] for n in range(1, 41)]
    results = asyncio.run(_run(batcher, jobs))
    for n, result in zip(range(1, 41), results, strict=True):
        assert result.probabilities.tolist() == [n / 1000]
        assert result.model is model
    assert sum(model.batches) == 40
    assert max(model.batches) == 8  # never above max_size
    assert len(model.batches) < 40 / 2  # really batched
    assert model.threads == {"predictor"}  # never on the event loop thread


def test_batch_jobs_keep_their_texts_together() -> None:
    model = RecordingModel()
    batcher = MicroBatcher(lambda: as_model(model), lambda: "", max_wait=0.002, max_size=32)
    jobs = [["a", "bb", "ccc"], ["dddd"], ["e" * 5, "f" * 6]]
    results = asyncio.run(_run(batcher, jobs))
    assert [r.probabilities.tolist() for r in results] == [
        [0.001, 0.002, 0.003],
        [0.004],
        [0.005, 0.006],
    ]


def test_disabled_batching_scores_each_request_alone() -> None:
    model = RecordingModel(delay=0.002)
    batcher = MicroBatcher(lambda: as_model(model), lambda: "", enabled=False, max_size=32)
    asyncio.run(_run(batcher, [["x"]] * 10 + [["a", "b", "c"]]))
    assert sorted(model.batches) == [1] * 10 + [3]


def test_no_model_is_model_unavailable_with_the_reason() -> None:
    batcher = MicroBatcher(lambda: None, lambda: "registry down")
    with pytest.raises(ModelUnavailable, match="registry down"):
        asyncio.run(_run(batcher, [["x"]]))


def test_a_failing_model_fails_its_requests_not_the_thread() -> None:
    class Exploding(RecordingModel):
        def predict_proba(self, texts: list[str]) -> np.ndarray:
            if "boom" in texts:
                raise ValueError("boom")
            return super().predict_proba(texts)

    model = Exploding()
    batcher = MicroBatcher(lambda: as_model(model), lambda: "", max_wait=0.0)

    async def scenario() -> list[Any]:
        batcher.start()
        try:
            with pytest.raises(PredictionFailed, match="prediction failed"):
                await batcher.predict(["boom"])
            return [await batcher.predict(["fine"])]
        finally:
            batcher.stop()

    assert asyncio.run(scenario())[0].probabilities.tolist() == [0.004]


def test_stop_answers_queued_jobs() -> None:
    model = RecordingModel(delay=0.005)
    batcher = MicroBatcher(lambda: as_model(model), lambda: "", max_wait=0.0, max_size=2)

    async def scenario() -> list[Any]:
        batcher.start()
        tasks = [asyncio.ensure_future(batcher.predict(["x"])) for _ in range(10)]
        await asyncio.sleep(0)  # let every task enqueue its job
        await asyncio.get_running_loop().run_in_executor(None, batcher.stop)
        return await asyncio.gather(*tasks)

    assert len(asyncio.run(scenario())) == 10
