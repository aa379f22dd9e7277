"""FastAPI dependencies of the routes: the serving state, the client key, the admin bearer check.

Declared once as ``Annotated`` types (``StateDep``, ``ClientDep``, ``AdminDep``) so that a route
states what it needs in its signature and tests can override them (``app.dependency_overrides``).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request

from model_serving.errors import NotAuthorized
from model_serving.rate_limit import client_key
from model_serving.wiring import ServingState


def get_state(request: Request) -> ServingState:
    state: ServingState = request.app.state.serving
    return state


StateDep = Annotated[ServingState, Depends(get_state)]


def get_client(request: Request, state: StateDep) -> str:
    """The rate-limit key of the request's client (``rate_limit.client_key``)."""
    header = state.settings.rate_limit_client_header
    peer = request.client.host if request.client else None
    return client_key(peer, request.headers.get(header) if header else None)


ClientDep = Annotated[str, Depends(get_client)]


def bearer_matches(authorization: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    expected = f"Bearer {token}".encode()
    return hmac.compare_digest((authorization or "").encode("utf-8", "replace"), expected)


def require_admin(state: StateDep, authorization: Annotated[str | None, Header()] = None) -> None:
    """Admin routes need ``SERVING_ADMIN_TOKEN`` set (403 otherwise) and sent as a bearer (401)."""
    token = state.settings.admin_token
    if token is None:
        raise NotAuthorized(
            "admin routes are disabled: SERVING_ADMIN_TOKEN is not set", status_code=403
        )
    if not bearer_matches(authorization, token.get_secret_value()):
        raise NotAuthorized("missing or wrong bearer token")


AdminDep = Annotated[None, Depends(require_admin)]
