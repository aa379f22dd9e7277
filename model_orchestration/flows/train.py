"""The ``train`` flow: ``model_registry.workflow.train``, its steps run as Prefect tasks.

The chain (load a dataset version -> validate -> store as ``LATEST`` by compare-and-set -> split
-> train and evaluate candidates -> register the best -> promotion gate) and its clean-up live in
the registry's workflow only; this flow passes a step runner that turns each step into a task
named after it, with the I/O retry policy (``ORCHESTRATION_IO_RETRIES``; data problems fail at
once with the validator's one-line summary). No step is cached: each reads or writes state that
may have moved since the last run (``LATEST``, the registry), and a retried flow run does not
repeat the tasks that completed.

Nothing is registered before every candidate has been trained and evaluated, and the champion
alias moves only inside the gate. When registration or the gate fails for good, the workflow
deletes what the attempt registered and puts the aliases back (see ``model_registry.workflow``);
a registration retry first deletes the unfinished versions of its failed attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from prefect import Task, flow, get_run_logger
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.states import Completed

from model_orchestration.flows.common import (
    orchestration_settings,
    registry_settings,
    with_io_retries,
)
from model_orchestration.flows.dataset_slot import holds_dataset_slot
from model_orchestration.flows.guards import check_train_parameters
from model_orchestration.settings import OrchestrationSettings
from model_registry import workflow
from model_registry.workflow import StepRunner

P = ParamSpec("P")
R = TypeVar("R")


def as_tasks(settings: OrchestrationSettings) -> StepRunner:
    """A step runner that runs each workflow step as a Prefect task with the I/O retries."""

    def run(name: str, step: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        as_task: Task[P, R] = Task(step, name=name, cache_policy=NO_CACHE)
        return with_io_retries(as_task, settings)(*args, **kwargs)

    return run


@flow(name="train", validate_parameters=True)
@holds_dataset_slot
def train(
    dataset_digest: str | None = None,
    data_path: str | None = None,
    trials: int | None = None,
    candidates: list[str] | None = None,
    f1_floor: float | None = None,
    gate_margin: float | None = None,
) -> State:
    """Train on dataset ``dataset_digest`` (default ``LATEST``; the seed corpus on an empty
    store); other parameters override the ``REGISTRY_*`` settings for this run.

    The final state's message is the gate verdict; calling the flow returns the
    :class:`model_registry.workflow.TrainOutcome`."""
    logger = get_run_logger()
    check_train_parameters(dataset_digest, data_path, f1_floor, gate_margin)
    registry = registry_settings(
        data_path=data_path,
        trials=trials,
        candidates=tuple(candidates) if candidates else None,
        f1_floor=f1_floor,
        gate_margin=gate_margin,
    )
    outcome = workflow.train(
        registry,
        progress=logger.info,
        dataset_digest=dataset_digest,
        prefer_latest=True,
        run_step=as_tasks(orchestration_settings()),
        run_tags={"orchestrated_by": "prefect"},
    )
    logger.info("train: %s", outcome.message())
    return Completed(message=outcome.message(), data=outcome)
