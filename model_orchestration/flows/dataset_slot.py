"""One slot for every flow that moves the dataset pointer ``LATEST`` or the ``champion`` alias.

``ingest`` (merge new batches onto ``LATEST``), ``train`` (store the validated set as ``LATEST``,
then gate and maybe move ``@champion``) and ``retrain`` (the same, started by an alert *or* by the
nightly schedule) used to run side by side: ``train`` could overwrite ``LATEST`` with the set it
loaded before an ingest committed (the ingested rows vanished while their files had already moved
to ``processed/``), and a scheduled and an alert-triggered retrain could race on ``@champion``.

Each of those flows now runs inside one slot of the Prefect *global concurrency limit*
:data:`DATASET_LIMIT` (limit 1, created on first use), so they run one after the other whichever
process started them (worker deployment runs, the webhook's thread in the embedded mode, a flow
called by hand). The slot is held through a lease that the holder renews; when a worker is
killed, its slot comes back after at most ``ORCHESTRATION_DATASET_SLOT_LEASE_SECONDS``. A flow
called inside another one (``retrain`` -> ``train``) reuses the slot its caller holds. Waiting
longer than ``ORCHESTRATION_DATASET_SLOT_TIMEOUT_SECONDS`` fails the run (the schedule or the
alert's retry starts it again).

The slot serialises the flows; :func:`compare_and_set_latest` additionally refuses to move
``LATEST`` when it no longer names the version the flow started from (a writer outside the slot,
such as ``python -m model_registry train`` run by hand), instead of silently dropping its rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from model_orchestration.settings import OrchestrationSettings
from model_registry.dataset_store import DatasetStore
from model_registry.errors import DataValidationError

#: Name of the Prefect global concurrency limit shared by ingest, train and retrain.
DATASET_LIMIT = "dataset-and-champion"

P = ParamSpec("P")
R = TypeVar("R")

_held: ContextVar[bool] = ContextVar("dataset_slot_held", default=False)


class LatestMoved(DataValidationError):
    """``LATEST`` changed under a flow: it is not moved, so no rows are lost."""


@contextmanager
def dataset_slot(settings: OrchestrationSettings) -> Iterator[None]:
    """Hold the one dataset/champion slot for the block (re-entrant within one flow run)."""
    if _held.get():
        yield
        return
    from prefect.client.orchestration import get_client
    from prefect.concurrency.sync import concurrency

    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(DATASET_LIMIT, 1)
    with concurrency(
        DATASET_LIMIT,
        occupy=1,
        timeout_seconds=settings.dataset_slot_timeout_seconds,
        lease_duration=settings.dataset_slot_lease_seconds,
        strict=True,
        # A brief API outage while renewing must not kill an hour of training.
        raise_on_lease_renewal_failure=False,
    ):
        token = _held.set(True)
        try:
            yield
        finally:
            _held.reset(token)


def holds_dataset_slot(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator for a flow function: its whole body runs inside :func:`dataset_slot`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with dataset_slot(OrchestrationSettings()):
            return fn(*args, **kwargs)

    return wrapper


def compare_and_set_latest(store: DatasetStore, expected: str | None, digest: str) -> None:
    """Point ``LATEST`` at ``digest`` only if it still names ``expected`` (None: empty store).

    Atomic against the other flows because they all hold the dataset slot while they do this.
    """
    current = store.latest()
    if current == digest:  # already done (a retried call whose first attempt succeeded)
        return
    if current != expected:
        raise LatestMoved(
            f"LATEST in {store.uri} moved from {(expected or 'none')[:12]} to "
            f"{(current or 'none')[:12]} while this run worked; {digest[:12]} was stored but "
            "not made LATEST (run again to build on the new version)"
        )
    store.set_latest(digest)
