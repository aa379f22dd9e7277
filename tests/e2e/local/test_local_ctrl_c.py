"""Ctrl-C in a terminal, three times, while `make local` runs: nothing may survive.

A terminal's Ctrl-C reaches every process of its foreground process group, and ``uv run``
forwards it to its child once more, so the supervisor gets SIGINT several times, some while it is
already stopping its children. The test runs the command ``make local`` runs (``uv run --frozen
python -m scripts.local_stack``) in its own session, sends SIGINT to that whole process group
three times, and then checks that the supervisor exited cleanly (no traceback) only after every
process of every child's process group was gone. The stack runs with its local Prefect server
(``--prefect-server``), which must refuse a caller without its generated login while the worker,
given the login, registers its deployments.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from model_orchestration.prefect_security import basic_auth_header
from model_orchestration.settings import TRAIN_FLOW, deployment_name
from tests.e2e.local.test_local_mode import REPO_ROOT, STOP_DEADLINE_SECONDS, local_mode_env
from tests.support import servers

STARTUP_DEADLINE_SECONDS = 180.0
SIGINT_COUNT = 3
SIGINT_GAP_SECONDS = 0.3


def process_groups() -> dict[int, int]:
    """pid -> process group of every live (non-zombie) process on the machine."""
    groups: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            groups[int(stat.parent.name)] = int(fields[2])
    return groups


@pytest.fixture
def local_mode(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH: `make local` cannot run", pytrace=False)
    env, _ = local_mode_env(tmp_path)
    output = tmp_path / "make-local.out"
    args = [uv, "run", "--frozen", "python", "-m", "scripts.local_stack", "--no-train"]
    args += ["--prefect-server"]
    args += ["--skip", "frontend", "--skip", "prometheus", "--skip", "alertmanager"]
    with output.open("wb") as out:
        process = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    try:
        yield process, output, tmp_path / ".local" / "local-stack.json"
    finally:
        # Whatever the outcome, leave nothing behind: the supervisor's group and its children's.
        groups = {process.pid}
        state_file = tmp_path / ".local" / "local-stack.json"
        if state_file.exists():
            state = json.loads(state_file.read_text())
            groups |= {info["pid"] for info in state["components"].values()}
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        if process.poll() is None:
            process.wait(timeout=10)


def test_three_sigints_to_the_process_group_stop_every_child(
    local_mode: tuple[subprocess.Popen[bytes], Path, Path],
) -> None:
    process, output, state_file = local_mode

    def tail() -> str:
        return "\n".join(output.read_text(errors="replace").splitlines()[-40:])

    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while "The platform is up" not in output.read_text(errors="replace"):
        if process.poll() is not None:
            pytest.fail(f"make local exited with {process.returncode}:\n{tail()}", pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(f"make local not up after {STARTUP_DEADLINE_SECONDS:.0f}s:\n{tail()}")
        time.sleep(0.5)
    state = json.loads(state_file.read_text())
    children = {name: info["pid"] for name, info in state["components"].items()}
    assert {"mlflow", "serving", "webhook", "worker", "prefect"} <= set(children), children

    # The local Prefect server wants its login (kept in .local/prefect/auth_string); the worker
    # has it: its deployments get registered.
    api = state["components"]["prefect"]["url"] + "/api"
    login = basic_auth_header((state_file.parent / "prefect" / "auth_string").read_text())
    assert httpx.get(f"{api}/flows/name/{TRAIN_FLOW}", timeout=10).status_code == 401
    assert httpx.post(f"{api}/deployments/filter", json={}, timeout=10).status_code in (401, 403)
    servers.wait_until(
        lambda: (
            httpx.get(
                f"{api}/deployments/name/{deployment_name(TRAIN_FLOW)}", headers=login
            ).is_success
        ),
        timeout=120,
        what="the worker's deployments on the local Prefect server",
    )

    for _ in range(SIGINT_COUNT):
        os.killpg(process.pid, signal.SIGINT)
        time.sleep(SIGINT_GAP_SECONDS)
    try:
        process.wait(timeout=STOP_DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"make local did not stop after {SIGINT_COUNT} SIGINTs:\n{tail()}")

    # The supervisor (and uv with it) may exit only once every child's group is empty.
    survivors = {
        pid: group for pid, group in process_groups().items() if group in children.values()
    }
    names = {group: name for name, group in children.items()}
    assert not survivors, f"still running: {[names[g] for g in survivors.values()]}\n{tail()}"
    assert state["pid"] not in process_groups(), "the supervisor itself is still running"
    assert "Traceback" not in output.read_text(errors="replace"), tail()
    assert not state_file.exists(), "the state file of a stopped stack was left behind"
