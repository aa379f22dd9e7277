"""Idempotent retrain triggering: decide whether an alert starts a retrain, and start it.

Two launchers, chosen by whether Prefect's ``PREFECT_API_URL`` is set:

- :class:`PrefectDeploymentLauncher` creates a flow run of the worker's ``retrain`` deployment on
  the Prefect server (the worker executes it; state survives a webhook restart because "is one
  running?" and "when did the last one start?" are asked of the Prefect API);
- :class:`ThreadLauncher` (embedded mode, no server) runs the retrain callable in a background
  thread of the receiver process.

:class:`RetrainTrigger` serialises decisions with a lock so that a burst of grouped alerts starts
at most one retrain: already running -> ``skipped_running``; started less than the cool-down ago
-> ``skipped_cooldown``.

A run only counts as active while something still works on it. A worker that is killed
mid-retrain leaves its run RUNNING on the server for ever; the worker's flow runs send a Prefect
heartbeat event every ``ORCHESTRATION_HEARTBEAT_SECONDS``, so a run with no heartbeat (and no
start) within ``ORCHESTRATION_RETRAIN_STALE_AFTER_SECONDS`` is orphaned: the launcher marks it
``Crashed`` (visible in the UI, never counted again) and the alert starts a new retrain. The same
bound applies to a run left PENDING / CANCELLING, and to a due scheduled run nobody picked up.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # prefect is imported only when a trigger runs
    from prefect.client.schemas.filters import FlowFilter

logger = logging.getLogger(__name__)

#: Tag put on every flow run the receiver creates (visible in the Prefect UI).
ALERT_TRIGGER_TAG = "alert-triggered"
#: The event Prefect's flow engine emits every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds.
HEARTBEAT_EVENT = "prefect.flow-run.heartbeat"


class TriggerResult(StrEnum):
    """Values of the ``result`` label of ``detector_retrain_triggers_total``."""

    STARTED = "started"
    SKIPPED_RUNNING = "skipped_running"
    SKIPPED_COOLDOWN = "skipped_cooldown"
    IGNORED = "ignored"


@dataclass(frozen=True)
class TriggerDecision:
    result: TriggerResult
    detail: str
    run_id: str | None = None


class RetrainLauncher(Protocol):
    """Starts retrain runs and answers whether one is active and when the last one started."""

    def active_run(self) -> str | None:
        """Id of a retrain run that is scheduled-for-now, pending or running, else ``None``."""

    def last_started_at(self) -> datetime | None:
        """When the most recent retrain run was started (UTC), if known."""

    def start(self, parameters: dict[str, Any]) -> str:
        """Start a retrain run; return its id."""


class ThreadLauncher:
    """Embedded mode: run ``target(**parameters)`` in a daemon thread of this process."""

    def __init__(self, target: Callable[..., object]) -> None:
        self._target = target
        self._thread: threading.Thread | None = None
        self._run_id: str | None = None
        self._started_at: datetime | None = None

    def active_run(self) -> str | None:
        if self._thread is not None and self._thread.is_alive():
            return self._run_id
        return None

    def last_started_at(self) -> datetime | None:
        return self._started_at

    def start(self, parameters: dict[str, Any]) -> str:
        run_id = f"thread-{uuid.uuid4().hex[:12]}"

        def run() -> None:
            try:
                self._target(**parameters)
            except Exception:
                logger.exception("retrain run %s failed", run_id)

        self._thread = threading.Thread(target=run, name=f"retrain-{run_id}", daemon=True)
        self._run_id = run_id
        self._started_at = datetime.now(UTC)
        self._thread.start()
        return run_id

    def join(self, timeout: float | None = None) -> None:
        """Wait for the current run (tests and clean shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)


