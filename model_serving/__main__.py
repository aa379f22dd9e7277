"""``python -m model_serving``: run the API with uvicorn (host/port/workers from SERVING_*).

With ``SERVING_WORKERS`` > 1, Prometheus multiprocess mode is switched on before any worker
starts: ``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary folder unless set; stale files from an
earlier run are removed), so ``/metrics`` on any worker reports the sum over all workers. The
event loop is uvloop, which keeps ``TCP_NODELAY`` on accepted sockets (plain asyncio with
``uvicorn --workers`` loses it, an open upstream bug: every keep-alive request after the first
then stalls on Nagle's algorithm against delayed ACKs). Several
workers each listen on their own ``SO_REUSEPORT`` socket (``model_serving.workers``), so the
kernel spreads connections over them.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvicorn

from model_serving.settings import ServingSettings
from model_serving.workers import Supervisor, WorkerSpec
from platform_processes.logging_config import configure_logging

logger = logging.getLogger("model_serving")


def prepare_multiprocess_metrics() -> Path:
    """Point PROMETHEUS_MULTIPROC_DIR at an empty folder (created when needed)."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    folder = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="serving-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return folder


def main() -> None:
    settings = ServingSettings()
    configure_logging(settings.log_level)
    if settings.workers > 1:
        folder = prepare_multiprocess_metrics()
        logger.info("%d workers, Prometheus multiprocess dir %s", settings.workers, folder)
        try:  # once, before the workers start, so they do not race on the first migration
            from model_serving.prediction_log import migrate

            migrate.upgrade(settings.database_url)
        except Exception as exc:
            logger.warning("prediction log migration deferred to the workers: %s", exc)
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    options: dict[str, Any] = {  # uvicorn keyword arguments, also passed to each worker
        "app": "model_serving.app:create_app_from_env",
        "factory": True,
        "loop": loop,
        "http": http,
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "timeout_graceful_shutdown": 30,
        "log_config": None,
    }
    if settings.workers == 1:
        uvicorn.run(host=settings.host, port=settings.port, **options)
        return
    spec = WorkerSpec(host=settings.host, port=settings.port, uvicorn_options=options)
    sys.exit(Supervisor(spec, settings.workers).run())


if __name__ == "__main__":
    main()
