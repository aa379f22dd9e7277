"""Prefect's API behind a login and CSRF protection: the variables the server and its clients need.

Prefect's server answers anyone by default (no login, CORS ``*``, CSRF off): whoever reaches its
port, or any web page a developer's browser opens, could run flows, pause schedules or fake a
RUNNING retrain. The same settings are used by ``make local --prefect-server``, the test fixtures
and (by name) compose:

- server: ``PREFECT_SERVER_API_AUTH_STRING`` (``user:password``, HTTP Basic on every API route but
  ``GET /api/health``; the UI asks for it), ``PREFECT_SERVER_CSRF_PROTECTION_ENABLED=true`` (state
  changing requests need a per-client token), ``PREFECT_SERVER_CORS_ALLOWED_ORIGINS`` (the UI's
  own origin instead of ``*``);
- every client (worker, webhook, the CLI): ``PREFECT_API_AUTH_STRING`` with the same value; the
  client's CSRF support (``PREFECT_CLIENT_CSRF_SUPPORT_ENABLED``) is on by default.
"""

from __future__ import annotations

import base64
import secrets

#: The user name of generated auth strings (a person logs in to the UI with it).
DEFAULT_USER = "admin"


def generate_auth_string(user: str = DEFAULT_USER) -> str:
    """A fresh ``user:password`` with a 128-bit random password."""
    return f"{user}:{secrets.token_urlsafe(16)}"


def server_env(auth_string: str, ui_origin: str) -> dict[str, str]:
    """Variables for ``prefect server start``: login, CSRF protection, one allowed origin."""
    return {
        "PREFECT_SERVER_API_AUTH_STRING": auth_string,
        "PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true",
        "PREFECT_SERVER_CORS_ALLOWED_ORIGINS": ui_origin,
    }


def client_env(auth_string: str) -> dict[str, str]:
    """Variables for a Prefect client process (worker, webhook)."""
    return {"PREFECT_API_AUTH_STRING": auth_string, "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED": "true"}


def basic_auth_header(auth_string: str) -> dict[str, str]:
    """The ``Authorization`` header a plain HTTP client sends to the Prefect API."""
    return {"Authorization": "Basic " + base64.b64encode(auth_string.encode()).decode()}
