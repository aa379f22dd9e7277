"""The processes started so far: start each with the project's launcher, record them, stop all.

``.local/local-stack.json`` says what runs (pid = process group, URL, log); it disappears once
everything stopped. Stopping is idempotent and ends only once every child's group is empty.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import httpx

from platform_processes import commands
from platform_processes.launcher import ServerProcess, signal_group, start_process, stop_all
from scripts.local_stack.components import Component
from scripts.local_stack.config import StackError

log = logging.getLogger("local_stack")


class Stack:
    """The processes started so far; stops them all (process groups, reverse order)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.logs = state_dir / "logs"
        self.running: list[ServerProcess] = []

    def start(self, component: Component) -> ServerProcess:
        log.info("starting %-12s (log: %s)", component.name, self.logs / f"{component.name}.log")
        server = start_process(
            component.name,
            component.args,
            log_dir=self.logs,
            url=component.url,
            health=component.health,
            env=component.env,
            timeout=component.timeout,
            cwd=commands.REPO_ROOT,
            started=self._record,
        )
        log.info("%-12s up at %s", component.name, component.url or "(no port)")
        return server

    def _record(self, server: ServerProcess) -> None:
        self.running.append(server)
        self.write_state()

    def write_state(self) -> None:
        """``.local/local-stack.json``: what runs, its pid (= process group) and URL."""
        state = {
            "pid": os.getpid(),
            "components": {
                s.name: {"pid": s.pid, "url": s.url, "log": str(s.log)} for s in self.running
            },
        }
        (self.state_dir / "local-stack.json").write_text(json.dumps(state, indent=2))

    def dead(self) -> list[ServerProcess]:
        return [s for s in self.running if not s.alive()]

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every group (reverse start order), SIGKILL what is left at the deadline, reap
        every child and wait until each group is empty. Idempotent."""
        for server in reversed(self.running):
            if server.alive():
                log.info("stopping %s", server.name)
        stop_all(reversed(self.running), timeout)
        self.running.clear()
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / "local-stack.json").unlink()


def has_champion(tracking_url: str, model_name: str, alias: str) -> bool:
    """Whether ``model_name@alias`` exists, asked over MLflow's REST API."""
    response = httpx.get(
        f"{tracking_url}/api/2.0/mlflow/registered-models/alias",
        params={"name": model_name, "alias": alias},
        timeout=10.0,
    )
    if response.status_code == 200:
        return True
    if response.status_code in (400, 404):  # RESOURCE_DOES_NOT_EXIST / INVALID_PARAMETER_VALUE
        return False
    raise StackError(f"MLflow answered {response.status_code} for the champion alias")


def train_first_champion(env: Mapping[str, str]) -> None:
    """Run ``python -m model_registry train`` in the foreground, its progress on the console."""
    import signal

    log.info("no champion in the registry: training one (python -m model_registry train)")
    process = subprocess.Popen(
        commands.python_module("model_registry", "train"),
        env={**os.environ, **env},
        cwd=commands.REPO_ROOT,
        start_new_session=True,
    )
    try:
        code = process.wait()
    except BaseException:
        signal_group(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        signal_group(process.pid, signal.SIGKILL)
        raise
    if code != 0:
        raise StackError(f"training the first champion failed (exit code {code}); see above")
