"""Start the real Streamlit page as a subprocess for the browser tests.

The command line is ``platform_processes.commands.streamlit`` (the one ``make local`` runs), started
with the project's launcher (own process group, health polled with a deadline, log file kept for
the failure message). Serving is started with the shared ``tests.support.serving_servers``.
"""

from __future__ import annotations

from pathlib import Path

from platform_processes import commands
from tests.support.servers import ServerProcess, start_process


def start_frontend(
    port: int, *, serving_url: str, log_dir: Path, timeout: float = 60
) -> ServerProcess:
    """``streamlit run frontend/app.py`` headless on ``port``; waits on ``/_stcore/health``."""
    url = f"http://127.0.0.1:{port}"
    args = commands.streamlit(port)
    env = {"SERVING_URL": serving_url, "FRONTEND_STATUS_POLL_SECONDS": "1"}
    return start_process(
        "frontend",
        args,
        log_dir=log_dir,
        url=url,
        health=f"{url}/_stcore/health",
        env=env,
        timeout=timeout,
    )
