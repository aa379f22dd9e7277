"""Start, watch and stop the platform's server processes: one launcher for all that runs them.

``make local`` (``scripts/local_stack``), the test fixtures (``tests/support/servers.py``
and the other ``tests/support/*_servers.py``) and the benchmarks (``bench/``) all start servers
the same way:

- :mod:`platform_processes.launcher`: start a command in its own process group with its log in a
  file, wait on its health check with a deadline (failing at once, with the log's tail, when the
  process exits first), stop whole process groups (SIGTERM, SIGKILL at the deadline, every group
  empty before returning);
- :mod:`platform_processes.commands`: the command lines of the servers the platform runs outside
  its own packages (MLflow, Prefect, Prometheus, Alertmanager, Streamlit), written once.
"""

from platform_processes.launcher import (
    ServerProcess,
    ServiceUnavailable,
    free_port,
    http_ok,
    log_tail,
    start_process,
    stop_all,
    wait_until,
)

__all__ = [
    "ServerProcess",
    "ServiceUnavailable",
    "free_port",
    "http_ok",
    "log_tail",
    "start_process",
    "stop_all",
    "wait_until",
]
