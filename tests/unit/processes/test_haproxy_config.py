"""The committed HAProxy config, and its loopback rendering for the native tests and benchmarks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from platform_processes.haproxy import HAPROXY_CONFIG, parse_stats_csv, render_haproxy_config
from tests.conftest import require_services


def haproxy() -> str:
    found = shutil.which("haproxy")
    if found is None:
        message = "haproxy is not installed (Debian package haproxy)"
        if require_services():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def check(config: Path) -> None:
    result = subprocess.run(
        [haproxy(), "-c", "-f", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_committed_config_is_valid() -> None:
    check(HAPROXY_CONFIG)


def test_rendered_config_has_loopback_binds_and_fixed_servers(tmp_path: Path) -> None:
    text = render_haproxy_config(["127.0.0.1:18001", "127.0.0.1:18002"], 18000, 18404)
    assert "bind 127.0.0.1:18000" in text and "bind 127.0.0.1:18404" in text
    assert "bind :" not in text and "server-template" not in text
    assert "    server serving1 127.0.0.1:18001\n" in text
    assert "    server serving2 127.0.0.1:18002\n" in text
    # Everything else is the committed file: checks, retries, the header rule.
    committed = HAPROXY_CONFIG.read_text()
    for line in (
        "option httpchk GET /readyz",
        "retry-on conn-failure empty-response response-timeout",
        "http-request disable-l7-retry unless METH_GET",
        "http-request set-header X-Forwarded-For %[src]",
    ):
        assert line in committed and line in text
    (tmp_path / "haproxy.cfg").write_text(text)
    check(tmp_path / "haproxy.cfg")


def test_rendering_refuses_a_config_without_the_expected_lines(tmp_path: Path) -> None:
    changed = tmp_path / "haproxy.cfg"
    changed.write_text(HAPROXY_CONFIG.read_text().replace("server-template", "server"))
    with pytest.raises(ValueError, match="server-template"):
        render_haproxy_config(["127.0.0.1:1"], 2, 3, config=changed)
    with pytest.raises(ValueError, match="at least one"):
        render_haproxy_config([], 2, 3)


def test_stats_page_parsing_keeps_only_the_backend_servers() -> None:
    page = (
        "# pxname,svname,status,wretr\n"
        "api,FRONTEND,OPEN,\n"
        "serving,serving1,UP,0\n"
        "serving,serving2,MAINT (resolution),0\n"
        "serving,BACKEND,UP,0\n"
    )
    servers = parse_stats_csv(page)
    assert {name: row["status"] for name, row in servers.items()} == {
        "serving1": "UP",
        "serving2": "MAINT (resolution)",
    }


def test_stats_page_parsing_skips_http_headers_whatever_the_line_ends() -> None:
    """Read raw from inside a container (the container tier), the page starts with the HTTP
    status line and headers; a text-mode reader turns their CRLF into LF."""
    body = "# pxname,svname,status\nserving,serving1,UP\nserving,serving2,UP\n"
    for separator in ("\r\n", "\n"):
        head = separator.join(["HTTP/1.1 200 OK", "content-type: text/plain", "", ""])
        assert set(parse_stats_csv(head + body)) == {"serving1", "serving2"}
    with pytest.raises(ValueError, match="not an HAProxy stats"):
        parse_stats_csv("HTTP/1.1 503 Service Unavailable\n\n")
