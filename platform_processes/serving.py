"""Serving as a real process (``python -m model_serving``), for the tests and the benchmarks.

Example::

    server = start_serving({"MLFLOW_TRACKING_URI": uri, **s3_env}, log_dir, wait_ready=True)
    try:
        httpx.post(f"{server.url}/v1/predict", json={"text": "..."})
    finally:
        server.stop()  # SIGTERM: the prediction log is flushed before the process exits
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Mapping
from pathlib import Path

import httpx

from platform_processes import commands
from platform_processes.launcher import ServerProcess, free_port, start_process, wait_until


def start_serving(
    env: Mapping[str, str],
    log_dir: Path,
    *,
    name: str = "serving",
    port: int | None = None,
    wait_ready: bool = False,
    timeout: float = 90.0,
    cwd: Path | None = None,
) -> ServerProcess:
    """Start serving on a free port; wait for ``/healthz`` (or ``/readyz`` with ``wait_ready``).

    With ``wait_ready`` and several workers, also wait until every worker listens: each has its
    own ``SO_REUSEPORT`` socket, and keep-alive connections opened earlier stay on the first one.

    ``port`` fixes the port instead, for a client that must know the URL before serving is up.
    ``cwd`` runs ``python -m model_serving`` from another source tree (``bench/serve.py
    --compare-with`` measures an earlier checkout: the current folder comes first on ``sys.path``).

    ``env`` is added to this process's environment: pass ``MLFLOW_TRACKING_URI`` (+ S3 variables)
    and any ``SERVING_*`` setting. Unless given, the prediction log goes to a SQLite file in
    ``log_dir`` and ``SERVING_ADMIN_TOKEN`` is generated; both are in ``server.extra``
    (``database_url``, ``admin_token``). The per-client rate limits are off unless given: tests
    and benchmarks load serving from one address.
    """
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_dir.mkdir(parents=True, exist_ok=True)
    full_env = {
        "SERVING_HOST": "127.0.0.1",
        "SERVING_PORT": str(port),
        "SERVING_DATABASE_URL": f"sqlite:///{log_dir / f'{name}-predictions.db'}",
        "SERVING_ADMIN_TOKEN": secrets.token_urlsafe(16),
        "SERVING_LOG_LEVEL": "info",
        "SERVING_RATE_LIMIT_PREDICT_PER_SECOND": "0",
        "SERVING_RATE_LIMIT_FEEDBACK_PER_SECOND": "0",
        **env,
    }
    server = start_process(
        name,
        commands.python_module("model_serving"),
        log_dir=log_dir,
        url=url,
        health=f"{url}/readyz" if wait_ready else f"{url}/healthz",
        env=full_env,
        timeout=timeout,
        cwd=cwd,
    )
    workers = int(full_env.get("SERVING_WORKERS", "1"))
    if wait_ready and workers > 1:
        try:
            wait_until(
                lambda: listening_sockets(port) >= workers,
                timeout=timeout,
                what=f"{workers} serving workers listening on port {port}",
            )
        except BaseException:
            server.stop()
            raise
    server.extra.update(
        admin_token=full_env["SERVING_ADMIN_TOKEN"], database_url=full_env["SERVING_DATABASE_URL"]
    )
    return server


def metric(url: str, sample_name: str, default: float | None = 0.0) -> float | None:
    """The value of ``sample_name`` (name and labels as exported) on ``url``/metrics now.

    ``default`` when the server exports no such sample (0.0 unless given).
    """
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(sample_name + " "):
            return float(line.rsplit(" ", 1)[1])
    return default


def listening_sockets(port: int) -> int:
    """How many sockets listen on ``port`` (Linux ``ss``)."""
    listing = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    return sum(1 for line in listing.splitlines() if line.startswith("LISTEN"))
