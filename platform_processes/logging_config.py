"""The one logging configuration of every entry point of the platform.

Serving (``python -m model_serving`` and each of its uvicorn workers), the registry CLI, the
orchestration worker and webhook, bulk scoring, the frontend, the monitoring renderer and
``make local`` call :func:`configure_logging` first, so every process writes the same line
format: time, level, process id, logger name, message. One format lets ``make local``'s log
folder, ``docker compose logs`` and a grep across services read the same way.

Standard library only: every image copies this package, whatever else it installs.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"

#: The platform's own packages: raised to the configured level even when a library (Prefect,
#: Streamlit) configured the root logger first, which makes ``basicConfig`` a no-op.
PACKAGES = (
    "model_registry",
    "model_serving",
    "model_orchestration",
    "model_monitoring",
    "frontend",
    "platform_processes",
    "scripts",
)

#: Libraries that log every request or migration step at INFO: kept to warnings and errors.
QUIET = ("alembic", "mlflow", "urllib3", "botocore", "matplotlib", "httpx")


def configure_logging(level: str = "info", *, stream: TextIO | None = None) -> None:
    """One handler on the root logger (``stream``, default stdout) with :data:`FORMAT`.

    A no-op for the root handler when logging is already configured (a uvicorn worker that
    inherited it, Prefect's own configuration); the package and library levels are set either
    way. ``stream=sys.stderr`` is for commands whose stdout carries their result.
    """
    numeric = logging.getLevelName(level.upper())
    logging.basicConfig(level=numeric, format=FORMAT, stream=stream or sys.stdout)
    for package in PACKAGES:
        logging.getLogger(package).setLevel(numeric)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
