"""What the flows share: settings loading and the retry policy of I/O tasks.

I/O tasks (object store, MLflow, databases, HTTP) retry ``ORCHESTRATION_IO_RETRIES`` times,
``ORCHESTRATION_IO_RETRY_DELAY_SECONDS`` apart; a data problem (bad batch, gate rejection) is not
retried, because retrying cannot fix it.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, ParamSpec, TypeVar

import pandas as pd
from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from model_orchestration.settings import OrchestrationSettings
from model_registry import workflow
from model_registry.errors import ChallengerRejected, DataValidationError
from model_registry.settings import RegistrySettings

P = ParamSpec("P")
R = TypeVar("R")

#: Failures that a retry cannot fix.
NOT_RETRIED = (DataValidationError, ChallengerRejected, ValueError, TypeError, KeyError)


def synchronous(value: R | Coroutine[Any, Any, R]) -> R:
    """The value of a Prefect function that is both sync and async (``async_dispatch``).

    Prefect types them as returning the value *or* a coroutine; called from synchronous code, as
    every caller here is, they return the value. A coroutine means an async caller: refused.
    """
    if isinstance(value, Coroutine):
        value.close()
        raise TypeError("a Prefect call returned a coroutine: call it from synchronous code")
    return value


def flow_result(state: State[Any], kind: type[R]) -> R:
    """The result of a flow run whose flow returns a ``State``: Prefect hands back that state's
    data, which its types cannot express; anything but a ``kind`` is refused."""
    value = state.result()
    if not isinstance(value, kind):
        raise TypeError(f"expected a {kind.__name__} from the flow, got {type(value).__name__}")
    return value


def orchestration_settings() -> OrchestrationSettings:
    return OrchestrationSettings()


def worth_retrying(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect ``retry_condition_fn``: retry I/O failures, not data or programming errors."""
    try:
        state.result()
    except NOT_RETRIED:
        return False
    except Exception:
        return True
    return False


def with_io_retries(task: Task[P, R], settings: OrchestrationSettings) -> Task[P, R]:
    """``task`` with the configured retry count and delay for I/O failures."""
    return task.with_options(
        retries=settings.io_retries,
        retry_delay_seconds=settings.io_retry_delay_seconds,
        retry_condition_fn=worth_retrying,
    )


def registry_settings(**overrides: Any) -> RegistrySettings:
    """The registry's settings from ``REGISTRY_*``, with non-None ``overrides`` applied."""
    values = {k: v for k, v in overrides.items() if v is not None}
    return RegistrySettings(**values)


@task(cache_policy=NO_CACHE)
def store_as_latest(store_uri: str, rows: pd.DataFrame, expected: str | None) -> str:
    """``model_registry.workflow.store_as_latest`` on the store at ``store_uri`` (ingest's
    commit: the same compare-and-set as a training's)."""
    return workflow.store_as_latest(RegistrySettings(dataset_store=store_uri), rows, expected)
