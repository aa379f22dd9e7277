"""Embedded local mode (``make local`` = ``python -m scripts.local_stack``): the whole platform
as local processes, no Docker.

Starts, on a machine with only Python + uv:

1. an MLflow server on SQLite + a local artifact folder (the same database as
   ``model_registry.contract.default_tracking_uri()``, under ``.local/mlflow/``);
2. a first champion when the registry has none (``python -m model_registry train``, progress shown);
3. serving (``python -m model_serving``), the Streamlit frontend, the retrain webhook and the
   orchestration worker (and, with ``--prefect-server``, a Prefect server behind a login);
4. Prometheus and Alertmanager when their binaries are installed (skipped with a notice
   otherwise), their configuration rendered for localhost ports by ``model_monitoring.render``.

Modules: ``config`` (the .env file and the port plan), ``components`` (what each process runs),
``supervisor`` (start, record, stop), ``cli`` (arguments and the main loop). Processes are started
and stopped by the project's launcher, ``platform_processes``: each in its own process group with
its log under ``.local/logs/``; Ctrl-C (SIGINT, however often it arrives) or SIGTERM stops every
process this command started.
"""

from scripts.local_stack.cli import build_parser, main, run
from scripts.local_stack.components import (
    Component,
    alertmanager_component,
    mlflow_component,
    plan_services,
    prometheus_component,
)
from scripts.local_stack.config import (
    PASSED_THROUGH,
    PORT_VARIABLES,
    StackError,
    effective_config,
    port_plan,
    read_dotenv,
)

__all__ = [
    "PASSED_THROUGH",
    "PORT_VARIABLES",
    "Component",
    "StackError",
    "alertmanager_component",
    "build_parser",
    "effective_config",
    "main",
    "mlflow_component",
    "plan_services",
    "port_plan",
    "prometheus_component",
    "read_dotenv",
    "run",
]
