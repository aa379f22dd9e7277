"""The command lines of the servers the platform runs besides its own packages, written once.

Used by ``make local`` (``scripts/local_stack``), the test fixtures and the benchmarks, so that a
flag changes in one place. The platform's own services are ``python -m <package>`` with their
settings in the environment (:func:`python_module`).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCALHOST = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent

#: Binary names the Debian packages and the upstream tarballs install.
PROMETHEUS_BINARIES = ("prometheus",)
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")
#: Environment of ``mlflow server``: no job-execution workers (nothing here uses MLflow jobs).
MLFLOW_SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def python_module(module: str, *args: str) -> list[str]:
    """``python -m module args...`` with this interpreter (the locked environment)."""
    return [sys.executable, "-m", module, *args]


def with_venv_on_path() -> dict[str, str]:
    """``PATH`` with this environment's console scripts first: for a server that execs another
    tool by name (``mlflow models serve`` runs ``uvicorn``), so it works without ``uv run``."""
    return {"PATH": os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")])}


def find_binary(names: tuple[str, ...]) -> str | None:
    """The first of ``names`` on PATH (None when none is installed)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def mlflow_server(
    port: int, backend_store_uri: str, artifacts_destination: str, host: str = LOCALHOST
) -> list[str]:
    """``mlflow server``: one worker, artifacts proxied by the server (``--serve-artifacts``)."""
    return python_module(
        "mlflow",
        "server",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-destination",
        artifacts_destination,
        "--serve-artifacts",
    )


def prefect_server(port: int, host: str = LOCALHOST) -> list[str]:
    """``prefect server start`` (its login and CSRF settings come from the environment:
    ``model_orchestration.prefect_security``)."""
    return python_module("prefect", "server", "start", "--host", host, "--port", str(port))


def prometheus(
    binary: str,
    config: Path,
    data_dir: Path,
    port: int,
    host: str = LOCALHOST,
    web_config: Path | None = None,
) -> list[str]:
    """Prometheus on ``host:port`` (no ``--web.enable-lifecycle``: nobody may stop it over HTTP);
    ``web_config``: its basic-auth logins (``model_monitoring.web_auth``)."""
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address={host}:{port}",
        *([f"--web.config.file={web_config}"] if web_config else []),
    ]


def alertmanager(
    binary: str,
    config: Path,
    data_dir: Path,
    port: int,
    host: str = LOCALHOST,
    web_config: Path | None = None,
) -> list[str]:
    """Alertmanager on ``host:port``, clustering off (one instance); ``web_config``: its
    basic-auth logins (``model_monitoring.web_auth``)."""
    return [
        binary,
        f"--config.file={config}",
        f"--storage.path={data_dir}",
        f"--web.listen-address={host}:{port}",
        "--cluster.listen-address=",
        *([f"--web.config.file={web_config}"] if web_config else []),
    ]


def streamlit(port: int, host: str = LOCALHOST) -> list[str]:
    """The Streamlit page (``frontend/app.py``), headless, no usage statistics, no file watcher."""
    return python_module(
        "streamlit",
        "run",
        str(REPO_ROOT / "frontend" / "app.py"),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
    )


def dask_scheduler(port: int, host: str = LOCALHOST) -> list[str]:
    """``dask scheduler`` on ``host:port`` over TCP, without its dashboard (an open admin page)."""
    return python_module(
        "dask", "scheduler", "--host", host, "--port", str(port), "--no-dashboard", "--no-show"
    )


#: Environment of every ``dask worker`` (native and in the compose ``dask`` profile): the nanny's
#: ``pre-spawn-environ`` without ``MALLOC_TRIM_THRESHOLD_``. Dask sets that variable to 65536 for
#: its workers to hand freed memory back sooner; setting it at all also switches off glibc's
#: dynamic mmap threshold, so every large allocation of tokenising and sparse scoring becomes an
#: mmap/munmap pair with fresh page faults. Measured with ``bench/bulk_score.py`` (same texts, two
#: consecutive runs on an idle machine): in-process scoring with the variable set took 11-16 %
#: longer, about what a worker lost against in-process scoring. The thread caps Dask sets stay.
DASK_WORKER_ENVIRONMENT = {
    "DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON": '{"MALLOC_TRIM_THRESHOLD_": None}',
}


def dask_worker(
    scheduler_address: str,
    name: str,
    *,
    nthreads: int = 1,
    memory_limit: str = "auto",
    host: str = LOCALHOST,
) -> list[str]:
    """``dask worker`` (under its nanny) joining ``scheduler_address``; one process, ``nthreads``
    threads (scoring holds the GIL most of the time: scale with processes, not threads)."""
    return python_module(
        "dask",
        "worker",
        scheduler_address,
        "--name",
        name,
        "--host",
        host,
        "--nworkers",
        "1",
        "--nthreads",
        str(nthreads),
        "--memory-limit",
        memory_limit,
        "--no-dashboard",
    )
