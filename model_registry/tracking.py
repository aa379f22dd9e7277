"""Connect to MLflow: ``MLFLOW_TRACKING_URI`` when set, else the embedded SQLite default.

A remote tracking server is checked with one short ``/health`` request first, so an unreachable
server fails in seconds with a one-line reason instead of MLflow's minutes of retries. A server
lost later, in the middle of a run, costs at most ``REMOTE_HTTP_RETRIES`` quick retries: MLflow's
default (7 retries, exponential backoff capped at 120 s) held a run for minutes before it failed
(measured by the fault tier, ``tests/faults/test_registry_outage.py``), and
:func:`lost_connection` lets the CLI name that failure as the outage it is.
"""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from model_registry import contract
from model_registry.errors import RegistryUnavailable

if TYPE_CHECKING:  # mlflow is imported only when tracking is configured
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 5.0
#: MLflow client settings for a remote server, unless the environment sets them.
REMOTE_HTTP_RETRIES = "2"
REMOTE_HTTP_TIMEOUT_SECONDS = "60"
#: Exceptions (by class name, to import no client library here) meaning "could not connect".
CONNECTION_ERRORS = frozenset(
    {"ConnectionError", "ConnectTimeout", "EndpointConnectionError", "ConnectTimeoutError"}
)


def is_embedded() -> bool:
    return not os.environ.get("MLFLOW_TRACKING_URI")


def check_reachable(uri: str, timeout: float = HEALTH_TIMEOUT_SECONDS) -> None:
    """Raise ``RegistryUnavailable`` when an HTTP tracking server does not answer ``/health``."""
    if not uri.startswith(("http://", "https://")):
        return
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http only)
            if response.status >= 400:
                raise RegistryUnavailable(f"MLflow at {uri} answered {response.status} on /health")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RegistryUnavailable(f"MLflow tracking server {uri} unreachable: {reason}") from exc


def limit_remote_retries(uri: str) -> None:
    """Bound MLflow's retries of a remote server (a value already in the environment wins)."""
    if uri.startswith(("http://", "https://")):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", REMOTE_HTTP_RETRIES)
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", REMOTE_HTTP_TIMEOUT_SECONDS)


def lost_connection(exc: BaseException) -> str | None:
    """The connection error behind ``exc`` (MLflow wraps it in an ``MlflowException``), or None."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if type(link).__name__ in CONNECTION_ERRORS or isinstance(link, ConnectionRefusedError):
            first = str(exc).strip().splitlines()
            return first[0][:300] if first else type(link).__name__
        link = link.__cause__ or link.__context__
    return None


def configure_tracking(experiment: str = contract.EXPERIMENT_NAME) -> MlflowClient:
    """Point MLflow at the tracking store, create/select ``experiment``; return an MlflowClient."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = contract.tracking_uri()
    artifact_location = None
    if is_embedded():
        (contract.local_state_dir() / "mlflow").mkdir(parents=True, exist_ok=True)
        artifact_location = contract.default_artifact_location()
    check_reachable(uri)
    limit_remote_retries(uri)
    # Both: another step of this process (serving's model loader, used by bulk scoring) may have
    # pointed the registry elsewhere, and register_model follows the registry URI.
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, registry_uri=uri)
    try:
        existing = client.get_experiment_by_name(experiment)
        if existing is None:
            experiment_id = client.create_experiment(
                experiment, artifact_location=artifact_location
            )
        else:
            experiment_id = existing.experiment_id
        mlflow.set_experiment(experiment_id=experiment_id)
    except MlflowException as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RegistryUnavailable(f"MLflow at {uri}: {first_line}") from exc
    log.info("MLflow tracking at %s, experiment %s (%s)", uri, experiment, experiment_id)
    return client


def registry_client() -> Any:
    """An MlflowClient for promote/rollback (no experiment needed)."""
    import mlflow
    from mlflow import MlflowClient

    uri = contract.tracking_uri()
    if is_embedded():
        (contract.local_state_dir() / "mlflow").mkdir(parents=True, exist_ok=True)
    check_reachable(uri)
    limit_remote_retries(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(uri, registry_uri=uri)
