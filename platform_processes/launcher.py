"""Start a server in its own process group, wait on its health with a deadline, stop it for good.

Every child runs in a new session (its own process group), so a terminal's Ctrl-C reaches only
the supervisor, which then stops each group itself; stopping signals the whole group, so the
server's own children (uvicorn/gunicorn workers, Prefect flow-run processes) go with it, and
returns only once the group is empty. SIGINT/SIGTERM are held back while a child is being
created, so a Ctrl-C at that moment cannot leave a child nobody knows about.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: A health check: a URL that must answer 2xx, or a callable that returns True once healthy.
HealthCheck = str | Callable[[], bool]


class ServiceUnavailable(RuntimeError):
    """A server could not be started or did not become healthy in time; says which and why."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_ok(
    url: str, timeout: float = 3.0, auth: tuple[str, str] | None = None
) -> Callable[[], bool]:
    """A health check that passes when ``url`` answers 2xx (with the basic-auth ``auth``)."""
    # Imported here: every image imports this package (logging_config), not all install httpx.
    import httpx

    return lambda: httpx.get(url, timeout=timeout, auth=auth).is_success


def log_tail(path: Path | None, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file ("" when there is none)."""
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``check`` until it returns True; raise :class:`ServiceUnavailable` at the deadline.

    A check that raises counts as "not yet". When ``process`` exits first the wait stops at once
    and the tail of ``log`` is in the message.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceUnavailable(
                f"{what} exited with code {process.returncode}; last lines of {log}:\n"
                f"{log_tail(log)}"
            )
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(interval)
    tail = "" if log is None else f"; last lines of {log}:\n{log_tail(log)}"
    raise ServiceUnavailable(f"{what} not ready after {timeout:.0f}s{tail}")


@contextlib.contextmanager
def deferred_signals() -> Iterator[set[int | signal.Signals]]:
    """Hold SIGINT/SIGTERM back for the block; they are delivered when it ends.

    Yields the mask to restore. A child forked inside the block inherits the blocked mask, and
    ``exec`` keeps it: the child must restore it itself (``start_process`` does, before its
    ``exec``), or it never receives SIGTERM and every stop ends in SIGKILL.
    """
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield previous
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def signal_group(group: int, signum: signal.Signals) -> None:
    """Send ``signum`` to process group ``group``; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def wait_group_empty(group: int, timeout: float) -> bool:
    """Wait until no process is left in ``group`` (signal 0 probes it); False at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        time.sleep(0.05)
    return False


@dataclass
class ServerProcess:
    """A running server: its process (leader of its own group), URL and log file."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the whole process group: SIGTERM first, SIGKILL after ``timeout``."""
        stop_all([self], timeout)

    def tail(self, lines: int = 40) -> str:
        return log_tail(self.log, lines)


def stop_all(servers: Iterable[ServerProcess], timeout: float = 15.0) -> None:
    """Stop several servers at once (in the order given): SIGTERM every group, wait for each
    leader until one shared deadline, SIGKILL what is left, reap every leader and return once
    every group is empty. Idempotent: stopped servers are skipped."""
    servers = list(servers)
    for server in servers:
        if server.alive():
            signal_group(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for server in servers:
        try:
            server.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            signal_group(server.pid, signal.SIGKILL)
            server.process.wait()
        # Children that outlived their leader (same process group) go too.
        signal_group(server.pid, signal.SIGKILL)
    for server in servers:
        wait_group_empty(server.pid, timeout=5.0)


def start_process(
    name: str,
    args: Sequence[str],
    *,
    log_dir: Path,
    url: str = "",
    health: HealthCheck | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    cwd: Path | None = None,
    started: Callable[[ServerProcess], None] | None = None,
) -> ServerProcess:
    """Start ``args`` in a new process group (log in ``log_dir/<name>.log``), wait on ``health``
    (no wait when None) and return the handle; on failure the process is stopped and
    :class:`ServiceUnavailable` names it with its log's tail.

    ``env`` is added to this process's environment. ``started`` is called with the handle as
    soon as the process exists (before the health wait): a supervisor records it there.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with deferred_signals() as unblocked, log.open("wb") as out:
        process = subprocess.Popen(
            list(args),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
            # In the child, before exec: one C call, no lock taken (preexec_fn's caveat).
            preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_SETMASK, unblocked),
        )
        server = ServerProcess(name=name, process=process, url=url, log=log)
        if started is not None:
            started(server)
    if health is None:
        return server
    check = http_ok(health) if isinstance(health, str) else health
    try:
        wait_until(check, timeout=timeout, what=name, process=process, log=log)
    except BaseException:
        server.stop()
        raise
    return server
