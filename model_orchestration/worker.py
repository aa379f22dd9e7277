"""The orchestration worker: ``python -m model_orchestration.worker``.

It serves the five flows as Prefect deployments with ``serve()`` (a long-lived process that polls
the Prefect server for runs of *its* deployments and executes them as subprocesses), with the
schedules from ``ORCHESTRATION_*``:

- ``ingest/ingest-worker`` every ``INGEST_INTERVAL_SECONDS`` (0 = no schedule),
- ``drift_check/drift_check-worker`` every ``DRIFT_CHECK_INTERVAL_SECONDS`` (0 = no schedule),
- ``retrain/retrain-worker`` on ``RETRAIN_CRON`` with ``skip_if_no_new_data=true`` (empty = no
  schedule); the webhook receiver creates runs of this same deployment for alerts,
- ``train/train-worker`` on demand,
- ``score/score-worker`` on demand (bulk scoring; on the Dask cluster at
  ``ORCHESTRATION_DASK_SCHEDULER_ADDRESS`` when set, not ``none``).

``serve()`` rather than a work pool: there is one kind of infrastructure (this container, which
already has the training dependencies), so a work pool + worker + pulled code would add a moving
part and a code-storage step without buying anything. Scaling out means running a work pool later.

First boot: when the registry has no champion (and ``FIRST_BOOT_TRAIN`` is true), ``train`` runs
once in this process before serving, so an empty stack ends with a served model. A first boot
that cannot train logs ``FIRST BOOT FAILED`` with the cause and leaves the worker unhealthy
(``python -m model_orchestration.worker healthcheck``, the compose healthcheck, reads the state
the worker records in ``ORCHESTRATION_WORKER_STATUS_FILE``) until it is restarted: a stack that
can never serve a model must say so, not look healthy. The deployments are served anyway, so
``train`` can be run from the Prefect UI once the cause is fixed.
"""

from __future__ import annotations

import logging
import os
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

from prefect.deployments.runner import RunnerDeployment

from model_orchestration.settings import DEPLOYMENT_SUFFIX, OrchestrationSettings
from platform_processes.logging_config import configure_logging

logger = logging.getLogger(__name__)


def build_deployments(settings: OrchestrationSettings) -> list[RunnerDeployment]:
    """The deployments this worker serves, with schedules from ``settings``."""
    from prefect.schedules import Cron, Interval

    from model_orchestration.flows.common import synchronous
    from model_orchestration.flows.drift_check import drift_check
    from model_orchestration.flows.ingest import ingest
    from model_orchestration.flows.retrain import retrain
    from model_orchestration.flows.score import score
    from model_orchestration.flows.train import train

    def name(flow_name: str) -> str:
        return f"{flow_name}-{DEPLOYMENT_SUFFIX}"

    ingest_schedules = (
        [Interval(timedelta(seconds=settings.ingest_interval_seconds))]
        if settings.ingest_interval_seconds
        else []
    )
    drift_schedules = (
        [Interval(timedelta(seconds=settings.drift_check_interval_seconds))]
        if settings.drift_check_interval_seconds
        else []
    )
    retrain_schedules = (
        [
            Cron(
                settings.retrain_cron,
                timezone="UTC",
                parameters={"skip_if_no_new_data": True, "reason": "schedule"},
            )
        ]
        if settings.retrain_cron.strip()
        else []
    )
    deployments = [
        train.to_deployment(name=name("train"), tags=["orchestration"]),
        ingest.to_deployment(
            name=name("ingest"), schedules=ingest_schedules, tags=["orchestration"]
        ),
        retrain.to_deployment(
            name=name("retrain"), schedules=retrain_schedules, tags=["orchestration"]
        ),
        drift_check.to_deployment(
            name=name("drift_check"), schedules=drift_schedules, tags=["orchestration"]
        ),
        # On demand only: a run names its input and output (inside the configured areas).
        score.to_deployment(name=name("score"), tags=["orchestration", "scoring"]),
    ]
    return [synchronous(deployment) for deployment in deployments]


def has_champion() -> bool:
    from model_registry.gate import current_champion
    from model_registry.settings import RegistrySettings
    from model_registry.tracking import registry_client

    return current_champion(registry_client(), RegistrySettings().model_name) is not None


class FirstBootFailed(RuntimeError):
    """The first boot had no champion and could not train one."""


def first_boot(settings: OrchestrationSettings) -> None:
    """Train once when there is no champion; raises FirstBootFailed when that fails."""
    if not settings.first_boot_train:
        return
    try:
        if has_champion():
            logger.info("first boot: a champion exists, nothing to train")
            return
        from model_orchestration.flows.common import flow_result
        from model_orchestration.flows.train import train
        from model_registry.workflow import TrainOutcome

        logger.info("first boot: no champion in the registry, running train once")
        summary = flow_result(train(return_state=True), TrainOutcome)
        logger.info("first boot: %s", summary.message())
    except Exception as exc:
        raise FirstBootFailed(f"{type(exc).__name__}: {exc}") from exc


def write_status(path: Path, status: str) -> None:
    """Record the worker's state for its healthcheck (``ok``, ``starting`` or ``failed: ...``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(status + "\n")


def healthcheck(settings: OrchestrationSettings) -> int:
    """0 when the first boot did not fail and the Prefect API answers; 1 otherwise."""
    try:
        status = settings.worker_status_file.read_text().strip()
    except FileNotFoundError:
        status = "starting"
    if status.startswith("failed"):
        print(f"unhealthy: first boot {status}", file=sys.stderr)
        return 1
    api = os.environ.get("PREFECT_API_URL")
    if api:
        try:
            with urllib.request.urlopen(f"{api.rstrip('/')}/health", timeout=3):  # noqa: S310
                pass
        except OSError as exc:
            print(f"unhealthy: Prefect API {api}: {exc}", file=sys.stderr)
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    settings = OrchestrationSettings()
    if argv == ["healthcheck"]:
        return healthcheck(settings)
    if argv:
        print("usage: python -m model_orchestration.worker [healthcheck]", file=sys.stderr)
        return 2
    from prefect import serve

    # Importing Prefect already configured the root logger (WARNING): this raises our packages
    # to INFO through Prefect's handler.
    configure_logging()
    write_status(settings.worker_status_file, "starting")
    try:
        first_boot(settings)
    except FirstBootFailed as exc:
        logger.error(
            "FIRST BOOT FAILED, no champion could be trained (%s); this worker reports unhealthy "
            "until it is restarted after the cause is fixed",
            exc,
            exc_info=exc.__cause__,
        )
        write_status(settings.worker_status_file, f"failed: {exc}")
    else:
        write_status(settings.worker_status_file, "ok")
    deployments = build_deployments(settings)
    logger.info("serving %s", [d.name for d in deployments])
    # Heartbeats let the webhook tell a live retrain from one whose worker was killed.
    serve(
        *deployments,
        limit=settings.max_concurrent_runs,
        heartbeat_seconds=settings.heartbeat_seconds,
        print_starting_message=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
