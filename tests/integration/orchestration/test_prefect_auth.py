"""The Prefect API the worker and webhook use is behind a login and CSRF protection.

The server is started the way compose and ``make local --prefect-server`` start it
(``model_orchestration.prefect_security``): without the login every route but the health probe is
refused; logged in, a state-changing request without a CSRF token is 403.
"""

from __future__ import annotations

import httpx

from model_orchestration.prefect_security import basic_auth_header
from tests.support import servers
from tests.support.orchestration_servers import PrefectApi


def test_prefect_api_needs_the_login_and_a_csrf_token(
    prefect_server: servers.ServerProcess,
) -> None:
    url = prefect_server.url
    login = basic_auth_header(prefect_server.extra["auth_string"])
    body = {"limit": 1}
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    assert httpx.get(f"{url}/flows/name/train", timeout=10).status_code == 401
    wrong = basic_auth_header("platform-test:not-the-password")
    assert httpx.get(f"{url}/flows/name/train", headers=wrong, timeout=10).status_code == 401
    # A state-changing request without the login is refused too (CSRF is checked first: 403).
    response = httpx.post(f"{url}/deployments/filter", json=body, timeout=10)
    assert response.status_code in (401, 403)
    response = httpx.post(f"{url}/deployments/filter", json=body, headers=login, timeout=10)
    assert response.status_code == 403, response.text
    assert isinstance(PrefectApi.of(prefect_server).post("/deployments/filter", body), list)
    # Browsers may only call it from the server's own origin (no CORS wildcard).
    preflight = httpx.options(
        f"{url}/deployments/filter",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.headers.get("access-control-allow-origin") != "*"
    assert preflight.headers.get("access-control-allow-origin") != "http://evil.example"
