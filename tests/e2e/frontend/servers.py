"""Start the real Streamlit page as a subprocess for the browser tests.

Uses ``tests.servers.start_process`` (own process group, health polled with a deadline, log file
kept for the failure message). Serving is started with the shared ``tests.serving_servers``.
"""

from __future__ import annotations

from pathlib import Path

from tests.servers import VENV_BIN, ServerProcess, http_ok, start_process


def start_frontend(
    port: int, *, serving_url: str, log_dir: Path, timeout: float = 60
) -> ServerProcess:
    """``streamlit run frontend/app.py`` headless on ``port``; waits on ``/_stcore/health``."""
    url = f"http://127.0.0.1:{port}"
    args = [
        str(VENV_BIN / "streamlit"),
        "run",
        "frontend/app.py",
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.fileWatcherType",
        "none",
    ]
    env = {"SERVING_URL": serving_url, "FRONTEND_STATUS_POLL_SECONDS": "1"}
    return start_process(
        "frontend",
        args,
        log_dir=log_dir,
        url=url,
        health=http_ok(f"{url}/_stcore/health"),
        env=env,
        timeout=timeout,
    )
