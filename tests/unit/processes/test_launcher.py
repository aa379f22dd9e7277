"""The one process launcher: failures are reported with the log's tail, whole groups are stopped."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from platform_processes import commands
from platform_processes.launcher import (
    ServerProcess,
    ServiceUnavailable,
    start_process,
    stop_all,
    wait_group_empty,
    wait_until,
)


def group_members(group: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == group:
            members.append(int(stat.parent.name))
    return members


def test_a_server_that_exits_fails_at_once_with_its_log(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match=r"(?s)broken exited with code 3.*config is bad"):
        start_process(
            "broken",
            ["sh", "-c", "echo 'config is bad'; exit 3"],
            log_dir=tmp_path,
            health=lambda: False,
            timeout=60,
        )
    assert time.monotonic() - started < 10, "the wait did not notice the exit"


def test_a_server_never_healthy_is_stopped_at_the_deadline(tmp_path: Path) -> None:
    seen: list[ServerProcess] = []
    with pytest.raises(ServiceUnavailable, match="never-ready not ready after 1s"):
        start_process(
            "never-ready",
            ["sleep", "300"],
            log_dir=tmp_path,
            health=lambda: False,
            timeout=1,
            started=seen.append,
        )
    (server,) = seen
    assert not server.alive()
    assert wait_group_empty(server.pid, timeout=5)


def test_stop_takes_the_whole_group_even_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    script = "trap '' TERM; sleep 300 & trap '' TERM; wait"
    server = start_process("stubborn", ["sh", "-c", script], log_dir=tmp_path, health=None)
    deadline = time.monotonic() + 10
    while len(group_members(server.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(group_members(server.pid)) >= 2
    assert os.getpgid(server.pid) == server.pid, "not in its own process group"
    stop_all([server], timeout=1)
    assert not server.alive()
    assert group_members(server.pid) == []
    stop_all([server], timeout=1)  # idempotent


def test_a_child_gets_sigterm_so_it_can_shut_down_cleanly(tmp_path: Path) -> None:
    """SIGINT/SIGTERM are blocked in the launcher while the child is created; the child must not
    inherit that mask, or it never sees SIGTERM and every stop ends in SIGKILL at the deadline
    (serving's prediction-log flush never runs). Found by the fault tier: every serving stop
    took the whole 15 s timeout."""
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "print(signal.pthread_sigmask(signal.SIG_BLOCK, []), flush=True)\n"
        "time.sleep(300)\n"
    )
    server = start_process(
        "clean-stop",
        [sys.executable, "-c", script],
        log_dir=tmp_path,
        health=lambda: server_log(tmp_path / "clean-stop.log") != "",
        timeout=30,
    )
    assert server_log(server.log) == "set()"
    started = time.monotonic()
    stop_all([server], timeout=10)
    assert server.process.returncode == 0, "stopped by SIGKILL, not by its SIGTERM handler"
    assert time.monotonic() - started < 5


def server_log(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def test_commands_are_written_once_for_every_caller() -> None:
    prometheus = commands.prometheus("prometheus", Path("p.yml"), Path("data"), 9999)
    assert "--web.listen-address=127.0.0.1:9999" in prometheus
    assert not any("lifecycle" in arg for arg in prometheus), "nobody may stop it over HTTP"
    streamlit = commands.streamlit(8501)
    assert streamlit[1:4] == ["-m", "streamlit", "run"]
    assert str(commands.REPO_ROOT / "frontend" / "app.py") in streamlit


def test_a_wait_without_a_log_names_only_what_was_awaited() -> None:
    with pytest.raises(ServiceUnavailable) as raised:
        wait_until(lambda: False, timeout=0.3, what="MLflow at http://x", interval=0.05)
    assert str(raised.value) == "MLflow at http://x not ready after 0s"


def test_a_server_started_with_the_venv_on_path_finds_its_console_scripts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``mlflow models serve`` execs ``uvicorn`` by name: run as ``.venv/bin/python`` without
    ``uv run`` (the environment's bin not on PATH), ``bench/serve`` failed until its launch put it
    there."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    script = "import shutil, sys; sys.exit(0 if shutil.which('uvicorn') else 1)"
    found = {}
    for name, env in (("bare", {}), ("venv", commands.with_venv_on_path())):
        server = start_process(name, [sys.executable, "-c", script], log_dir=tmp_path, env=env)
        found[name] = server.process.wait(timeout=30) == 0
    assert found == {"bare": False, "venv": True}
