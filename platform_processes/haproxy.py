"""HAProxy in front of serving processes on loopback, for the tests and the benchmarks.

Compose runs ``deploy/haproxy/haproxy.cfg`` as committed: DNS discovery of the ``serving``
replicas, listening on all addresses. Here the same file is rendered with two changes only, both
checked (a committed file that no longer has the expected line fails loudly instead of running
something else): the ``bind`` lines listen on 127.0.0.1 ports, and the DNS ``server-template``
becomes one ``server`` line per given address, with the same options (checks on ``/readyz``,
retries, timeouts come from the committed ``defaults``/``backend`` sections).

Example::

    proxy = start_haproxy(["127.0.0.1:18001", "127.0.0.1:18002"], log_dir)
    try:
        httpx.post(f"{proxy.url}/v1/predict", json={"text": "..."})
    finally:
        proxy.stop()
"""

from __future__ import annotations

import csv
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import httpx

from platform_processes.commands import LOCALHOST, REPO_ROOT
from platform_processes.launcher import (
    ServerProcess,
    ServiceUnavailable,
    free_port,
    start_process,
)

HAPROXY_CONFIG = REPO_ROOT / "deploy" / "haproxy" / "haproxy.cfg"
#: Ports inside compose (docs/CONTRACTS.md): the API and the proxy's own liveness page.
API_PORT = 8000
MONITOR_PORT = 8404
_TEMPLATE = re.compile(r"^(\s*)server-template\s+(\S+)\s+\S+\s+\S+:\d+(.*)$", re.MULTILINE)
#: Options of the template line that only make sense with DNS discovery.
_DNS_OPTIONS = re.compile(r"\s+(resolvers\s+\S+|resolve-prefer\s+\S+|init-addr\s+\S+)")


def haproxy_binary() -> str:
    """The ``haproxy`` on PATH (Debian package ``haproxy``); ServiceUnavailable without one."""
    found = shutil.which("haproxy")
    if found is None:
        raise ServiceUnavailable("haproxy is not installed (Debian package haproxy)")
    return found


def render_haproxy_config(
    servers: Sequence[str], port: int, monitor_port: int, config: Path = HAPROXY_CONFIG
) -> str:
    """The committed configuration with loopback binds and ``servers`` (``host:port`` each)."""
    if not servers:
        raise ValueError("at least one server address is needed")
    text = config.read_text()
    for container_port, host_port in ((API_PORT, port), (MONITOR_PORT, monitor_port)):
        text, count = re.subn(
            rf"^(\s*)bind :{container_port}$",
            rf"\g<1>bind {LOCALHOST}:{host_port}",
            text,
            flags=re.MULTILINE,
        )
        if count != 1:
            raise ValueError(f"{config}: expected one `bind :{container_port}` line")
    match = _TEMPLATE.search(text)
    if match is None:
        raise ValueError(f"{config}: no `server-template` line to replace")
    indent, prefix, options = match.group(1), match.group(2), _DNS_OPTIONS.sub("", match.group(3))
    lines = [
        f"{indent}server {prefix}{i} {address}{options}" for i, address in enumerate(servers, 1)
    ]
    return text[: match.start()] + "\n".join(lines) + text[match.end() :]


def start_haproxy(
    servers: Sequence[str],
    log_dir: Path,
    *,
    name: str = "haproxy",
    port: int | None = None,
    timeout: float = 30.0,
) -> ServerProcess:
    """Start HAProxy (foreground, its own process group) in front of ``servers`` on a free
    loopback port; wait until it answers its liveness page. ``server.url`` is the API address;
    ``server.extra["stats_url"]`` the read-only state page, ``["config"]`` the rendered file."""
    binary = haproxy_binary()
    port = port or free_port()
    monitor_port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    config = log_dir / f"{name}.cfg"
    config.write_text(render_haproxy_config(servers, port, monitor_port))
    monitor = f"http://{LOCALHOST}:{monitor_port}"
    server = start_process(
        name,
        [binary, "-db", "-f", str(config)],
        log_dir=log_dir,
        url=f"http://{LOCALHOST}:{port}",
        health=f"{monitor}/healthz",
        timeout=timeout,
    )
    server.extra.update(stats_url=f"{monitor}/stats;csv", config=str(config))
    return server


def backend_servers(stats_url: str, backend: str = "serving") -> dict[str, dict[str, str]]:
    """Each server of ``backend`` on the proxy's ``/stats;csv`` page: name -> its columns
    (``addr``, ``status`` UP/DOWN/MAINT..., ``wretr`` retries, ``wredis`` redispatches, ...)."""
    return parse_stats_csv(httpx.get(stats_url, timeout=5).text, backend)


def parse_stats_csv(text: str, backend: str = "serving") -> dict[str, dict[str, str]]:
    """The servers of ``backend`` in a ``/stats;csv`` page's text (see :func:`backend_servers`).

    Anything before the CSV header (``# pxname,...``) is skipped: a raw HTTP response read from
    inside a container, whose header/body separator a text-mode reader may have turned from
    CRLF CRLF into two LFs, parses the same."""
    start = text.find("# pxname,")
    if start < 0:
        raise ValueError(f"not an HAProxy stats CSV page: {text[:200]!r}")
    return {
        row["svname"]: row
        for row in csv.DictReader(text[start + 2 :].splitlines())
        if row["pxname"] == backend and row["svname"] not in {"FRONTEND", "BACKEND"}
    }