class PrefectDeploymentLauncher:
    """Full stack: create flow runs of the ``retrain`` deployment on the Prefect server."""

    def __init__(
        self,
        deployment: str,
        flow_name: str,
        stale_after: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._deployment = deployment
        self._flow_name = flow_name
        self._stale_after = stale_after
        self._clock = clock

    def _flow_filter(self) -> FlowFilter:
        from prefect.client.schemas.filters import FlowFilter, FlowFilterName

        return FlowFilter(name=FlowFilterName(any_=[self._flow_name]))

    def active_run(self) -> str | None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterExpectedStartTime,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType

        now = self._clock()
        active = FlowRunFilter(
            state=FlowRunFilterState(
                type=FlowRunFilterStateType(
                    any_=[StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
                )
            )
        )
        # Scheduled runs only count once due (the nightly retrain sits scheduled in the future)
        # and only while a worker could still pick them up.
        due = FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
            expected_start_time=FlowRunFilterExpectedStartTime(
                after_=now - self._stale_after, before_=now + timedelta(seconds=5)
            ),
        )
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_filter=self._flow_filter(), flow_run_filter=active, limit=20
            )
            for run in runs:
                if self._still_alive(client, run, now):
                    return str(run.id)
                self._mark_orphaned(client, run, now)
            scheduled = client.read_flow_runs(
                flow_filter=self._flow_filter(), flow_run_filter=due, limit=1
            )
            if scheduled:
                return str(scheduled[0].id)
        return None

    def _still_alive(self, client: Any, run: Any, now: datetime) -> bool:
        """A heartbeat, a start or a state change of ``run`` within the staleness bound."""
        from prefect.events.filters import (
            EventFilter,
            EventNameFilter,
            EventOccurredFilter,
            EventResourceFilter,
        )

        since = now - self._stale_after
        moments = [run.start_time, run.state.timestamp if run.state else None]
        if any(moment is not None and moment >= since for moment in moments):
            return True
        heartbeats = client.read_events(
            filter=EventFilter(
                event=EventNameFilter(name=[HEARTBEAT_EVENT]),
                resource=EventResourceFilter(id=[f"prefect.flow-run.{run.id}"]),
                occurred=EventOccurredFilter(since=since, until=now + timedelta(seconds=5)),
            ),
            limit=1,
        )
        return bool(heartbeats.events)

    def _mark_orphaned(self, client: Any, run: Any, now: datetime) -> None:
        from prefect.states import Crashed

        message = (
            f"no heartbeat for more than {self._stale_after.total_seconds():.0f}s "
            f"(checked at {now.isoformat()}): its worker is gone; marked crashed by the webhook"
        )
        logger.warning("retrain run %s (%s) is orphaned: %s", run.id, run.name, message)
        client.set_flow_run_state(run.id, Crashed(message=message), force=True)

    def last_started_at(self) -> datetime | None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
        from prefect.client.schemas.sorting import FlowRunSort

        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_filter=self._flow_filter(),
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[ALERT_TRIGGER_TAG])),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                limit=1,
            )
        if not runs:
            return None
        run = runs[0]
        moment = run.start_time or run.expected_start_time or run.created
        return moment.astimezone(UTC) if moment else None

    def start(self, parameters: dict[str, Any]) -> str:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(self._deployment)
            run = client.create_flow_run_from_deployment(
                deployment.id, parameters=parameters, tags=[ALERT_TRIGGER_TAG]
            )
        logger.info("created flow run %s (%s) of %s", run.id, run.name, self._deployment)
        return str(run.id)


class RetrainTrigger:
    """Applies the idempotency rules in front of a launcher."""

    def __init__(
        self,
        launcher: RetrainLauncher,
        cooldown: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.launcher = launcher
        self._cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._last_start: datetime | None = None

    def request(self, reason: str, parameters: dict[str, Any] | None = None) -> TriggerDecision:
        """Start a retrain unless one is active or the cool-down has not elapsed."""
        with self._lock:
            running = self.launcher.active_run()
            if running is not None:
                return TriggerDecision(
                    TriggerResult.SKIPPED_RUNNING,
                    f"retrain run {running} is already in progress; nothing new started",
                    running,
                )
            last = max(
                (t for t in (self._last_start, self.launcher.last_started_at()) if t), default=None
            )
            now = self._clock()
            if last is not None and now - last < self._cooldown:
                remaining = (self._cooldown - (now - last)).total_seconds()
                return TriggerDecision(
                    TriggerResult.SKIPPED_COOLDOWN,
                    f"last retrain started at {last.isoformat()}; cool-down has "
                    f"{remaining:.0f}s left; nothing new started",
                )
            run_id = self.launcher.start({"reason": reason, **(parameters or {})})
            self._last_start = now
            return TriggerDecision(TriggerResult.STARTED, f"retrain run {run_id} started", run_id)
