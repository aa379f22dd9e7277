"""Adaptive micro-batching: concurrent requests are scored together in one dedicated thread.

Request handlers (on the event loop) ``await batcher.predict(texts)``; the job goes into a queue
and the prediction thread takes the first waiting job, then everything else already queued, then
keeps collecting for at most ``max_wait`` seconds until ``max_size`` texts are gathered, and scores
them in one ``predict_proba`` call. Under load, requests pile up while the previous batch is being
scored, so batches grow by themselves; a lone request waits at most ``max_wait``. The event loop
never runs the model. With batching disabled every job is scored on its own (same thread), which
is what the benchmark's "batching off" figures measure.

Every text of a batch is scored by the same model snapshot, and the result says which one; the
scope checks (``model_monitoring.scope``) run here too, with the scoring, for the same reason.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from model_monitoring.scope import ScopeVerdict
from model_serving.errors import ModelUnavailable, PredictionFailed
from model_serving.model_version import LoadedModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchResult:
    probabilities: np.ndarray
    model: LoadedModel
    #: One scope verdict per text (same order), from the same model snapshot.
    scope: list[ScopeVerdict]


@dataclass
class _Job:
    texts: list[str]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[BatchResult]
    enqueued: float = field(default_factory=time.perf_counter)


def _resolve(future: asyncio.Future[BatchResult], result: BatchResult | BaseException) -> None:
    if future.done():  # the client went away
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


_Outcome = tuple[asyncio.Future[BatchResult], BatchResult | BaseException]


def _resolve_all(outcomes: list[_Outcome]) -> None:
    for future, result in outcomes:
        _resolve(future, result)


def _hand_back(jobs: list[_Job], results: list[BatchResult | BaseException]) -> None:
    """Resolve every job's future on its event loop, one wake-up per loop: each
    ``call_soon_threadsafe`` wakes the loop (a write to its self-pipe, a read and a loop turn),
    and one batch usually answers many requests of the same loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for job, result in zip(jobs, results, strict=True):
        by_loop.setdefault(job.loop, []).append((job.future, result))
    for loop, outcomes in by_loop.items():
        loop.call_soon_threadsafe(_resolve_all, outcomes)


class MicroBatcher:
    """One prediction thread fed by an unbounded job queue (requests are bounded upstream)."""

    def __init__(
        self,
        current_model: Callable[[], LoadedModel | None],
        unavailable_reason: Callable[[], str],
        *,
        enabled: bool = True,
        max_wait: float = 0.002,
        max_size: int = 32,
        on_batch: Callable[[int], None] = lambda n: None,
    ) -> None:
        self._current_model = current_model
        self._unavailable_reason = unavailable_reason
        self.enabled = enabled
        self.max_wait = max_wait
        self.max_size = max_size if enabled else 1
        self._on_batch = on_batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="predictor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    async def predict(self, texts: list[str]) -> BatchResult:
        """P(AI) for ``texts`` (in order) and the model that scored them."""
        if self._current_model() is None:
            raise ModelUnavailable(self._unavailable_reason())
        loop = asyncio.get_running_loop()
        job = _Job(texts=texts, loop=loop, future=loop.create_future())
        self._queue.put(job)
        return await job.future

    # --- prediction thread ---------------------------------------------------------------

    def _run(self) -> None:
        carry: _Job | None = None
        while True:
            first = carry if carry is not None else self._queue.get()
            carry = None
            if first is None:
                return
            jobs = [first]
            size = len(first.texts)
            deadline = time.perf_counter() + self.max_wait
            stop = False
            while size < self.max_size:
                remaining = deadline - time.perf_counter()
                try:
                    job = (
                        self._queue.get_nowait()
                        if remaining <= 0
                        else self._queue.get(timeout=remaining)
                    )
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                if size + len(job.texts) > self.max_size:
                    carry = job  # starts the next batch; batches never exceed max_size
                    break
                jobs.append(job)
                size += len(job.texts)
            self._score(jobs)
            if stop:
                self._drain()
                return

    def _drain(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                self._score([job])

    def _score(self, jobs: list[_Job]) -> None:
        model = self._current_model()
        if model is None:
            error = ModelUnavailable(self._unavailable_reason())
            _hand_back(jobs, [error] * len(jobs))
            return
        texts = [text for job in jobs for text in job.texts]
        try:
            probabilities = model.predict_proba(texts)
        except Exception:  # the model failed on this input: report per job, log the cause
            logger.exception("prediction failed for a batch of %d texts", len(texts))
            _hand_back(jobs, [PredictionFailed() for _ in jobs])
            return
        verdicts = _scope_of(model, texts)
        self._on_batch(len(texts))
        results: list[BatchResult | BaseException] = []
        offset = 0
        for job in jobs:
            n = len(job.texts)
            results.append(
                BatchResult(
                    probabilities[offset : offset + n], model, verdicts[offset : offset + n]
                )
            )
            offset += n
        _hand_back(jobs, results)


def _scope_of(model: LoadedModel, texts: list[str]) -> list[ScopeVerdict]:
    """Scope verdicts (in this thread, batched with scoring: never on the event loop). A failing
    check must not fail the prediction: the texts are then answered as before scope existed."""
    try:
        return model.assess_scope(texts)
    except Exception:
        logger.exception("scope check failed for a batch of %d texts", len(texts))
        return [ScopeVerdict(True, None, None)] * len(texts)
