"""Create the services' MLflow users with the least permission (compose one-shot `mlflow-init`).

Runs in the MLflow image once the server is healthy, logged in as the admin (a person's
account, held by no service), and is idempotent: a user that exists gets its password reset to
the current value, a grant that exists is replaced.

- ``MLFLOW_SERVING_USERNAME``: READ on the registered model (load ``@champion`` and its
  artifacts); it cannot create a version or move an alias (MLflow answers 403).
- ``MLFLOW_WORKER_USERNAME``: MANAGE on the registered model (register versions, move
  ``@challenger``/``@champion``, delete a half-registered version: deleting needs MANAGE) and on
  the experiment when it exists already. On a first boot the worker creates the experiment
  itself and MLflow makes the creator its manager.

MLflow's permission model (``mlflow.server.auth``): READ < USE < EDIT < MANAGE per experiment or
registered model; setting an alias needs EDIT, deleting a version or an alias MANAGE; an account
without a grant has ``default_permission`` (READ, deploy/mlflow/basic_auth.ini).
"""

from __future__ import annotations

import logging
import os
import sys
import urllib.request

from mlflow.exceptions import MlflowException, RestException
from mlflow.server.auth.client import AuthServiceClient
from mlflow.tracking import MlflowClient

from model_registry import contract
from platform_processes.launcher import wait_until

logger = logging.getLogger("mlflow-init")

#: The server's first start on an empty database runs its migrations first: minutes.
HEALTHY_WITHIN_SECONDS = 600.0


def mlflow_healthy(tracking_uri: str) -> bool:
    with urllib.request.urlopen(f"{tracking_uri}/health", timeout=5) as response:  # noqa: S310 (http only)
        return bool(response.status == 200)


def wait_healthy(tracking_uri: str, timeout: float) -> None:
    """Poll MLflow's ``/health`` until it answers 200; ``ServiceUnavailable`` at the deadline."""
    if not tracking_uri.startswith(("http://", "https://")):
        raise ValueError(f"MLFLOW_TRACKING_URI must be an http(s) URL, not {tracking_uri!r}")
    wait_until(
        lambda: mlflow_healthy(tracking_uri),
        timeout=timeout,
        what=f"MLflow at {tracking_uri}",
        interval=2.0,
    )


def ensure_user(auth: AuthServiceClient, username: str, password: str) -> None:
    try:
        auth.get_user(username)
    except RestException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        auth.create_user(username, password)
        logger.info("created MLflow user %s", username)
        return
    auth.update_user_password(username, password)
    logger.info("MLflow user %s exists: password set to the current value", username)


def grant(
    auth: AuthServiceClient, username: str, resource_type: str, resource: str, level: str
) -> None:
    """``level`` on one resource; an existing grant of the user on it is replaced."""
    try:
        auth.grant_user_permission(username, resource_type, resource, level)
    except RestException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        auth.revoke_user_permission(username, resource_type, resource)
        auth.grant_user_permission(username, resource_type, resource, level)
    logger.info("%s: %s on %s %s", username, level, resource_type, resource)


def main(environ: dict[str, str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    tracking_uri = environ["MLFLOW_TRACKING_URI"]
    serving = environ["MLFLOW_SERVING_USERNAME"]
    worker = environ["MLFLOW_WORKER_USERNAME"]
    admin = environ["MLFLOW_TRACKING_USERNAME"]
    if len({serving, worker, admin}) != 3:
        logger.error("serving, worker and admin must be three different MLflow users")
        return 1
    wait_healthy(tracking_uri, HEALTHY_WITHIN_SECONDS)
    auth = AuthServiceClient(tracking_uri)
    try:
        ensure_user(auth, serving, environ["MLFLOW_SERVING_PASSWORD"])
        ensure_user(auth, worker, environ["MLFLOW_WORKER_PASSWORD"])
        grant(auth, serving, "registered_model", contract.MODEL_NAME, "READ")
        grant(auth, worker, "registered_model", contract.MODEL_NAME, "MANAGE")
        experiment = MlflowClient(tracking_uri).get_experiment_by_name(contract.EXPERIMENT_NAME)
        if experiment is not None:
            grant(auth, worker, "experiment", experiment.experiment_id, "MANAGE")
    except MlflowException as exc:
        logger.error("could not set up the MLflow users: %s", exc)
        return 1
    logger.info("MLflow users ready: %s (read), %s (manage the model)", serving, worker)
    return 0


if __name__ == "__main__":
    sys.exit(main(dict(os.environ)))
